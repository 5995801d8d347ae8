// Several herald nodes on one Redis act as one server: publications, presence, history and API
// commands cross nodes, /api/info lists every live node, and nothing is lost when a node dies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, connected, once, collect, token, api, waitFor } from './harness.mjs';
import { startRedis, startCluster, startBalancer } from './cluster.mjs';

let redis;
let nodes;
before(async () => {
  redis = await startRedis();
  nodes = await startCluster(redis, 3);
});
after(async () => {
  for (const node of nodes) await node.stop();
  await redis.kill();
});

async function subscribe(c, channel, options = {}) {
  const sub = c.newSubscription(channel, options);
  const done = once(sub, 'subscribed');
  sub.subscribe();
  await done;
  return sub;
}

test('a publication through node C reaches subscribers on nodes A and B', async () => {
  const [a, b, c] = nodes;
  const onA = client(a, { token: token({ sub: 'ua' }) });
  const onB = client(b, { token: token({ sub: 'ub' }) });
  await connected(onA);
  await connected(onB);
  const subA = await subscribe(onA, 'cross');
  const subB = await subscribe(onB, 'cross');
  const atA = collect(subA, 'publication');
  const atB = collect(subB, 'publication');
  for (let n = 1; n <= 20; n += 1) {
    const reply = await api(c, 'publish', { channel: 'cross', data: { n } });
    assert.equal(reply.body.result.offset, n);
  }
  await waitFor(() => atA.length === 20 && atB.length === 20, { what: 'publications on A and B' });
  assert.deepEqual(atA.map((p) => p.data.n), atB.map((p) => p.data.n));
  assert.deepEqual(atA.map((p) => p.offset), Array.from({ length: 20 }, (_, i) => i + 1));
  onA.disconnect();
  onB.disconnect();
});

test('presence and presence_stats are the same from every node', async () => {
  const clients = [];
  for (const [i, node] of nodes.entries()) {
    const c = client(node, { token: token({ sub: `p${i % 2}` }) });
    await connected(c);
    await subscribe(c, 'everyone');
    clients.push(c);
  }
  for (const node of nodes) {
    const stats = await api(node, 'presence_stats', { channel: 'everyone' });
    assert.deepEqual(stats.body.result, { num_clients: 3, num_users: 2 });
    const presence = await api(node, 'presence', { channel: 'everyone' });
    assert.equal(Object.keys(presence.body.result.presence).length, 3);
  }
  for (const c of clients) c.disconnect();
});

test('history read via B shows publications made via A', async () => {
  const [a, b] = nodes;
  for (let n = 1; n <= 5; n += 1) await api(a, 'publish', { channel: 'shared-history', data: { n } });
  const history = await api(b, 'history', { channel: 'shared-history', limit: -1 });
  assert.deepEqual(history.body.result.publications.map((p) => p.data.n), [1, 2, 3, 4, 5]);
});

test('API disconnect and unsubscribe sent to A reach a user on B', async () => {
  const [a, b] = nodes;
  const user = client(b, { token: token({ sub: 'remote' }) });
  await connected(user);
  const sub = await subscribe(user, 'remote-channel');
  const unsubscribed = once(sub, 'unsubscribed');
  await api(a, 'unsubscribe', { user: 'remote', channel: 'remote-channel' });
  assert.equal((await unsubscribed).code, 2000);
  const disconnected = once(user, 'disconnected');
  await api(a, 'disconnect', { user: 'remote', disconnect: { code: 4500, reason: 'bye' } });
  assert.equal((await disconnected).code, 4500);
});

test('/api/info on any node lists every live node', async () => {
  for (const node of nodes) {
    await waitFor(async () => (await api(node, 'info')).body.result.nodes.length === 3, { what: 'three nodes in info' });
    const names = (await api(node, 'info')).body.result.nodes.map((n) => n.name).sort();
    assert.deepEqual(names, ['nodeA', 'nodeB', 'nodeC']);
  }
});

test('kill -9 of a node: its clients reconnect elsewhere and get every message once, in order', async () => {
  const victims = await startCluster(redis, 3);
  const balancer = await startBalancer(victims);
  const channel = 'chat:failover';
  const clients = [];
  try {
    for (let i = 0; i < 6; i += 1) {
      const c = client(balancer, { token: token({ sub: `f${i}` }) });
      await connected(c);
      const received = [];
      const sub = c.newSubscription(channel, { recoverable: true });
      sub.on('publication', (p) => received.push(p.data.n));
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
      clients.push({ c, received });
    }
    const survivor = victims[2];
    let sent = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing && sent < 600) {
        const n = sent + 1;
        const reply = await api(survivor, 'publish', { channel, data: { n }, idempotency_key: `failover-${n}` });
        if (reply.body?.result) sent = n;
      }
    })();
    await waitFor(() => sent >= 50, { what: 'publishing to start' });
    victims[0].child.kill('SIGKILL');
    await waitFor(() => sent >= 400, { timeoutMs: 30000, what: 'publishing after the kill' });
    publishing = false;
    await publisher;
    const expected = Array.from({ length: sent }, (_, i) => i + 1);
    for (const { received } of clients) {
      await waitFor(() => received.length >= sent, { timeoutMs: 20000, what: 'every message on every client' });
      assert.deepEqual(received, expected);
    }
    await waitFor(async () => (await api(survivor, 'info')).body.result.nodes.length === 2 + 3, { timeoutMs: 15000, what: 'the dead node dropped from info' });
  } finally {
    for (const { c } of clients) c.disconnect();
    await balancer.close();
    for (const node of victims) await node.stop();
  }
});

/** Clients through a balancer on `channel`, recording publications and subscribed events. */
async function watchers(balancer, channel, count) {
  const out = [];
  for (let i = 0; i < count; i += 1) {
    const c = client(balancer, { token: token({ sub: `w${i}` }) });
    await connected(c);
    const received = [];
    const subscribed = [];
    const sub = c.newSubscription(channel, { recoverable: true });
    sub.on('publication', (p) => received.push(p.data.n));
    sub.on('subscribed', (ctx) => subscribed.push(ctx));
    const first = once(sub, 'subscribed');
    sub.subscribe();
    await first;
    out.push({ c, received, subscribed });
  }
  return out;
}

/** Publishes 1, 2, 3... through `node`, retrying each number until it is acknowledged. */
function publisher(node, channel, limit) {
  const state = { sent: 0, running: true, failures: 0 };
  state.done = (async () => {
    while (state.running && state.sent < limit) {
      const n = state.sent + 1;
      try {
        const reply = await api(node, 'publish', { channel, data: { n }, idempotency_key: `${channel}-${n}` });
        if (reply.body?.result) { state.sent = n; continue; }
      } catch { /* node busy reconnecting: retry */ }
      state.failures += 1;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return state;
}

const health = async (node) => (await fetch(`${node.base}/ready`)).status;

test('Redis restarted with an append-only file: nothing lost, nothing duplicated, nodes recover', async () => {
  const durable = await startRedis({ durable: true });
  const pair = await startCluster(durable, 2);
  const balancer = await startBalancer(pair);
  const channel = 'chat:redis-restart';
  const clients = await watchers(balancer, channel, 4);
  try {
    const pub = publisher(pair[0], channel, 400);
    await waitFor(() => pub.sent >= 50, { what: 'publishing to start' });
    await durable.kill('SIGKILL');
    await waitFor(async () => (await health(pair[1])) === 503, { what: '/ready to report the engine down' });
    // Liveness stays green: the process serves, only readiness is lost.
    assert.equal((await fetch(`${pair[1].base}/health`)).status, 200);
    await durable.start();
    await waitFor(async () => (await health(pair[1])) === 200, { timeoutMs: 15000, what: '/ready to recover' });
    await waitFor(() => pub.sent >= 400, { timeoutMs: 30000, what: 'publishing after the restart' });
    pub.running = false;
    await pub.done;
    const expected = Array.from({ length: pub.sent }, (_, i) => i + 1);
    for (const { received, subscribed } of clients) {
      await waitFor(() => received.length >= pub.sent, { timeoutMs: 20000, what: 'every message' });
      assert.deepEqual(received, expected);
      assert.ok(subscribed.length >= 2, 'resubscribed after the restart');
      assert.ok(subscribed.slice(1).every((s) => s.recovered), 'recovered every time');
    }
  } finally {
    for (const { c } of clients) c.disconnect();
    await balancer.close();
    for (const node of pair) await node.stop();
    await durable.kill();
  }
});

test('Redis restarted with nothing kept: the loss is reported as recovered false, never silent', async () => {
  const volatile = await startRedis({ durable: false });
  const pair = await startCluster(volatile, 2);
  const balancer = await startBalancer(pair);
  const channel = 'chat:redis-volatile';
  const clients = await watchers(balancer, channel, 2);
  try {
    for (let n = 1; n <= 10; n += 1) await api(pair[0], 'publish', { channel, data: { n } });
    await waitFor(() => clients.every(({ received }) => received.length === 10), { what: 'first messages' });
    await volatile.kill('SIGKILL');
    await volatile.start();
    for (const { subscribed } of clients) {
      await waitFor(() => subscribed.length >= 2, { timeoutMs: 20000, what: 'resubscribe after the restart' });
      const last = subscribed[subscribed.length - 1];
      assert.equal(last.wasRecovering, true);
      assert.equal(last.recovered, false);
    }
    await waitFor(async () => (await health(pair[0])) === 200, { what: 'healthy again' });
  } finally {
    for (const { c } of clients) c.disconnect();
    await balancer.close();
    for (const node of pair) await node.stop();
    await volatile.kill();
  }
});
