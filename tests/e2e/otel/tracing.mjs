// OpenTelemetry tracing (the `otel` cargo feature): a herald built with it exports spans of its
// server API calls and proxy calls to an OTLP/HTTP collector, continuing the callers' W3C trace
// context and handing its own to the backend. Run by crates/herald-server/tests/otel.rs with
// HERALD_BIN built `--features otel`; not matched by the main suite's `node --test` patterns,
// because the default binary refuses `opentelemetry.enabled`.
//
// The collector is a stand-in that decodes the real exporter's Protobuf requests with a
// schema written from opentelemetry-proto's field numbers; the client is the centrifuge SDK,
// the gRPC API is called with @grpc/grpc-js. The batch delay is a minute, so nothing is exported
// before SIGTERM: every span here arrives through the flush at shutdown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import {
  startHerald, defaultConfig, client, connected, freePort, waitFor, API_KEY,
} from '../harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const GRPC_KEY = 'otel-grpc-key';

// ExportTraceServiceRequest and what it holds, as far as this test reads it.
const otlp = protobuf.parse(`
  syntax = "proto3";
  message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
  message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
  message Resource { repeated KeyValue attributes = 1; }
  message ScopeSpans { repeated Span spans = 2; }
  message Span {
    bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5;
    int32 kind = 6; repeated KeyValue attributes = 9; Status status = 15;
  }
  message Status { string message = 2; int32 code = 3; }
  message KeyValue { string key = 1; AnyValue value = 2; }
  message AnyValue {
    oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; }
  }
`, { keepCase: true }).root.lookupType('ExportTraceServiceRequest');

const SERVER = 2;
const CLIENT = 3;
const STATUS_ERROR = 2;

const hex = (bytes) => Buffer.from(bytes ?? []).toString('hex');
const attributes = (list) => Object.fromEntries((list ?? []).map(({ key, value }) => {
  const v = value ?? {};
  const found = v.string_value ?? v.bool_value ?? v.double_value ?? (v.int_value != null ? Number(v.int_value) : undefined);
  return [key, found];
}));

/** A W3C trace context: a fresh trace id and parent span id, and its `traceparent`. */
function traceContext() {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

/** The parts of a `traceparent` header. */
function parseTraceparent(header) {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/.exec(header ?? '');
  assert.ok(match, `a valid traceparent, got ${header}`);
  return { traceId: match[1], spanId: match[2] };
}

/** Reads a request body. */
function body(req) {
  return new Promise((resolveBody, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const spans = [];
const resources = [];
const exports = [];
let collector;
let backend;
const backendCalls = [];
let server;
let grpcPort;
let apiClient;

// What each test did, checked against the spans after the flush at shutdown.
const did = {};

before(async () => {
  collector = createServer(async (req, res) => {
    const bytes = await body(req);
    exports.push({ path: req.url, contentType: req.headers['content-type'] });
    const request = otlp.toObject(otlp.decode(bytes), { bytes: Array, longs: Number });
    for (const rs of request.resource_spans ?? []) {
      resources.push(attributes(rs.resource?.attributes));
      for (const ss of rs.scope_spans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            traceId: hex(s.trace_id),
            spanId: hex(s.span_id),
            parentId: hex(s.parent_span_id),
            name: s.name,
            kind: s.kind,
            attributes: attributes(s.attributes),
            status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
          });
        }
      }
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf' });
    res.end();
  });
  await new Promise((r) => collector.listen(0, '127.0.0.1', r));

  // The application's backend: connect names the user, rpc `echo` answers, rpc `broken` fails.
  backend = createServer(async (req, res) => {
    const request = JSON.parse((await body(req)).toString() || '{}');
    backendCalls.push({ path: req.url, traceparent: req.headers.traceparent, request });
    if (req.url === '/connect') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: { user: 'traced-user' } }));
    } else if (request.method === 'echo') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ result: { data: { echoed: request.data } } }));
    } else {
      res.writeHead(500);
      res.end();
    }
  });
  await new Promise((r) => backend.listen(0, '127.0.0.1', r));
  const endpoint = (path) => `http://127.0.0.1:${backend.address().port}/${path}`;

  grpcPort = await freePort();
  const config = defaultConfig();
  config.opentelemetry = { enabled: true, api: true };
  config.grpc_api = { enabled: true, port: grpcPort, key: GRPC_KEY };
  config.client.proxy = {
    connect: { enabled: true, endpoint: endpoint('connect'), http_headers: ['traceparent'] },
  };
  config.rpc = { proxy: { endpoint: endpoint('rpc') }, without_namespace: { proxy_enabled: true } };
  server = await startHerald(config, {
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`,
      OTEL_BSP_SCHEDULE_DELAY: '60000',
      OTEL_SERVICE_NAME: '',
    },
  });

  const apiProto = protoLoader.loadSync(resolve(here, '../../../proto/centrifugo/api.proto'), {
    keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
  });
  const { CentrifugoApi } = grpc.loadPackageDefinition(apiProto).centrifugal.centrifugo.api;
  apiClient = new CentrifugoApi(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
});

after(async () => {
  apiClient?.close();
  await server?.stop();
  collector?.close();
  backend?.close();
});

/** POSTs to the HTTP API with extra headers; the parsed body and status. */
async function callApi(method, payload, headers = {}) {
  const response = await fetch(`${server.base}/api/${method}`, {
    method: 'POST',
    headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(payload),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

test('HTTP API calls are answered as usual with tracing on', async () => {
  did.publish = traceContext();
  const ok = await callApi('publish', { channel: 'traced', data: { n: 1 } }, { traceparent: did.publish.traceparent });
  assert.equal(ok.status, 200);
  assert.ok(ok.body.result, JSON.stringify(ok.body));

  const failed = await callApi('publish', { channel: 'nowhere:x', data: {} });
  assert.equal(failed.body.error.code, 102);

  did.batch = traceContext();
  const batch = await callApi('batch', {
    commands: [{ publish: { channel: 'traced', data: {} } }, { publish: { channel: 'nowhere:y', data: {} } }],
  }, { traceparent: did.batch.traceparent });
  assert.equal(batch.body.replies.length, 2);

  did.refused = traceContext();
  const refused = await fetch(`${server.base}/api/publish`, {
    method: 'POST',
    headers: { 'X-API-Key': 'wrong', traceparent: did.refused.traceparent },
    body: '{}',
  });
  assert.equal(refused.status, 401);
});

test('gRPC API calls continue the traceparent in their metadata', async () => {
  did.grpc = traceContext();
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `apikey ${GRPC_KEY}`);
  metadata.set('traceparent', did.grpc.traceparent);
  const reply = await new Promise((resolveCall, reject) => {
    apiClient.Publish({ channel: 'traced', data: Buffer.from('{"n":2}') }, metadata, (err, r) => (err ? reject(err) : resolveCall(r)));
  });
  assert.equal(reply.error, null);
});

test('proxy calls hand their span to the backend as traceparent', async () => {
  did.connection = traceContext();
  // The upgrade request carries a traceparent the connect proxy forwards (`http_headers`).
  const traced = did.connection.traceparent;
  const TracedWebSocket = class extends WebSocket {
    constructor(url, protocols) { super(url, protocols, { headers: { traceparent: traced } }); }
  };
  const c = client(server, { websocket: TracedWebSocket });
  const ctx = await connected(c);
  assert.equal(c.state, 'connected');
  assert.ok(ctx.client);
  const echoed = await c.rpc('echo', { hello: 'otel' });
  assert.deepEqual(echoed.data, { echoed: { hello: 'otel' } });
  await assert.rejects(c.rpc('broken', {}), (err) => err.code === 100);
  c.disconnect();
});

test('every span reaches the collector by the flush at shutdown', async () => {
  assert.equal(spans.length, 0, 'nothing exported before shutdown (the batch delay is a minute)');
  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  assert.equal(code, 0, server.output());
  assert.ok(exports.length >= 1);
  for (const e of exports) {
    assert.equal(e.path, '/v1/traces');
    assert.equal(e.contentType, 'application/x-protobuf');
  }
  assert.ok(resources.every((r) => r['service.name'] === 'herald'), JSON.stringify(resources));

  const inTrace = (trace) => spans.filter((s) => s.traceId === trace.traceId);

  // The HTTP publish: a server span, the child of the caller's span.
  const [publish, ...extra] = inTrace(did.publish);
  assert.equal(extra.length, 0, JSON.stringify(spans));
  assert.equal(publish.name, 'POST /api/publish');
  assert.equal(publish.kind, SERVER);
  assert.equal(publish.parentId, did.publish.parentId);
  assert.equal(publish.attributes['herald.api.method'], 'publish');
  assert.equal(publish.attributes['http.response.status_code'], 200);
  assert.equal(publish.status.code, 0);

  // The failed publish: a new trace, error 102 on the span.
  const failed = spans.filter((s) => s.name === 'POST /api/publish' && s.attributes['herald.error.code'] === 102);
  assert.equal(failed.length, 1, JSON.stringify(spans));
  assert.equal(failed[0].status.code, STATUS_ERROR);
  assert.equal(failed[0].parentId, '');

  // The batch: one span with its size and failures.
  const [batch] = inTrace(did.batch);
  assert.equal(batch.name, 'POST /api/batch');
  assert.equal(batch.attributes['herald.batch.commands'], 2);
  assert.equal(batch.attributes['herald.batch.errors'], 1);

  // A call refused for its key is not traced.
  assert.equal(inTrace(did.refused).length, 0);

  // The gRPC publish.
  const [grpcSpan] = inTrace(did.grpc);
  assert.equal(grpcSpan.name, 'centrifugal.centrifugo.api.CentrifugoApi/Publish');
  assert.equal(grpcSpan.kind, SERVER);
  assert.equal(grpcSpan.parentId, did.grpc.parentId);
  assert.equal(grpcSpan.attributes['rpc.method'], 'Publish');

  // Proxy calls: client spans, children of the connection's traceparent, whose ids are the
  // traceparent the backend received.
  const proxySpans = inTrace(did.connection);
  assert.deepEqual(proxySpans.map((s) => s.name).sort(), ['proxy connect', 'proxy rpc', 'proxy rpc']);
  for (const call of backendCalls) {
    const received = parseTraceparent(call.traceparent);
    assert.equal(received.traceId, did.connection.traceId);
    const span = proxySpans.find((s) => s.spanId === received.spanId);
    assert.ok(span, `a span for the backend's ${call.path} call`);
    assert.equal(span.kind, CLIENT);
    assert.equal(span.parentId, did.connection.parentId);
    assert.equal(span.name, call.path === '/connect' ? 'proxy connect' : 'proxy rpc');
    if (call.request.method === 'broken') {
      assert.equal(span.status.code, STATUS_ERROR);
      assert.match(span.status.message, /bad response/);
    } else {
      assert.equal(span.attributes['herald.proxy.reply'], 'result');
      assert.equal(span.status.code, 0);
    }
  }
  assert.equal(backendCalls.length, 3);
});

test('a collector that cannot be reached is logged, and calls are answered as usual', async () => {
  const closed = await freePort();
  const config = defaultConfig();
  config.opentelemetry = { enabled: true, api: true };
  const node = await startHerald(config, {
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`, OTEL_BSP_SCHEDULE_DELAY: '100' },
  });
  try {
    assert.match(node.output(), new RegExp(`endpoint=http://127.0.0.1:${closed}/v1/traces`));
    const response = await fetch(`${node.base}/api/publish`, {
      method: 'POST',
      headers: { 'X-API-Key': API_KEY },
      body: JSON.stringify({ channel: 'traced', data: {} }),
    });
    assert.equal(response.status, 200);
    await waitFor(() => /BatchSpanProcessor\.ExportError/.test(node.output()), { what: 'the export error in the log', timeoutMs: 30000 });
  } finally {
    await node.stop();
  }
});
