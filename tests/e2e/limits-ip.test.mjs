// Per-IP limits (Herald's client.ip_connection_limit and client.ip_connection_rate_limit): a
// connection past them is refused with 429 before the WebSocket upgrade or the stream; the
// connections already open from that IP, and connections from other addresses, are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startHerald, defaultConfig, client, emulatedClient, connected, once, api, waitFor } from './harness.mjs';

/** The HTTP status a WebSocket upgrade from `localAddress` gets: 101 when it opens. */
function upgradeStatus(server, { localAddress = '127.0.0.1', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl, { localAddress, headers });
    ws.once('open', () => { ws.close(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode); });
    ws.once('error', (err) => { if (!ws.readyState) reject(err); });
  });
}

test('client.ip_connection_limit: 200 from one IP against 100, the first 100 stay, other IPs still connect', async () => {
  const config = defaultConfig();
  config.client.insecure = true;
  config.client.ip_connection_limit = 100;
  config.prometheus = { enabled: true };
  const server = await startHerald(config);
  const clients = [];
  try {
    const received = [];
    for (let i = 0; i < 100; i++) {
      const c = client(server);
      clients.push(c);
      const sub = c.newSubscription('news');
      sub.on('publication', (ctx) => received.push(ctx.data));
      await connected(c);
      sub.subscribe();
      await once(sub, 'subscribed');
    }
    const refused = [];
    for (let i = 0; i < 100; i++) refused.push(await upgradeStatus(server));
    assert.deepEqual([...new Set(refused)], [429], 'every connection past 100 is refused before the upgrade');
    const stream = await fetch(`${server.base}/connection/http_stream`, { method: 'POST', body: '{"id":1,"connect":{}}' });
    assert.equal(stream.status, 429);
    assert.match(await stream.text(), /ip connection limit reached/);
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    assert.match(metrics, /^centrifugo_node_client_ip_connection_limit 101$/m, 'the 101 refusals are counted');

    assert.equal(await upgradeStatus(server, { localAddress: '127.0.0.2' }), 101, 'another IP is not limited');
    assert.ok(clients.every((c) => c.state === 'connected'), 'the first 100 are still connected');
    assert.equal((await api(server, 'publish', { channel: 'news', data: { n: 1 } })).status, 200);
    await waitFor(() => received.length === 100, { what: 'the publication at all 100 clients' });

    // A place frees up when a connection from that IP ends.
    clients.pop().disconnect();
    await waitFor(async () => (await upgradeStatus(server)) === 101, { what: 'an upgrade after a client left' });
  } finally {
    for (const c of clients) c.disconnect();
    await server.stop();
  }
});

test('client.ip_connection_limit: HTTP-streaming and SSE connections count, and free their place when they end', async () => {
  const config = defaultConfig();
  config.client.insecure = true;
  config.client.ip_connection_limit = 1;
  const server = await startHerald(config);
  try {
    for (const transport of ['http_stream', 'sse']) {
      const c = emulatedClient(server, transport);
      await connected(c);
      assert.equal(await upgradeStatus(server), 429, `${transport} holds the one place`);
      c.disconnect();
      await waitFor(async () => (await upgradeStatus(server)) === 101, { what: `the place ${transport} held` });
    }
  } finally {
    await server.stop();
  }
});

test('client.ip_connection_rate_limit: a burst from one IP gets 429, another IP does not', async () => {
  const config = defaultConfig();
  config.client.insecure = true;
  config.client.ip_connection_rate_limit = 3;
  const server = await startHerald(config);
  try {
    const statuses = await Promise.all(Array.from({ length: 12 }, () => upgradeStatus(server)));
    assert.ok(statuses.filter((s) => s === 101).length >= 3, `the first second's worth opens: ${statuses}`);
    assert.ok(statuses.includes(429), `the rest of the burst is refused: ${statuses}`);
    assert.ok(statuses.every((s) => s === 101 || s === 429), `${statuses}`);
    assert.equal(await upgradeStatus(server, { localAddress: '127.0.0.2' }), 101);
  } finally {
    await server.stop();
  }
});

test('client.ip_header: the limit counts the address a trusted proxy put last in X-Forwarded-For', async () => {
  const config = defaultConfig();
  config.client.insecure = true;
  config.client.ip_connection_limit = 1;
  config.client.ip_header = 'X-Forwarded-For';
  const server = await startHerald(config);
  try {
    const held = new WebSocket(server.wsUrl, { headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.9' } });
    await once(held, 'open');
    const spoofed = { 'X-Forwarded-For': '198.51.100.77, 203.0.113.9' };
    assert.equal(await upgradeStatus(server, { headers: spoofed }), 429, 'only the last address counts');
    assert.equal(await upgradeStatus(server, { headers: { 'X-Forwarded-For': '203.0.113.10' } }), 101);
    held.close();
  } finally {
    await server.stop();
  }
});
