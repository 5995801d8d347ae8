// Centrifugo PRO's write batching options with the real SDK: client.write_delay,
// client.max_messages_in_frame and client.reply_without_queue (docs/performance.md).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, defaultConfig, client, connected, subscribed, collect, token, api, waitFor, sleep, publishThrough } from './harness.mjs';

const servers = [];
after(async () => { await Promise.all(servers.map((s) => s.stop())); });

async function serverWith(clientOptions) {
  const config = defaultConfig();
  Object.assign(config.client, clientOptions);
  const server = await startHerald(config);
  servers.push(server);
  return server;
}

test('with a write delay every publication still arrives, in order', async () => {
  const server = await serverWith({ write_delay: '200ms', max_messages_in_frame: 4 });
  const c = client(server, { token: token({ sub: 'delayed' }) });
  await connected(c);
  const received = await publishThrough(server, c, 'batched', 30, 'thirty delayed publications');
  assert.deepEqual(received, Array.from({ length: 30 }, (_, i) => ({ i: i + 1 })));
  c.disconnect();
});

test('a reply that skips the write delay brings the publications queued before it', async () => {
  // A delay no test outlives: only replies make anything leave.
  const server = await serverWith({ write_delay: '1h', reply_without_queue: true });
  const c = client(server, { token: token({ sub: 'replies' }) });
  await connected(c); // the connect reply did not wait
  const sub = await subscribed(c, 'held'); // nor did the subscribe reply
  const received = collect(sub, 'publication');
  for (const n of [1, 2, 3]) {
    const reply = await api(server, 'publish', { channel: 'held', data: { n } });
    assert.equal(reply.body.error, undefined, JSON.stringify(reply.body));
  }
  await sleep(300);
  assert.equal(received.length, 0, 'publications wait for the delay');
  // The publish reply leaves at once, after the publications queued before it: the SDK sees
  // all four (its own publication included) in order.
  await sub.publish({ n: 4 });
  await waitFor(() => received.length === 4, { what: 'four publications' });
  assert.deepEqual(received.map((p) => p.data), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  c.disconnect();
});

test('a negative max_messages_in_frame other than -1 is refused at start-up', async () => {
  const config = defaultConfig();
  config.client.max_messages_in_frame = -2;
  await assert.rejects(startHerald(config), /client\.max_messages_in_frame/);
});
