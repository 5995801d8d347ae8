// Proxies with the real SDK against the example backend (examples/backend): connect without a
// token, subscribe allowed and refused, a publication the backend rewrites, RPC, refresh and
// sub_refresh extending a connection and a subscription; the same over HTTP and over gRPC. Then
// backends that are down, slow past their timeout, or answer garbage.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import WebSocket from 'ws';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import * as app from '../../examples/backend/app.mjs';
import { startBackend } from '../../examples/backend/server.mjs';
import { startGrpcBackend } from '../../examples/backend/grpc.mjs';
import {
  startHerald, defaultConfig, client, connected, once, collect, waitFor, api, token, freePort, rawSocket,
} from './harness.mjs';

/** Herald's configuration with every proxy pointing at `endpoint(path)`. */
function proxiedConfig(endpoint) {
  const config = defaultConfig();
  config.client.proxy = {
    connect: {
      enabled: true,
      endpoint: endpoint('connect'),
      http_headers: ['cookie'],
      emulated_headers: ['x-session'],
    },
    refresh: { enabled: true, endpoint: endpoint('refresh') },
  };
  config.channel.proxy = {
    subscribe: { endpoint: endpoint('subscribe') },
    publish: { endpoint: endpoint('publish') },
    sub_refresh: { endpoint: endpoint('sub_refresh') },
  };
  config.channel.namespaces.push({
    name: 'room',
    presence: true,
    subscribe_proxy_enabled: true,
    publish_proxy_enabled: true,
    sub_refresh_proxy_enabled: true,
  });
  config.rpc = {
    proxy: { endpoint: endpoint('rpc'), include_connection_meta: true, emulated_headers: ['x-session'] },
    without_namespace: { proxy_enabled: true },
  };
  return config;
}

/** A WebSocket class for the SDK that sends a session cookie with the upgrade request. */
function withCookie(cookie) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { headers: { cookie } });
    }
  };
}

/** Calls the backend has answered for this connection, of one type. */
const callsOf = (type, clientId) => app.calls.filter((c) => c.type === type && c.request.client === clientId);

function scenarios(getServer) {
  test('a client without a token is the user the connect proxy names, with its data and meta', async () => {
    const c = client(getServer(), { headers: { 'x-session': 'alice-session' } });
    const ctx = await connected(c);
    assert.deepEqual(ctx.data, { greeting: 'hello, Alice' });
    const who = await c.rpc('whoami', {});
    assert.deepEqual(who.data, { user: 'alice', meta: { plan: 'pro' } });
    const connect = callsOf('connect', ctx.client)[0];
    assert.equal(connect.request.transport, 'websocket');
    assert.equal(connect.headers['x-session'], 'alice-session');
    c.disconnect();
  });

  test('the request headers listed in http_headers reach the connect proxy', async () => {
    const c = client(getServer(), { websocket: withCookie('theme=dark; session=bob-session') });
    const ctx = await connected(c);
    const who = await c.rpc('whoami', {});
    assert.equal(who.data.user, 'bob');
    assert.match(callsOf('connect', ctx.client)[0].headers.cookie, /session=bob-session/);
    c.disconnect();
  });

  test("rejected users get the backend's disconnect", async () => {
    for (const [session, code] of [['banned-session', 4503], ['nobody', 4501]]) {
      const c = client(getServer(), { headers: { 'x-session': session } });
      const disconnected = once(c, 'disconnected');
      c.connect();
      const ctx = await disconnected;
      assert.equal(ctx.code, code);
      assert.equal(c.state, 'disconnected');
    }
  });

  test('the subscribe proxy allows one channel and refuses another with its error', async () => {
    const c = client(getServer(), { headers: { 'x-session': 'alice-session' } });
    await connected(c);
    const open = c.newSubscription('room:lobby');
    const subscribed = once(open, 'subscribed');
    open.subscribe();
    await subscribed;

    const closed = c.newSubscription('room:private-1');
    const unsubscribed = once(closed, 'unsubscribed');
    closed.subscribe();
    const ctx = await unsubscribed;
    assert.equal(ctx.code, 403);
    assert.equal(closed.state, 'unsubscribed');
    c.disconnect();
  });

  test('a publication the publish proxy rewrites reaches every subscriber rewritten', async () => {
    const alice = client(getServer(), { headers: { 'x-session': 'alice-session' } });
    const bob = client(getServer(), { headers: { 'x-session': 'bob-session' } });
    await Promise.all([connected(alice), connected(bob)]);
    const channel = `room:chat-${Date.now()}`;
    const subs = [alice, bob].map((c) => c.newSubscription(channel));
    const received = subs.map((s) => collect(s, 'publication'));
    await Promise.all(subs.map((s) => { const done = once(s, 'subscribed'); s.subscribe(); return done; }));

    await subs[0].publish({ text: '  hello  ' });
    await waitFor(() => received.every((r) => r.length === 1), { what: 'the publication at both subscribers' });
    for (const r of received) assert.deepEqual(r[0].data, { text: 'hello', by: 'alice' });

    await assert.rejects(subs[1].publish({ text: '' }), (err) => err.code === 400);
    alice.disconnect();
    bob.disconnect();
  });

  test('emulated headers reach other proxies also when the connection came with a token', async () => {
    const c = client(getServer(), { token: token({ sub: 'frank' }), headers: { 'x-session': 'frank-session' } });
    const ctx = await connected(c);
    const who = await c.rpc('whoami', {});
    assert.equal(who.data.user, 'frank');
    assert.equal(callsOf('connect', ctx.client).length, 0, 'a token skips the connect proxy');
    assert.equal(callsOf('rpc', ctx.client)[0].headers['x-session'], 'frank-session');
    c.disconnect();
  });

  test('an RPC round trip through the RPC proxy', async () => {
    const c = client(getServer(), { headers: { 'x-session': 'alice-session' } });
    await connected(c);
    assert.deepEqual((await c.rpc('add', { a: 2, b: 3 })).data, { sum: 5 });
    await assert.rejects(c.rpc('missing', {}), (err) => err.code === 404);
    c.disconnect();
  });

  test('sub_refresh extends a subscription and refresh extends a connection past their expiry', async () => {
    // `short-session` expires two seconds after connect, `room:...:short` two seconds after
    // subscribe; the backend extends both by an hour when asked.
    const c = client(getServer(), { headers: { 'x-session': 'short-session' } });
    const disconnects = collect(c, 'disconnected');
    const ctx = await connected(c);
    const channel = `room:r${Date.now()}:short`;
    const sub = c.newSubscription(channel);
    const unsubscribes = collect(sub, 'unsubscribed');
    const publications = collect(sub, 'publication');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;

    await waitFor(() => callsOf('refresh', ctx.client).length > 0, { what: 'the refresh proxy call' });
    await waitFor(() => callsOf('sub_refresh', ctx.client).length > 0, { what: 'the sub_refresh proxy call' });
    assert.equal(callsOf('sub_refresh', ctx.client)[0].request.channel, channel);

    // Still connected and subscribed: a publication from the API arrives.
    await api(getServer(), 'publish', { channel, data: { after: 'refresh' } });
    await waitFor(() => publications.length === 1, { what: 'a publication after the refreshes' });
    assert.deepEqual(disconnects, []);
    assert.deepEqual(unsubscribes, []);
    c.disconnect();
  });
}

describe('proxies over HTTP', () => {
  let server;
  let backend;
  before(async () => {
    backend = await startBackend({ port: 0 });
    server = await startHerald(proxiedConfig((path) => `http://127.0.0.1:${backend.port}/centrifugo/${path}`));
  });
  after(async () => {
    await server.stop();
    backend.server.close();
  });
  scenarios(() => server);
});

describe('proxies over gRPC', () => {
  let server;
  let backend;
  before(async () => {
    backend = await startGrpcBackend({ grpc, protoLoader });
    const endpoint = `grpc://127.0.0.1:${backend.port}`;
    const config = proxiedConfig(() => endpoint);
    config.channel.proxy.subscribe_stream = { endpoint };
    config.channel.namespaces.push({ name: 'ticker', subscribe_stream_proxy_enabled: true });
    server = await startHerald(config);
  });
  after(async () => {
    await server.stop();
    backend.server.forceShutdown();
  });
  scenarios(() => server);

  test("a subscribe stream delivers the backend's publications to that subscriber alone", async () => {
    const alice = client(server, { headers: { 'x-session': 'alice-session' } });
    const bob = client(server, { headers: { 'x-session': 'bob-session' } });
    await Promise.all([connected(alice), connected(bob)]);
    const channel = `ticker:t${Date.now()}`;
    const subs = [alice, bob].map((c) => c.newSubscription(channel));
    const received = subs.map((s) => collect(s, 'publication'));
    await Promise.all(subs.map((s) => { const done = once(s, 'subscribed'); s.subscribe(); return done; }));
    await waitFor(() => received.every((r) => r.length === 3), { what: 'three ticks on each stream' });
    assert.deepEqual(received[0].map((p) => p.data), [1, 2, 3].map((tick) => ({ tick, for: 'alice' })));
    assert.deepEqual(received[1].map((p) => p.data), [1, 2, 3].map((tick) => ({ tick, for: 'bob' })));

    const refused = alice.newSubscription('ticker:private-1');
    const unsubscribed = once(refused, 'unsubscribed');
    refused.subscribe();
    assert.equal((await unsubscribed).code, 403);
    alice.disconnect();
    bob.disconnect();
  });
});

describe('backends that fail', () => {
  let server;
  let misbehaving;
  let release;
  before(async () => {
    // One server for the bad answers: `/slow` answers after the proxy's timeout (or when the
    // test releases it), `/garbage` with a body that is not a proxy response, `/delayed` a
    // correct answer 200 ms late.
    const held = [];
    release = () => { for (const r of held.splice(0)) r.end('{}'); };
    misbehaving = createServer((req, res) => {
      req.resume();
      if (req.url === '/slow') { held.push(res); return; }
      if (req.url === '/garbage') { res.end('<html>not a proxy answer</html>'); return; }
      setTimeout(() => res.end('{"result":{}}'), 200);
    });
    await new Promise((r) => misbehaving.listen(0, '127.0.0.1', r));
    const bad = misbehaving.address().port;
    const closed = await freePort();
    const config = defaultConfig();
    config.proxies = [
      { name: 'down', endpoint: `http://127.0.0.1:${closed}/subscribe` },
      { name: 'grpc_down', endpoint: `grpc://127.0.0.1:${closed}` },
      { name: 'slow', endpoint: `http://127.0.0.1:${bad}/slow`, timeout: '300ms' },
      { name: 'garbage', endpoint: `http://127.0.0.1:${bad}/garbage` },
      { name: 'delayed', endpoint: `http://127.0.0.1:${bad}/delayed` },
    ];
    for (const name of ['down', 'grpc_down', 'slow', 'garbage', 'delayed']) {
      config.channel.namespaces.push({ name, subscribe_proxy_enabled: true, subscribe_proxy_name: name });
    }
    server = await startHerald(config);
  });
  after(async () => {
    release();
    await server.stop();
    misbehaving.close();
  });

  const failures = {
    down: 'down',
    grpc_down: 'down (gRPC)',
    slow: 'slower than its timeout',
    garbage: 'answering garbage',
  };
  for (const [name, what] of Object.entries(failures)) {
    test(`a backend ${what} gives the subscriber error 100 and a log line naming the proxy`, async () => {
      const c = client(server, { token: token({ sub: 'alice' }) });
      await connected(c);
      const sub = c.newSubscription(`${name}:x`);
      const error = once(sub, 'error');
      sub.subscribe();
      const ctx = await error;
      assert.equal(ctx.error.code, 100);
      sub.unsubscribe();
      c.disconnect();
      await waitFor(() => server.output().includes(`proxy="${name}"`) || server.output().includes(`proxy=${name}`), { what: `a log line naming ${name}` });
    });
  }

  test("a slow backend blocks no other connection's commands", async () => {
    const waiting = client(server, { token: token({ sub: 'alice' }) });
    const other = client(server, { token: token({ sub: 'bob' }) });
    await Promise.all([connected(waiting), connected(other)]);
    const stuck = waiting.newSubscription('slow:y');
    const failed = once(stuck, 'error');
    stuck.subscribe();
    // While that call waits on the backend, another connection subscribes and publishes.
    const sub = other.newSubscription(`free-${Date.now()}`);
    const publications = collect(sub, 'publication');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    await sub.publish({ n: 1 });
    await waitFor(() => publications.length === 1, { what: 'the publication on the other connection' });
    assert.equal((await failed).error.code, 100);
    stuck.unsubscribe();
    waiting.disconnect();
    other.disconnect();
  });

  test("a proxy call keeps its place in the connection's command order", async () => {
    // Two commands in one frame: a subscribe whose proxy answers 200 ms late, then a presence
    // call that needs no backend. The replies come in command order.
    const ws = await rawSocket(server);
    ws.send(JSON.stringify({ id: 1, connect: { token: token({ sub: 'carol' }) } }));
    await waitFor(() => ws.messages.length >= 1, { what: 'connect reply' });
    ws.send(`${JSON.stringify({ id: 2, subscribe: { channel: 'delayed:z' } })}\n${JSON.stringify({ id: 3, presence_stats: { channel: 'delayed:z' } })}`);
    const replies = () => ws.messages.slice(1).join('\n').split('\n').filter(Boolean).map((m) => JSON.parse(m));
    await waitFor(() => replies().filter((r) => r.id).length >= 2, { what: 'both replies' });
    assert.deepEqual(replies().filter((r) => r.id).map((r) => r.id), [2, 3]);
    ws.close();
  });
});

describe("the example backend's webhook receiver", () => {
  test('accepts what Herald signs and rejects a wrong signature', async () => {
    const events = [];
    const backend = await startBackend({ port: 0, webhookSecret: 'right', onEvents: (batch) => events.push(...batch) });
    const url = `http://127.0.0.1:${backend.port}/webhooks`;
    const config = defaultConfig();
    config.webhooks = {
      enabled: true,
      retry_max_duration: '2s',
      flush_timeout: '1s',
      endpoints: [
        { url, secret: 'right', events: ['connect'] },
        { url, secret: 'wrong', events: ['connect'] },
      ],
    };
    const server = await startHerald(config);
    try {
      const c = client(server, { token: token({ sub: 'erin' }) });
      const ctx = await connected(c);
      await waitFor(() => events.some((e) => e.type === 'connect' && e.client === ctx.client), { what: 'the signed connect event' });
      await waitFor(() => backend.stats.rejected > 0, { what: 'the wrongly signed delivery refused' });
      assert.equal(events.filter((e) => e.client === ctx.client).length, 1);
      c.disconnect();
    } finally {
      await server.stop();
      backend.server.close();
    }
  });
});
