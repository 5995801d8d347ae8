// Graceful shutdown: SIGTERM closes every client with 3001 "shutdown" and the process exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, rawSocket, token, defaultConfig } from './harness.mjs';

test('SIGTERM closes 100 clients with 3001 and exits 0', async () => {
  const config = defaultConfig();
  config.shutdown = { timeout: '10s' };
  const server = await startHerald(config);
  try {
    const sockets = [];
    for (let i = 0; i < 100; i += 1) {
      const ws = await rawSocket(server);
      ws.send(JSON.stringify({ id: 1, connect: { token: token({ sub: `s${i}` }) } }));
      sockets.push(ws);
    }
    // Every client has its connect reply before the signal.
    const deadline = Date.now() + 10000;
    while (sockets.some((ws) => ws.messages.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(sockets.every((ws) => ws.messages.length > 0), 'all connected');
    server.child.kill('SIGTERM');
    const closes = await Promise.all(sockets.map((ws) => ws.closed));
    assert.deepEqual(new Set(closes.map((c) => `${c.code} ${c.reason}`)), new Set(['3001 shutdown']));
    const exit = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('timeout'), 15000))]);
    assert.deepEqual(exit, { code: 0, signal: null });
  } finally {
    await server.stop();
  }
});
