// The Pusher endpoint on a two-node cluster (one redis-server): a trigger through the HTTP API
// of one node reaches pusher-js clients on the other, client events and presence cross nodes,
// and the apps stay apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, sleep, waitFor } from './harness.mjs';
import { startRedis, clusterConfig } from './cluster.mjs';
import { pusherConfig, serverLib, pusherClient, pusherConnected, pusherSubscribed, events } from './pusher.mjs';

let redis;
let nodes;
const clients = [];
before(async () => {
  redis = await startRedis();
  nodes = [];
  for (const name of ['pusherA', 'pusherB']) {
    nodes.push(await startHerald(pusherConfig(clusterConfig(redis, name))));
  }
});
after(async () => {
  for (const c of clients) c.disconnect();
  for (const node of nodes ?? []) await node.stop();
  await redis?.kill();
});

async function connect(node, options = {}) {
  const c = pusherClient(node, options);
  clients.push(c);
  return pusherConnected(c);
}

test('a trigger through node A reaches clients on node B, and socket_id exclusion holds across nodes', async () => {
  const [a, b] = nodes;
  const onB = await connect(b);
  const alsoOnB = await connect(b);
  const got = events(await pusherSubscribed(onB, 'feed'), 'item');
  const excluded = events(await pusherSubscribed(alsoOnB, 'feed'), 'item');
  await serverLib(a).trigger('feed', 'item', { n: 1 }, { socket_id: alsoOnB.connection.socket_id });
  await waitFor(() => got.length === 1, { what: 'the trigger at node B' });
  await sleep(200);
  assert.deepEqual(got.map((e) => e.data), [{ n: 1 }]);
  assert.deepEqual(excluded, []);
  // Node A counts node B's subscribers.
  const info = await (await serverLib(a).get({ path: '/channels/feed', params: { info: 'subscription_count' } })).json();
  assert.deepEqual(info, { occupied: true, subscription_count: 2 });
});

test('presence and client events cross nodes', async () => {
  const [a, b] = nodes;
  const amy = await connect(a, { user: 'amy', info: { on: 'A' } });
  const room = await pusherSubscribed(amy, 'presence-x');
  const added = events(room, 'pusher:member_added');
  const removed = events(room, 'pusher:member_removed');
  const typing = events(room, 'client-typing');

  const ben = await connect(b, { user: 'ben', info: { on: 'B' } });
  const benRoom = await pusherSubscribed(ben, 'presence-x');
  assert.equal(benRoom.members.count, 2);
  assert.deepEqual(benRoom.members.get('amy'), { id: 'amy', info: { on: 'A' } });
  await waitFor(() => added.length === 1, { what: 'member_added at node A' });
  assert.deepEqual(added[0].data, { id: 'ben', info: { on: 'B' } });

  benRoom.trigger('client-typing', { from: 'ben' });
  await waitFor(() => typing.length === 1, { what: 'the client event at node A' });
  assert.equal(typing[0].metadata.user_id, 'ben');

  const users = await (await serverLib(a).get({ path: '/channels/presence-x/users' })).json();
  assert.deepEqual(users, { users: [{ id: 'amy' }, { id: 'ben' }] });

  ben.disconnect();
  await waitFor(() => removed.length === 1, { what: 'member_removed at node A' });
  assert.equal(removed[0].data.id, 'ben');
  await sleep(200);
  assert.equal(removed.length, 1);
});

test('a node killed with members in a presence channel: each of its users is removed once, by a live node', async () => {
  const [a, b] = nodes;
  const amy = await connect(a, { user: 'amy2' });
  const room = await pusherSubscribed(amy, 'presence-kill');
  const removed = events(room, 'pusher:member_removed');
  // Two connections of one user and one of another, all on node B.
  for (const user of ['cat', 'cat', 'dan']) {
    await pusherSubscribed(await connect(b, { user }), 'presence-kill');
  }
  await waitFor(() => room.members.count === 3, { what: 'three members at node A' });

  b.child.kill('SIGKILL');
  await b.exited;
  // Declared dead within the node TTL plus a heartbeat (about 10 s), long before the
  // presence entries would expire (60 s).
  await waitFor(() => removed.length === 2, { what: 'member_removed for cat and dan', timeoutMs: 30000 });
  await sleep(3000);
  assert.deepEqual(removed.map((e) => e.data.id).sort(), ['cat', 'dan']);
  assert.equal(room.members.count, 1);
  const users = await (await serverLib(a).get({ path: '/channels/presence-kill/users' })).json();
  assert.deepEqual(users, { users: [{ id: 'amy2' }] });
});
