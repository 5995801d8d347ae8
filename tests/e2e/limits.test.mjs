// Node limits (Centrifugo's client.connection_limit and client.connection_rate_limit): a
// connection past them is refused with 503 before the WebSocket upgrade or the stream, and the
// connections already there are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startHerald, defaultConfig, client, connected, token, waitFor } from './harness.mjs';

/** The HTTP status a WebSocket upgrade gets: 101 when it opens, else the refusal's. */
function upgradeStatus(server) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl);
    ws.once('open', () => { ws.close(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode); });
    ws.once('error', (err) => { if (!ws.readyState) reject(err); });
  });
}

test('client.connection_limit: past it, upgrades and streams get 503 and the connected stay', async () => {
  const config = defaultConfig();
  config.client.connection_limit = 2;
  const server = await startHerald(config);
  try {
    const first = client(server, { token: token({ sub: 'a' }) });
    const second = client(server, { token: token({ sub: 'b' }) });
    await connected(first);
    await connected(second);
    assert.equal(await upgradeStatus(server), 503);
    const stream = await fetch(`${server.base}/connection/http_stream`, { method: 'POST', body: '{"id":1,"connect":{}}' });
    assert.equal(stream.status, 503);
    assert.match(await stream.text(), /node connection limit reached/);
    assert.equal((await first.rpc('x', {}).catch((e) => e)).code, 108, 'the first client still answers');

    // A slot frees up when a client leaves.
    second.disconnect();
    await waitFor(async () => (await upgradeStatus(server)) === 101, { what: 'an upgrade after a client left' });
    first.disconnect();
  } finally {
    await server.stop();
  }
});

test('client.connection_rate_limit: a burst past one second\'s worth gets 503', async () => {
  const config = defaultConfig();
  config.client.connection_rate_limit = 3;
  const server = await startHerald(config);
  try {
    const statuses = await Promise.all(Array.from({ length: 12 }, () => upgradeStatus(server)));
    const opened = statuses.filter((s) => s === 101).length;
    assert.ok(opened >= 3, `the first second's worth opens: ${statuses}`);
    assert.ok(statuses.includes(503), `the rest of the burst is refused: ${statuses}`);
    assert.ok(statuses.every((s) => s === 101 || s === 503), `${statuses}`);
  } finally {
    await server.stop();
  }
});
