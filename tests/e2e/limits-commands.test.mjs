// Per-connection command rates (client.rate_limit.client_command, Centrifugo PRO's shape): a
// command past its bucket gets error 111 "too many requests"; a client that keeps going is
// closed with 3013. Buckets of a minute, so no refill can happen during the test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, defaultConfig, rawSocket, client, connected, once } from './harness.mjs';

function rateLimitedConfig() {
  const config = defaultConfig();
  config.client.insecure = true;
  config.client.rate_limit = {
    client_command: {
      enabled: true,
      publish: { enabled: true, buckets: [{ interval: '1m', rate: 3 }] },
      disconnect_after: 5,
    },
  };
  return config;
}

test('past its rate a command gets 111, and a client that keeps going is closed with 3013', async () => {
  const server = await startHerald(rateLimitedConfig());
  try {
    const ws = await rawSocket(server);
    const commands = [{ id: 1, connect: {} }];
    for (let id = 2; id <= 12; id++) commands.push({ id, publish: { channel: 'news', data: { id } } });
    ws.send(commands.map((c) => JSON.stringify(c)).join('\n'));
    assert.deepEqual(await ws.closed, { code: 3013, reason: 'too many requests' });
    const replies = ws.messages.flatMap((m) => m.split('\n')).map((line) => JSON.parse(line));
    const byId = new Map(replies.map((r) => [r.id, r]));
    for (const id of [2, 3, 4]) assert.deepEqual(byId.get(id).publish, {}, `publish ${id} is within the rate`);
    for (const id of [5, 6, 7, 8]) {
      assert.deepEqual(byId.get(id).error, { code: 111, message: 'too many requests', temporary: true }, `publish ${id}`);
    }
    assert.equal(byId.get(9), undefined, 'the fifth refusal in a row closes instead of answering');
    assert.equal(byId.get(10), undefined, 'nothing after the close is handled');
  } finally {
    await server.stop();
  }
});

test('the SDK sees 111 on a limited publish while other commands go on', async () => {
  const server = await startHerald(rateLimitedConfig());
  const c = client(server);
  try {
    await connected(c);
    for (let i = 0; i < 3; i++) await c.publish('news', { i });
    const refused = await c.publish('news', { i: 4 }).catch((e) => e);
    assert.equal(refused.code, 111);
    assert.equal((await c.history('news', { limit: 10 })).publications.length, 3, 'history is not limited');
    assert.equal(c.state, 'connected');
    // 3013 lets the SDK reconnect (with backoff): it reports the close as `connecting`.
    const reconnecting = once(c, 'connecting');
    for (let i = 0; i < 5; i++) await c.publish('news', { i }).catch(() => {});
    const ctx = await reconnecting;
    assert.equal(ctx.code, 3013);
    assert.equal(ctx.reason, 'too many requests');
  } finally {
    c.disconnect();
    await server.stop();
  }
});
