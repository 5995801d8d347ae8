// Emulated transports on a 2-node cluster (Redis engine): a client's stream comes from one node
// while its commands (POST /emulation) land on the other, which forwards them through the
// control plane. So a round-robin balancer in front of the nodes needs no sticky sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { emulatedClient, connected, subscribed, collect, token, api, waitFor } from './harness.mjs';
import { startRedis, startCluster, startBalancer } from './cluster.mjs';

let redis;
let nodes;
before(async () => {
  redis = await startRedis();
  nodes = await startCluster(redis, 2);
  // Each node must know the other (heartbeats) before it forwards to it.
  await waitFor(async () => {
    const info = await api(nodes[1], 'info');
    return info.body.result.nodes.length === 2;
  }, { what: 'both nodes to see each other' });
});
after(async () => {
  for (const node of nodes) await node.stop();
  await redis.kill();
});

test('http_stream on node A and sse on node B, each posting its commands to the other node', async () => {
  const [a, b] = nodes;
  const streaming = emulatedClient(a, 'http_stream', { token: token({ sub: 'on-a' }) }, { emulationServer: b });
  const sse = emulatedClient(b, 'sse', { token: token({ sub: 'on-b' }) }, { emulationServer: a });
  await connected(streaming);
  await connected(sse);
  const subA = await subscribed(streaming, 'crossing');
  const subB = await subscribed(sse, 'crossing');
  const atA = collect(subA, 'publication');
  const atB = collect(subB, 'publication');
  // Client publishes travel as emulated commands through the other node.
  await subA.publish({ from: 'http_stream' });
  await subB.publish({ from: 'sse' });
  await api(a, 'publish', { channel: 'crossing', data: { from: 'api' } });
  await waitFor(() => atA.length === 3 && atB.length === 3, { what: 'three publications on each client' });
  assert.deepEqual(atA.map((p) => p.data), atB.map((p) => p.data));
  assert.deepEqual(new Set(atA.map((p) => p.data.from)), new Set(['http_stream', 'sse', 'api']));
  const stats = await subA.presenceStats();
  assert.deepEqual(stats, { numClients: 2, numUsers: 2 });
  // Pongs and unsubscribe go the same way; the connections stay up and answer in order.
  subB.unsubscribe();
  await waitFor(async () => (await subA.presenceStats()).numClients === 1, { what: 'presence after unsubscribe' });
  streaming.disconnect();
  sse.disconnect();
});

test('behind a round-robin balancer without sticky sessions', async () => {
  const balancer = await startBalancer(nodes);
  const front = { base: `http://127.0.0.1:${balancer.port}` };
  try {
    const clients = [];
    const subs = [];
    for (const [i, transport] of ['http_stream', 'sse', 'http_stream', 'sse'].entries()) {
      const c = emulatedClient(front, transport, { token: token({ sub: `lb${i}` }) });
      await connected(c);
      subs.push(await subscribed(c, 'balanced'));
      clients.push(c);
    }
    const received = subs.map((s) => collect(s, 'publication'));
    for (const [i, sub] of subs.entries()) await sub.publish({ i });
    await waitFor(() => received.every((r) => r.length === 4), { what: 'every client to get every publication' });
    for (const r of received) assert.deepEqual(r.map((p) => p.data.i).sort(), [0, 1, 2, 3]);
    for (const c of clients) c.disconnect();
  } finally {
    await balancer.close();
  }
});
