// Paced drain: with shutdown.drain_period, SIGTERM closes the clients with 3001 in batches
// spread over the period (not all in the same instant), refuses new connections and fails the
// readiness endpoint from the signal on, and the process still exits 0 within shutdown.timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startHerald, token, defaultConfig, waitFor } from './harness.mjs';

const CLIENTS = 1000;

/** Opens a raw WebSocket and sends connect; records when (performance.now) it closes, and how. */
function connectRaw(server, i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.wsUrl);
    ws.replied = new Promise((r) => ws.once('message', r));
    ws.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString(), at: performance.now() })));
    ws.once('open', () => {
      ws.send(JSON.stringify({ id: 1, connect: { token: token({ sub: `d${i}` }) } }));
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

test(`SIGTERM with drain_period 2s closes ${CLIENTS} clients over the period and exits 0`, async () => {
  const config = defaultConfig();
  config.shutdown = { timeout: '10s', drain_period: '2s' };
  const server = await startHerald(config);
  try {
    assert.equal((await fetch(`${server.base}/ready`)).status, 200);
    const sockets = [];
    // In groups, so the node is not asked for a thousand handshakes in the same instant.
    for (let i = 0; i < CLIENTS; i += 50) {
      const group = await Promise.all(Array.from({ length: Math.min(50, CLIENTS - i) }, (_, k) => connectRaw(server, i + k)));
      sockets.push(...group);
    }
    await Promise.all(sockets.map((ws) => ws.replied));

    const signalled = performance.now();
    server.child.kill('SIGTERM');
    // From the signal on: not ready, and a new WebSocket is refused before the upgrade.
    await waitFor(async () => (await fetch(`${server.base}/ready`)).status === 503, { what: 'readiness to fail' });
    const ready = await (await fetch(`${server.base}/ready`)).json();
    assert.deepEqual(ready, { error: 'shutting down' });
    const refused = await new Promise((resolve) => {
      const ws = new WebSocket(server.wsUrl);
      ws.once('unexpected-response', (_, response) => resolve(response.statusCode));
      ws.once('open', () => resolve('opened'));
      ws.once('error', () => resolve('error'));
    });
    assert.equal(refused, 503);

    const closes = await Promise.all(sockets.map((ws) => ws.closed));
    assert.deepEqual(new Set(closes.map((c) => `${c.code} ${c.reason}`)), new Set(['3001 shutdown']));
    const times = closes.map((c) => c.at).sort((x, y) => x - y);
    const first = times[0];
    const last = times[times.length - 1];
    const inFirst100ms = times.filter((t) => t - first < 100).length;
    assert.ok(inFirst100ms < CLIENTS / 2, `${inFirst100ms} of ${CLIENTS} closed within 100 ms of the first`);
    assert.ok(last - first >= 1000, `closes spread over ${Math.round(last - first)} ms only`);

    const exit = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('timeout'), 15000))]);
    assert.deepEqual(exit, { code: 0, signal: null });
    const took = performance.now() - signalled;
    assert.ok(took < 10000, `exited ${Math.round(took)} ms after the signal, past shutdown.timeout`);
  } finally {
    await server.stop();
  }
});
