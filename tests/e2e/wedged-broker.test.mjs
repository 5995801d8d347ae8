// A wedged Redis PUB/SUB link heals itself: node A reaches Redis through a TCP proxy that can
// stop forwarding Redis's bytes on A's PUB/SUB connections without closing anything (PINGs
// still go out, the TCP connection stays up, nothing tells A). Only the end-to-end probe can see
// it: the test checks that A's readiness endpoint goes 503, that A logs the failed probe and
// drops the wedged connection itself, that readiness comes back to 200 once the proxy forwards
// again, and that an SDK subscriber on A receives every message published on node B, before,
// during and after the wedge, exactly once and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import { api, client, connected, once, startHerald, token, waitFor } from './harness.mjs';
import { startRedis, clusterConfig } from './cluster.mjs';

/**
 * A TCP proxy to `port`. A connection whose first bytes name the PUB/SUB connection
 * (`CLIENT SETNAME herald-pubsub`) is a PUB/SUB one; `wedge()` stops reading from Redis on every
 * such connection (and on new ones) until `heal()`. Counts the wedged connections the client
 * (herald) closed itself.
 */
async function startProxy(port) {
  const proxy = { wedged: false, pubsub: new Set(), closedWhileWedged: 0, sockets: new Set() };
  const server = createServer((downstream) => {
    const upstream = connect(port, '127.0.0.1');
    const conn = { upstream, pubsub: false, seen: '' };
    proxy.sockets.add(downstream);
    proxy.sockets.add(upstream);
    downstream.on('data', (chunk) => {
      if (!conn.pubsub && conn.seen.length < 4096) {
        conn.seen += chunk.toString('latin1');
        if (conn.seen.includes('herald-pubsub')) {
          conn.pubsub = true;
          proxy.pubsub.add(conn);
          if (proxy.wedged) upstream.pause();
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => downstream.write(chunk));
    const close = (byHerald) => {
      if (conn.closed) return;
      conn.closed = true;
      if (byHerald && conn.pubsub && proxy.wedged) proxy.closedWhileWedged += 1;
      proxy.pubsub.delete(conn);
      downstream.destroy();
      upstream.destroy();
      proxy.sockets.delete(downstream);
      proxy.sockets.delete(upstream);
    };
    downstream.on('close', () => close(true));
    downstream.on('error', () => close(true));
    upstream.on('close', () => close(false));
    upstream.on('error', () => close(false));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  proxy.port = server.address().port;
  proxy.wedge = () => {
    proxy.wedged = true;
    for (const conn of proxy.pubsub) conn.upstream.pause();
  };
  proxy.heal = () => {
    proxy.wedged = false;
    for (const conn of proxy.pubsub) conn.upstream.resume();
  };
  proxy.close = () => new Promise((r) => {
    for (const s of proxy.sockets) s.destroy();
    server.close(r);
  });
  return proxy;
}

const readiness = async (node) => {
  try {
    const response = await fetch(`${node.base}/ready`);
    return { status: response.status, body: await response.json() };
  } catch {
    return { status: 0, body: null };
  }
};

test('a wedged PUB/SUB link: not ready, reconnected by the probe, ready again, nothing lost', async () => {
  const redis = await startRedis();
  const proxy = await startProxy(redis.port);
  const probe = { probe_interval: '500ms', probe_timeout: '1s' };
  const configA = clusterConfig(redis, 'nodeA');
  configA.engine.redis.address = `redis://127.0.0.1:${proxy.port}`;
  configA.health = probe;
  const configB = clusterConfig(redis, 'nodeB');
  configB.health = probe;
  const a = await startHerald(configA);
  const b = await startHerald(configB);
  const channel = 'chat:wedged';
  const c = client(a, { token: token({ sub: 'wedge' }) });
  let publishing = true;
  let sent = 0;
  let publisher = Promise.resolve();
  try {
    await waitFor(async () => (await readiness(a)).status === 200, { what: 'node A ready' });
    assert.equal(proxy.pubsub.size, 1, 'node A has one PUB/SUB connection, through the proxy');

    await connected(c);
    const received = [];
    const sub = c.newSubscription(channel, { recoverable: true });
    sub.on('publication', (p) => received.push(p.data.n));
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;

    // Publishes 1, 2, 3... on node B, each number retried until acknowledged.
    publisher = (async () => {
      while (publishing) {
        const n = sent + 1;
        const reply = await api(b, 'publish', { channel, data: { n }, idempotency_key: `wedged-${n}` });
        if (reply.body?.result) sent = n;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    await waitFor(() => received.length >= 10, { what: 'publications before the wedge' });

    proxy.wedge();
    const sentAtWedge = sent;
    await waitFor(async () => (await readiness(a)).status === 503, { what: 'node A not ready while wedged' });
    // Herald, not the test, drops the wedged connection (its own PING timeout is 20 s away).
    await waitFor(() => proxy.closedWhileWedged >= 1, { what: 'node A to drop the wedged connection' });
    assert.match(a.output(), /broker probe did not come back/);
    await waitFor(() => sent >= sentAtWedge + 20, { what: 'publishing on B during the wedge' });
    assert.equal((await readiness(a)).status, 503, 'still not ready while every PUB/SUB connection is wedged');

    proxy.heal();
    await waitFor(async () => (await readiness(a)).status === 200, { timeoutMs: 15000, what: 'node A ready again' });
    const sentAtHeal = sent;
    await waitFor(() => sent >= sentAtHeal + 20, { what: 'publishing after healing' });
    publishing = false;
    await publisher;

    const expected = Array.from({ length: sent }, (_, i) => i + 1);
    await waitFor(() => received.length >= sent, { timeoutMs: 15000, what: `all ${sent} publications on A (got ${received.length})` });
    assert.deepEqual(received, expected, 'every publication exactly once, in order');
    assert.ok(a.output().includes('node ready again'), 'the recovery is logged');
  } catch (err) {
    err.message += `\nnode A log:\n${a.output()}`;
    throw err;
  } finally {
    publishing = false;
    await publisher.catch(() => {});
    c.disconnect();
    await a.stop();
    await b.stop();
    await proxy.close();
    await redis.kill();
  }
});
