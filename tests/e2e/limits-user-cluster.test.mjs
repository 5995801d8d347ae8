// client.user_connection_limit counted across the cluster (Centrifugo counts per node): two
// nodes on one redis-server, a limit of 2, two connections of a user on node A, and a third on
// node B is refused with 3504 "connection limit" until one of the first two leaves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, connected, token, waitFor } from './harness.mjs';
import { startRedis, clusterConfig } from './cluster.mjs';
import { startHerald } from './harness.mjs';

/** Connects a client of `user` to `node`: `'connected'`, or the code it was closed with. */
function attempt(node, user, clients) {
  const c = client(node, { token: token({ sub: user }) });
  clients.push(c);
  return new Promise((resolve) => {
    c.once('connected', () => resolve('connected'));
    c.once('disconnected', (ctx) => resolve(ctx.code));
    c.connect();
  });
}

test('client.user_connection_limit holds across two nodes', async () => {
  const redis = await startRedis();
  const nodes = [];
  const clients = [];
  try {
    for (const name of ['nodeA', 'nodeB']) {
      const config = clusterConfig(redis, name);
      config.client.user_connection_limit = 2;
      nodes.push(await startHerald(config));
    }
    const [a, b] = nodes;
    const first = client(a, { token: token({ sub: 'alice' }) });
    const second = client(a, { token: token({ sub: 'alice' }) });
    clients.push(first, second);
    await connected(first);
    await connected(second);

    assert.equal(await attempt(b, 'alice', clients), 3504, 'a third connection on the other node is refused');
    assert.equal(await attempt(b, 'bob', clients), 'connected', 'another user is not limited');
    assert.equal(first.state, 'connected');
    assert.equal(second.state, 'connected');

    second.disconnect();
    await waitFor(async () => (await attempt(b, 'alice', clients)) === 'connected', { what: 'a connection after one left' });
    assert.equal(await attempt(a, 'alice', clients), 3504, 'and the limit holds again');
  } finally {
    for (const c of clients) c.disconnect();
    for (const node of nodes) await node.stop();
    await redis.kill();
  }
});
