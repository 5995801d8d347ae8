// After Redis restarts, a node that reports 200 on /ready must also serve commands: the first
// publish, history, presence and presence_stats call on every node succeeds, none fails with
// error 100 because a command connection still points at the old Redis process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { api, waitFor } from './harness.mjs';
import { startRedis, startCluster } from './cluster.mjs';

const health = async (node) => {
  try {
    return (await fetch(`${node.base}/ready`)).status;
  } catch {
    return 0;
  }
};

/** Every call the test makes on a node, in order; each must succeed on its first try. */
async function useEveryCommand(node, channel, n) {
  const published = await api(node, 'publish', { channel, data: { n } });
  assert.equal(published.body.error, undefined, `publish: ${JSON.stringify(published.body)}`);
  const history = await api(node, 'history', { channel, limit: -1 });
  assert.equal(history.body.error, undefined, `history: ${JSON.stringify(history.body)}`);
  assert.ok(history.body.result.publications.some((p) => p.data.n === n), 'history holds the publication');
  const presence = await api(node, 'presence', { channel });
  assert.equal(presence.body.error, undefined, `presence: ${JSON.stringify(presence.body)}`);
  const stats = await api(node, 'presence_stats', { channel });
  assert.equal(stats.body.error, undefined, `presence_stats: ${JSON.stringify(stats.body)}`);
}

test('after a Redis restart, a node that reports healthy serves every command on the first try', async () => {
  const redis = await startRedis();
  const nodes = await startCluster(redis, 2);
  try {
    // Every node's command connection is in use before the restart.
    for (const [i, node] of nodes.entries()) await useEveryCommand(node, `before-${i}`, i);

    await redis.kill('SIGKILL');
    await waitFor(async () => (await Promise.all(nodes.map(health))).every((s) => s === 503), {
      what: 'every node to report the engine down',
    });
    await redis.start();
    await waitFor(async () => (await Promise.all(nodes.map(health))).every((s) => s === 200), {
      timeoutMs: 20000,
      what: 'every node to report healthy again',
    });

    for (const [i, node] of nodes.entries()) {
      try {
        await useEveryCommand(node, `after-${i}`, 100 + i);
      } catch (err) {
        err.message += `\nnode ${i} log:\n${node.output()}`;
        throw err;
      }
    }
  } finally {
    for (const node of nodes) await node.stop();
    await redis.kill();
  }
});
