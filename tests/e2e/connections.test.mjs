// The connections API across a cluster: two herald nodes on one redis-server, SDK clients on
// both, and /api/connections asked on either node lists them all, paged, with their details;
// /api/channels counts subscribers across the nodes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { client, connected, subscribed, once, token, api, waitFor } from './harness.mjs';
import { startRedis, startCluster } from './cluster.mjs';

let redis;
let nodes;
before(async () => {
  redis = await startRedis();
  nodes = await startCluster(redis, 2);
  // Each node must know the other before a survey expects its answer.
  for (const node of nodes) {
    await waitFor(async () => (await api(node, 'info')).body.result.nodes.length === 2, { what: 'both nodes in /api/info' });
  }
});
after(async () => {
  for (const node of nodes) await node.stop();
  await redis.kill();
});

const uidOf = async (node) => {
  const info = await api(node, 'info');
  const [self] = info.body.result.nodes.filter((n) => n.name === node.name);
  return self.uid;
};

test("a user's connections on two nodes, listed from either node", async () => {
  const [a, b] = nodes;
  a.name = 'nodeA';
  b.name = 'nodeB';
  const onA = client(a, { token: token({ sub: 'ana', info: { device: 'laptop' } }) });
  const onB = client(b, { token: token({ sub: 'ana' }) }, { protobuf: true });
  const other = client(b, { token: token({ sub: 'ben' }) });
  const started = Date.now() - 1000;
  const idA = (await connected(onA)).client;
  const idB = (await connected(onB)).client;
  const idOther = (await connected(other)).client;
  await subscribed(onA, 'room');
  await subscribed(onB, 'lobby');
  const [uidA, uidB] = [await uidOf(a), await uidOf(b)];

  for (const node of nodes) {
    const reply = await api(node, 'connections', { user: 'ana' });
    assert.equal(reply.status, 200);
    const connections = reply.body.result.connections;
    assert.equal(reply.body.result.next_cursor, undefined);
    assert.deepEqual(Object.keys(connections).sort(), [idA, idB].sort());
    const fromA = connections[idA];
    assert.equal(fromA.user, 'ana');
    assert.equal(fromA.node, uidA);
    assert.equal(fromA.transport, 'websocket');
    assert.equal(fromA.protocol, 'json');
    assert.equal(fromA.ip, '127.0.0.1');
    assert.deepEqual(fromA.info, { device: 'laptop' });
    assert.deepEqual(fromA.state.channels, { room: {} });
    assert.ok(fromA.connected_at_ms >= started && fromA.connected_at_ms <= Date.now(), `${fromA.connected_at_ms}`);
    const fromB = connections[idB];
    assert.equal(fromB.node, uidB);
    assert.equal(fromB.protocol, 'protobuf');
    assert.deepEqual(fromB.state.channels, { lobby: {} });
  }

  // `channels` is cluster-wide too: `room` lives on A, `lobby` on B.
  for (const node of nodes) {
    const channels = (await api(node, 'channels')).body.result.channels;
    assert.deepEqual(channels, { room: { num_clients: 1 }, lobby: { num_clients: 1 } });
  }

  // Everybody, one connection per page: three pages, each client once, in client-id order.
  const seen = [];
  let cursor = '';
  for (let page = 0; page < 10; page += 1) {
    const reply = await api(a, 'connections', { limit: 1, cursor });
    seen.push(...Object.keys(reply.body.result.connections));
    cursor = reply.body.result.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(seen, [idA, idB, idOther].sort());

  // Disconnecting through the API (sent to A) removes B's connection from the listing.
  const gone = once(other, 'disconnected');
  await api(a, 'disconnect', { user: 'ben' });
  await gone;
  await waitFor(async () => Object.keys((await api(a, 'connections', { user: 'ben' })).body.result.connections).length === 0, { what: 'ben no longer listed' });
  onA.disconnect();
  onB.disconnect();
});
