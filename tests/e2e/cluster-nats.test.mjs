// Several herald nodes with the NATS broker (at most once, no history) and Redis presence:
// cross-node delivery, presence, API commands and the node list, and recovery of the nodes
// after a NATS restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, client, connected, once, collect, token, api, waitFor } from './harness.mjs';
import { startRedis, startNats, natsConfig } from './cluster.mjs';

let redis;
let nats;
let nodes;
before(async () => {
  redis = await startRedis();
  nats = await startNats();
  nodes = [];
  for (const name of ['natsA', 'natsB', 'natsC']) nodes.push(await startHerald(natsConfig(nats, redis, name)));
});
after(async () => {
  for (const node of nodes) await node.stop();
  await nats.kill();
  await redis.kill();
});

async function subscriber(node, user, channel) {
  const c = client(node, { token: token({ sub: user }) });
  await connected(c);
  const sub = c.newSubscription(channel);
  const received = collect(sub, 'publication');
  const done = once(sub, 'subscribed');
  sub.subscribe();
  await done;
  return { c, sub, received };
}

test('NATS: a publication through node C reaches subscribers on nodes A and B', async () => {
  const [a, b, c] = nodes;
  const onA = await subscriber(a, 'na', 'n-cross');
  const onB = await subscriber(b, 'nb', 'n-cross');
  for (let n = 1; n <= 20; n += 1) await api(c, 'publish', { channel: 'n-cross', data: { n } });
  await waitFor(() => onA.received.length === 20 && onB.received.length === 20, { what: 'publications on A and B' });
  const expected = Array.from({ length: 20 }, (_, i) => i + 1);
  assert.deepEqual(onA.received.map((p) => p.data.n), expected);
  assert.deepEqual(onB.received.map((p) => p.data.n), expected);
  onA.c.disconnect();
  onB.c.disconnect();
});

test('NATS: presence is the same from every node and history is not available (108)', async () => {
  const subs = [];
  for (const [i, node] of nodes.entries()) subs.push(await subscriber(node, `np${i}`, 'n-presence'));
  for (const node of nodes) {
    const stats = await api(node, 'presence_stats', { channel: 'n-presence' });
    assert.deepEqual(stats.body.result, { num_clients: 3, num_users: 3 });
  }
  const history = await api(nodes[0], 'history', { channel: 'n-presence', limit: 10 });
  assert.equal(history.body.error.code, 108);
  for (const { c } of subs) c.disconnect();
});

test('NATS: API disconnect sent to A reaches a user on B; info lists every node', async () => {
  const [a, b] = nodes;
  const user = await subscriber(b, 'n-remote', 'n-kick');
  const disconnected = once(user.c, 'disconnected');
  await api(a, 'disconnect', { user: 'n-remote', disconnect: { code: 4501, reason: 'bye' } });
  assert.equal((await disconnected).code, 4501);
  await waitFor(async () => (await api(a, 'info')).body.result.nodes.length === 3, { what: 'three nodes' });
});

test('NATS restarted: nodes report unhealthy, recover by themselves, and deliver again', async () => {
  const [a, b] = nodes;
  const onA = await subscriber(a, 'nr-a', 'n-restart');
  const onB = await subscriber(b, 'nr-b', 'n-restart');
  await nats.kill();
  await waitFor(async () => (await fetch(`${a.base}/ready`)).status === 503, { what: 'unhealthy without NATS' });
  await nats.start();
  await waitFor(async () => (await fetch(`${a.base}/ready`)).status === 200 && (await fetch(`${b.base}/ready`)).status === 200, { timeoutMs: 20000, what: 'healthy again' });
  await api(b, 'publish', { channel: 'n-restart', data: { after: true } });
  await waitFor(() => onA.received.length === 1 && onB.received.length === 1, { timeoutMs: 10000, what: 'delivery after the restart' });
  onA.c.disconnect();
  onB.c.disconnect();
});
