// The gRPC server API and uni_grpc with a third-party client: @grpc/grpc-js with stubs loaded
// at run time by @grpc/proto-loader from Centrifugo's own api.proto and unistream.proto. A
// centrifuge SDK client on the WebSocket sees what the gRPC API publishes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import {
  startHerald, defaultConfig, freePort, client, connected, once, collect, token, waitFor,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const protoDir = resolve(here, '../../proto/centrifugo');
const GRPC_KEY = 'e2e-grpc-key';

// Bytes stay Buffers, 64-bit integers become numbers: what a JavaScript backend would use.
const loadOptions = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };
const apiPackage = grpc.loadPackageDefinition(protoLoader.loadSync(resolve(protoDir, 'api.proto'), loadOptions));
const uniPackage = grpc.loadPackageDefinition(protoLoader.loadSync(resolve(protoDir, 'unistream.proto'), loadOptions));
const { CentrifugoApi } = apiPackage.centrifugal.centrifugo.api;
const { CentrifugoUniStream } = uniPackage.centrifugal.centrifugo.unistream;

let server;
let grpcPort;
let uniPort;
let apiClient;
before(async () => {
  grpcPort = await freePort();
  uniPort = await freePort();
  const config = defaultConfig();
  config.grpc_api = { enabled: true, port: grpcPort, key: GRPC_KEY };
  config.uni_grpc = { enabled: true, port: uniPort };
  server = await startHerald(config);
  apiClient = new CentrifugoApi(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
});
after(async () => {
  apiClient?.close();
  await server.stop();
});

function keyed(key = GRPC_KEY) {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `apikey ${key}`);
  return metadata;
}

/** Calls a unary method; resolves with the response or rejects with the gRPC error. */
function call(method, request, metadata = keyed()) {
  return new Promise((resolveCall, reject) => {
    apiClient[method](request, metadata, { deadline: Date.now() + 10000 }, (err, response) => {
      if (err) reject(err);
      else resolveCall(response);
    });
  });
}

const json = (value) => Buffer.from(JSON.stringify(value));

test('grpc_api: publish reaches a subscribed SDK client, history returns it', async () => {
  const c = client(server, { token: token({ sub: 'grpc-reader' }) });
  await connected(c);
  const sub = c.newSubscription('grpc-room');
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  await subscribed;
  const pubs = collect(sub, 'publication');

  const published = await call('Publish', { channel: 'grpc-room', data: json({ text: 'over grpc' }) });
  assert.equal(published.error, null);
  assert.ok(published.result.offset >= 1);
  await waitFor(() => pubs.length === 1, { what: 'the publication' });
  assert.deepEqual(pubs[0].data, { text: 'over grpc' });

  const history = await call('History', { channel: 'grpc-room', limit: -1 });
  assert.equal(history.error, null);
  assert.equal(history.result.publications.length, 1);
  assert.deepEqual(JSON.parse(history.result.publications[0].data.toString()), { text: 'over grpc' });
  assert.equal(history.result.epoch, published.result.epoch);

  const presence = await call('Presence', { channel: 'grpc-room' });
  assert.equal(presence.error, null);
  const entries = Object.values(presence.result.presence);
  assert.equal(entries.length, 1);
  assert.equal(entries[0].user, 'grpc-reader');
  const stats = await call('PresenceStats', { channel: 'grpc-room' });
  assert.deepEqual(
    { clients: stats.result.num_clients, users: stats.result.num_users },
    { clients: 1, users: 1 },
  );
  c.disconnect();
});

test('grpc_api: broadcast answers per channel, info lists the node', async () => {
  const broadcast = await call('Broadcast', { channels: ['grpc-a', 'unknown:b'], data: json({ n: 1 }) });
  assert.equal(broadcast.error, null);
  assert.equal(broadcast.result.responses.length, 2);
  assert.equal(broadcast.result.responses[0].error, null);
  assert.ok(broadcast.result.responses[0].result.offset >= 1);
  assert.equal(broadcast.result.responses[1].error.code, 102);

  const info = await call('Info', {});
  assert.equal(info.error, null);
  assert.equal(info.result.nodes.length, 1);
  assert.ok(info.result.nodes[0].uid);
});

test('grpc_api: batch replies in command order, errors in the response', async () => {
  const batch = await call('Batch', {
    commands: [
      { publish: { channel: 'grpc-batch', data: json({ i: 1 }) } },
      { history: { channel: 'grpc-batch', limit: -1 } },
      { publish: { channel: '', data: json({}) } },
    ],
  });
  assert.equal(batch.replies.length, 3);
  assert.ok(batch.replies[0].publish.offset >= 1);
  assert.equal(batch.replies[1].history.publications.length, 1);
  assert.deepEqual(batch.replies[2].error, { code: 107, message: 'bad request' });

  const failed = await call('Publish', { channel: '', data: json({}) });
  assert.deepEqual(failed.error, { code: 107, message: 'bad request' });
});

test('grpc_api: a wrong or missing key is UNAUTHENTICATED', async () => {
  await assert.rejects(call('Info', {}, keyed('wrong')), (err) => err.code === grpc.status.UNAUTHENTICATED);
  await assert.rejects(call('Info', {}, new grpc.Metadata()), (err) => err.code === grpc.status.UNAUTHENTICATED);
});

test('grpc_api: transport error mode per call, unimplemented PRO methods', async () => {
  const metadata = keyed();
  metadata.set('x-centrifugo-error-mode', 'transport');
  await assert.rejects(
    call('Publish', { channel: '', data: json({}) }, metadata),
    (err) => err.code === grpc.status.INVALID_ARGUMENT && err.details === 'bad request',
  );
  await assert.rejects(call('MapClear', {}), (err) => err.code === grpc.status.UNIMPLEMENTED);
});

test('uni_grpc: Consume streams the connect push, then publications of the token\'s channels', async () => {
  const uni = new CentrifugoUniStream(`127.0.0.1:${uniPort}`, grpc.credentials.createInsecure());
  const stream = uni.Consume({ token: token({ sub: 'grpc-uni', channels: ['grpc-uni-room'] }) });
  const pushes = [];
  stream.on('data', (push) => pushes.push(push));
  const ended = new Promise((r) => stream.on('status', r));
  stream.on('error', () => {});
  try {
    const connect = await waitFor(() => pushes.find((p) => p.connect), { what: 'the connect push' });
    assert.ok(connect.connect.client);
    assert.ok('grpc-uni-room' in connect.connect.subs);

    await call('Publish', { channel: 'grpc-uni-room', data: json({ via: 'uni_grpc' }) });
    const pub = await waitFor(() => pushes.find((p) => p.pub), { what: 'the publication push' });
    assert.equal(pub.channel, 'grpc-uni-room');
    assert.deepEqual(JSON.parse(pub.pub.data.toString()), { via: 'uni_grpc' });

    await call('Disconnect', { user: 'grpc-uni' });
    const disconnect = await waitFor(() => pushes.find((p) => p.disconnect), { what: 'the disconnect push' });
    assert.equal(disconnect.disconnect.code, 3503);
    const status = await ended;
    assert.equal(status.code, grpc.status.OK);
  } finally {
    stream.cancel();
    uni.close();
  }
});
