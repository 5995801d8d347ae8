// The HTTP transports with the real SDK and plain clients: HTTP-streaming (JSON and Protobuf)
// and SSE with commands through /emulation, the unidirectional WebSocket, SSE and HTTP-stream,
// and what each endpoint answers to bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';
import {
  startHerald, defaultConfig, emulatedClient, connected, once, collect, token, api, waitFor, sleep,
} from './harness.mjs';

let server;
before(async () => {
  const config = defaultConfig();
  // Pings every second, so the tests see several pong round trips through /emulation.
  config.client.ping_interval = '1s';
  config.client.pong_timeout = '500ms';
  server = await startHerald(config);
});
after(async () => { await server.stop(); });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function subscribe(c, channel, options = {}) {
  const sub = c.newSubscription(channel, options);
  const done = once(sub, 'subscribed');
  sub.subscribe();
  await done;
  return sub;
}


for (const transport of ['http_stream', 'sse']) {
  test(`${transport}: connect, subscribe, publish, presence, history and rpc through /emulation`, async () => {
    const c = emulatedClient(server, transport, { token: token({ sub: `${transport}-user` }) });
    const ctx = await connected(c);
    assert.equal(ctx.transport, transport);
    const sub = await subscribe(c, `${transport}-room`);
    const pubs = collect(sub, 'publication');
    await sub.publish({ from: 'client' });
    await api(server, 'publish', { channel: `${transport}-room`, data: { from: 'api' } });
    await waitFor(() => pubs.length === 2, { what: 'both publications' });
    assert.deepEqual(pubs.map((p) => p.data), [{ from: 'client' }, { from: 'api' }]);
    assert.equal(pubs[0].info.user, `${transport}-user`);
    const stats = await sub.presenceStats();
    assert.deepEqual(stats, { numClients: 1, numUsers: 1 });
    const history = await sub.history({ limit: -1 });
    assert.equal(history.publications.length, 2);
    await assert.rejects(c.rpc('nothing', {}), (err) => err.code === 108);
    sub.unsubscribe();
    c.disconnect();
  });

  test(`${transport}: pongs travel through /emulation, so the connection outlives several pings`, async () => {
    const c = emulatedClient(server, transport, { token: token({ sub: 'pinged' }) });
    const disconnects = collect(c, 'disconnected');
    await connected(c);
    await sleep(3500);
    assert.deepEqual(disconnects, []);
    assert.equal(c.state, 'connected');
    c.disconnect();
  });

  test(`${transport}: a server-side disconnect arrives as a disconnect push with its code`, async () => {
    const c = emulatedClient(server, transport, { token: token({ sub: `${transport}-kicked` }) });
    await connected(c);
    const disconnected = once(c, 'disconnected');
    await api(server, 'disconnect', { user: `${transport}-kicked`, disconnect: { code: 4501, reason: 'bye' } });
    const ctx = await disconnected;
    assert.equal(ctx.code, 4501);
    assert.equal(ctx.reason, 'bye');
  });
}

test('http_stream with Protobuf: publications, presence and history', async () => {
  const c = emulatedClient(server, 'http_stream', { token: token({ sub: 'pb-stream' }) }, { protobuf: true });
  await connected(c);
  const sub = await subscribe(c, 'pb-stream-room');
  const pubs = collect(sub, 'publication');
  await sub.publish(encoder.encode(JSON.stringify({ from: 'pb' })));
  await api(server, 'publish', { channel: 'pb-stream-room', data: { from: 'api' } });
  await waitFor(() => pubs.length === 2, { what: 'both publications' });
  assert.deepEqual(pubs.map((p) => JSON.parse(decoder.decode(p.data))), [{ from: 'pb' }, { from: 'api' }]);
  const history = await sub.history({ limit: -1 });
  assert.equal(history.publications.length, 2);
  c.disconnect();
});

test('http_stream and sse clients recover what they missed while disconnected', async () => {
  const c = emulatedClient(server, 'sse', { token: token({ sub: 'recovering' }) });
  await connected(c);
  const sub = c.newSubscription('recover-sse');
  const subscribed = collect(sub, 'subscribed');
  const pubs = collect(sub, 'publication');
  sub.subscribe();
  await waitFor(() => subscribed.length === 1, { what: 'first subscribe' });
  await api(server, 'publish', { channel: 'recover-sse', data: { n: 1 } });
  await waitFor(() => pubs.length === 1, { what: 'first publication' });
  c.disconnect();
  await api(server, 'publish', { channel: 'recover-sse', data: { n: 2 } });
  await api(server, 'publish', { channel: 'recover-sse', data: { n: 3 } });
  c.connect();
  await waitFor(() => subscribed.length === 2, { what: 'resubscribe' });
  assert.equal(subscribed[1].wasRecovering, true);
  assert.equal(subscribed[1].recovered, true);
  await waitFor(() => pubs.length === 3, { what: 'recovered publications' });
  assert.deepEqual(pubs.map((p) => p.data.n), [1, 2, 3]);
  c.disconnect();
});

// --- unidirectional transports: no SDK, bare pushes ---

/** Reads a streamed response line by line into `lines` (parsed JSON). */
function readLines(response) {
  const lines = [];
  const done = (async () => {
    let buffered = '';
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffered.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(buffered.slice(0, end)));
        buffered = buffered.slice(end + 1);
      }
    }
  })().catch(() => {});
  return { lines, done };
}

test('uni_http_stream: connect push, then bare publications of the token\'s channels', async () => {
  const abort = new AbortController();
  const response = await fetch(`${server.base}/connection/uni_http_stream`, {
    method: 'POST',
    body: JSON.stringify({ token: token({ sub: 'uni-hs', channels: ['uni-hs-news'] }) }),
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const { lines } = readLines(response);
  await waitFor(() => lines.length >= 1, { what: 'connect push' });
  assert.ok(lines[0].connect.client);
  assert.ok(lines[0].connect.session);
  assert.ok(lines[0].connect.subs['uni-hs-news']);
  assert.equal(lines[0].connect.pong, undefined);
  await api(server, 'publish', { channel: 'uni-hs-news', data: { text: 'hello' } });
  await waitFor(() => lines.some((l) => l.pub), { what: 'publication push' });
  const pub = lines.find((l) => l.pub);
  assert.equal(pub.channel, 'uni-hs-news');
  assert.deepEqual(pub.pub.data, { text: 'hello' });
  await api(server, 'disconnect', { user: 'uni-hs', disconnect: { code: 4502, reason: 'done' } });
  await waitFor(() => lines.some((l) => l.disconnect), { what: 'disconnect push' });
  assert.deepEqual(lines.find((l) => l.disconnect).disconnect, { code: 4502, reason: 'done' });
  abort.abort();
});

test('uni_sse: an EventSource gets the connect push, publications and pings', async () => {
  const connect = encodeURIComponent(JSON.stringify({ token: token({ sub: 'uni-sse', channels: ['uni-sse-news'] }) }));
  const source = new EventSource(`${server.base}/connection/uni_sse?cf_connect=${connect}`);
  const events = [];
  source.onmessage = (e) => events.push(JSON.parse(e.data));
  try {
    await waitFor(() => events.length >= 1, { what: 'connect push' });
    assert.ok(events[0].connect.client);
    await api(server, 'publish', { channel: 'uni-sse-news', data: { n: 1 } });
    await waitFor(() => events.some((e) => e.pub), { what: 'publication' });
    assert.deepEqual(events.find((e) => e.pub).pub.data, { n: 1 });
    // Pings are empty objects; with a 1 s interval one arrives within two seconds.
    await waitFor(() => events.some((e) => Object.keys(e).length === 0), { what: 'a ping' });
  } finally {
    source.close();
  }
});

test('uni_websocket: connect request as the first message or ?cf_connect=, one bare push per frame', async () => {
  for (const viaQuery of [false, true]) {
    const user = `uni-ws-${viaQuery}`;
    const request = JSON.stringify({ token: token({ sub: user, channels: [`${user}-news`] }) });
    const query = viaQuery ? `?cf_connect=${encodeURIComponent(request)}` : '';
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/connection/uni_websocket${query}`);
    const frames = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    const closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    await once(ws, 'open');
    if (!viaQuery) ws.send(request);
    await waitFor(() => frames.length >= 1, { what: 'connect push' });
    assert.ok(frames[0].connect.client);
    await api(server, 'publish', { channel: `${user}-news`, data: { n: 1 } });
    await api(server, 'publish', { channel: `${user}-news`, data: { n: 2 } });
    await waitFor(() => frames.filter((f) => f.pub).length === 2, { what: 'two publication frames' });
    await api(server, 'disconnect', { user, disconnect: { code: 4503, reason: 'over' } });
    assert.deepEqual(await closed, { code: 4503, reason: 'over' });
    assert.deepEqual(frames.at(-1), { disconnect: { code: 4503, reason: 'over' } });
  }
});

// --- bad input ---

async function post(path, body, headers = { 'Content-Type': 'application/json' }) {
  const response = await fetch(`${server.base}${path}`, { method: 'POST', headers, body });
  return { status: response.status, text: await response.text() };
}

test('a malformed connect frame on http_stream ends the stream with disconnect 3501', async () => {
  const { status, text } = await post('/connection/http_stream', 'not json');
  assert.equal(status, 200);
  assert.deepEqual(JSON.parse(text.trim()), { push: { disconnect: { code: 3501, reason: 'bad request' } } });
});

test('malformed connect requests on the unidirectional endpoints get 400', async () => {
  assert.equal((await post('/connection/uni_http_stream', '{"token":')).status, 400);
  assert.equal((await fetch(`${server.base}/connection/uni_sse?cf_connect=%7Bnope`)).status, 400);
  assert.equal((await fetch(`${server.base}/connection/sse`)).status, 400, 'sse without cf_connect');
  const refused = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/connection/uni_websocket?cf_connect=%7Bnope`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('open', () => resolve('opened'));
  });
  assert.equal(refused, 400);
  // A malformed first message: the disconnect push, then close 3501.
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/connection/uni_websocket`);
  const frames = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  const closed = new Promise((r) => ws.on('close', (code) => r(code)));
  await once(ws, 'open');
  ws.send('{"token":');
  assert.equal(await closed, 3501);
  assert.deepEqual(frames, [{ disconnect: { code: 3501, reason: 'bad request' } }]);
});

test('/emulation: unknown node or session 404, malformed 400, oversize 413, wrong content type 415', async () => {
  const info = await api(server, 'info');
  const node = info.body.result.nodes[0].uid;
  const frame = JSON.stringify({ id: 5, presence: { channel: 'x' } });
  assert.equal((await post('/emulation', JSON.stringify({ session: 'no-such', node, data: frame }))).status, 404);
  assert.equal((await post('/emulation', JSON.stringify({ session: 'no-such', node: 'no-such', data: frame }))).status, 404);
  assert.equal((await post('/emulation', '{"session":1}')).status, 400);
  assert.equal((await post('/emulation', new Uint8Array([0xff, 0xff, 0xff]), { 'Content-Type': 'application/octet-stream' })).status, 400);
  const big = JSON.stringify({ session: 's', node, data: 'x'.repeat(70000) });
  assert.equal((await post('/emulation', big)).status, 413);
  assert.equal((await post('/connection/http_stream', 'x'.repeat(70000))).status, 413);
  assert.equal((await post('/emulation', 'a=b', { 'Content-Type': 'multipart/form-data; boundary=x' })).status, 415);
  assert.equal((await post('/connection/uni_http_stream', '{}', { 'Content-Type': 'application/octet-stream' })).status, 415);
  assert.equal((await fetch(`${server.base}/emulation`)).status, 405);
});

test('an Origin outside client.allowed_origins gets 403; an allowed one is reflected with credentials', async () => {
  const refused = await fetch(`${server.base}/connection/http_stream`, {
    method: 'POST', headers: { Origin: 'http://evil.example' }, body: '{}',
  });
  assert.equal(refused.status, 403);
  const config = defaultConfig();
  config.client.allowed_origins = ['http://good.example'];
  const other = await startHerald(config);
  try {
    const preflight = await fetch(`${other.base}/emulation`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://good.example', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://good.example');
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'content-type');
    const bad = await fetch(`${other.base}/emulation`, { method: 'OPTIONS', headers: { Origin: 'http://evil.example' } });
    assert.equal(bad.status, 403);
  } finally {
    await other.stop();
  }
});

function rssKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

test('abandoned streams leave nothing behind: sessions end and memory returns to its level', async () => {
  // A server of its own with the default 25 s ping: these streams never answer pings, and the
  // shared server's 1 s pings would close the first ones with 3012 before the last one opens.
  const server = await startHerald(defaultConfig());
  after(() => server.stop());
  // Counted by presence in a channel of their own.
  const present = async () => (await api(server, 'presence_stats', { channel: 'abandoned' })).body.result.num_clients;
  const round = async () => {
    const aborts = [];
    const responses = [];
    const connect = [
      JSON.stringify({ id: 1, connect: { token: token({ sub: 'abandoner' }) } }),
      JSON.stringify({ id: 2, subscribe: { channel: 'abandoned' } }),
    ].join('\n');
    for (let i = 0; i < 100; i += 1) {
      const abort = new AbortController();
      const transport = i % 2 ? 'http_stream' : 'sse';
      const response = transport === 'sse'
        ? await fetch(`${server.base}/connection/sse?cf_connect=${encodeURIComponent(connect)}`, { signal: abort.signal })
        : await fetch(`${server.base}/connection/http_stream`, { method: 'POST', body: connect, signal: abort.signal });
      assert.equal(response.status, 200);
      aborts.push(abort);
      // Held until the abort: an unreferenced response is collected, and its stream with it.
      responses.push(response);
    }
    await waitFor(async () => (await present()) === 100, { what: '100 connected streams' });
    assert.equal(responses.filter((r) => !r.bodyUsed).length, 100);
    for (const abort of aborts) abort.abort();
    // Gone at once (the response body is dropped), at the latest after a ping interval.
    await waitFor(async () => (await present()) === 0, { what: 'the abandoned sessions to end' });
  };
  // Two rounds warm the allocator up (its arenas still grow by a few hundred KiB there), then
  // three more rounds of 100 connections must not leave per-connection memory behind: a leak
  // of 5 KiB per connection (a fifth of a live stream's cost) would show as 1.5 MiB. Measured
  // growth over those three rounds here: about 300 KiB.
  await round();
  await round();
  const warm = rssKiB(server.child.pid);
  await round();
  await round();
  await round();
  const later = rssKiB(server.child.pid);
  assert.ok(later - warm < 1536, `RSS grew by ${later - warm} KiB over 300 abandoned streams`);
});
