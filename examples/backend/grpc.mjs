// The example backend over gRPC: the same decisions (app.mjs) served as Centrifugo's
// `centrifugal.centrifugo.proxy.CentrifugoProxy` service (proto/centrifugo/proxy.proto), for
// proxies whose endpoint is `grpc://host:port`.
//
// The gRPC libraries are passed in (`@grpc/grpc-js`, `@grpc/proto-loader`), so the HTTP
// backend needs no dependencies at all. Over gRPC, `data`, `info` and `meta` are bytes holding
// JSON: decoded before app.mjs sees them, encoded after.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as app from './app.mjs';

export const PROXY_PROTO = resolve(dirname(fileURLToPath(import.meta.url)), '../../proto/centrifugo/proxy.proto');

const fromBytes = (bytes) => (bytes && bytes.length ? JSON.parse(Buffer.from(bytes).toString('utf8')) : undefined);
const toBytes = (value) => (value === undefined ? undefined : Buffer.from(JSON.stringify(value)));

/** A proxy request from protobuf to app.mjs's JSON shape. */
function request(call) {
  const r = call.request;
  return { ...r, data: fromBytes(r.data), meta: fromBytes(r.meta) };
}

/** Metadata as plain lower-case headers. */
function headers(call) {
  const out = {};
  for (const [key, value] of Object.entries(call.metadata.getMap())) out[key] = String(value);
  return out;
}

/** An app.mjs answer to the protobuf response. */
function response(answer) {
  if (answer.error) return { error: answer.error };
  if (answer.disconnect) return { disconnect: answer.disconnect };
  const result = { ...answer.result };
  for (const field of ['data', 'info', 'meta']) {
    if (field in result) result[field] = toBytes(result[field]);
  }
  return { result };
}

const unary = (decide) => (call, callback) => callback(null, response(decide(request(call), headers(call))));

/**
 * SubscribeUnidirectional: the first message carries the decision, the next ones this
 * subscriber's publications; Herald cancels the call when the client unsubscribes.
 */
function subscribeStream(call) {
  const { answer, publications = [] } = app.stream(request(call), headers(call));
  call.write({ subscribe_response: response(answer) });
  if (!answer.result) {
    call.end();
    return;
  }
  const pending = [...publications];
  const timer = setInterval(() => {
    const next = pending.shift();
    if (next === undefined) {
      clearInterval(timer);
      return;
    }
    call.write({ publication: { data: toBytes(next) } });
  }, 20);
  call.on('cancelled', () => clearInterval(timer));
}

/** Starts the gRPC proxy backend on `port` (0: any); resolves with the bound port. */
export async function startGrpcBackend({ grpc, protoLoader, port = 0, host = '127.0.0.1' }) {
  const definition = protoLoader.loadSync(PROXY_PROTO, { keepCase: true, longs: Number, defaults: false });
  const proto = grpc.loadPackageDefinition(definition).centrifugal.centrifugo.proxy;
  const server = new grpc.Server();
  server.addService(proto.CentrifugoProxy.service, {
    Connect: unary(app.connect),
    Refresh: unary(app.refresh),
    Subscribe: unary(app.subscribe),
    Publish: unary(app.publish),
    SubRefresh: unary(app.subRefresh),
    RPC: unary(app.rpc),
    SubscribeUnidirectional: subscribeStream,
  });
  const bound = await new Promise((resolvePort, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolvePort(p)));
  });
  return { server, port: bound };
}
