// Multi-node harness: a real redis-server on a free port, several herald nodes on the Redis
// engine, and a small TCP load balancer in front of them (round robin, skipping dead nodes), so
// SDK clients reconnect to whichever node is alive, as behind any load balancer.
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHerald, defaultConfig, waitFor, freePort } from './harness.mjs';

const running = new Set();
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

/** Starts redis-server; `durable` keeps an append-only file fsynced on every write. */
export async function startRedis({ durable = false } = {}) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'herald-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
  args.push(...(durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
  const redis = { port, url: `redis://127.0.0.1:${port}`, child: null };
  redis.start = async () => {
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.once('error', (err) => { throw new Error(`redis-server could not start (apt-get install redis-server): ${err.message}`); });
    running.add(child);
    child.once('exit', () => running.delete(child));
    redis.child = child;
    await waitFor(() => new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.once('error', () => resolve(false));
    }), { what: 'redis-server to listen' });
  };
  redis.kill = async (signal = 'SIGKILL') => {
    const child = redis.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  };
  await redis.start();
  return redis;
}

/** Starts nats-server (no JetStream) on a free port; `restart` brings it back on the same port. */
export async function startNats() {
  const port = await freePort();
  const nats = { port, url: `nats://127.0.0.1:${port}`, child: null };
  nats.start = async () => {
    const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    child.once('error', (err) => { throw new Error(`nats-server could not start (apt-get install nats-server): ${err.message}`); });
    running.add(child);
    child.once('exit', () => running.delete(child));
    nats.child = child;
    await waitFor(() => new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
      socket.once('error', () => resolve(false));
    }), { what: 'nats-server to listen' });
  };
  nats.kill = async () => {
    const child = nats.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  await nats.start();
  return nats;
}

/** A herald configuration with the NATS broker and Redis presence; no history (NATS has none). */
export function natsConfig(nats, redis, name) {
  const config = defaultConfig();
  const open = {
    allow_subscribe_for_client: true,
    allow_publish_for_subscriber: true,
    allow_presence_for_subscriber: true,
    presence: true,
    join_leave: true,
  };
  config.node = { name };
  config.broker = { enabled: true, type: 'nats', nats: { url: nats.url, prefix: `e2e${nats.port}` } };
  config.presence_manager = { enabled: true, type: 'redis', redis: { address: redis.url, prefix: `e2e${nats.port}` } };
  config.channel = { without_namespace: open };
  return config;
}

/** A herald configuration on the Redis engine. */
export function clusterConfig(redis, name) {
  const config = defaultConfig();
  config.node = { name };
  config.engine = { type: 'redis', redis: { address: redis.url, prefix: `e2e${redis.port}` } };
  return config;
}

/** Starts `count` herald nodes sharing `redis`. */
export async function startCluster(redis, count) {
  const nodes = [];
  for (let i = 0; i < count; i += 1) {
    nodes.push(await startHerald(clusterConfig(redis, `node${String.fromCharCode(65 + i)}`)));
  }
  return nodes;
}

/** A TCP load balancer in front of `nodes`: each connection goes to the next live node. */
export async function startBalancer(nodes) {
  let next = 0;
  const sockets = new Set();
  const server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    const attempt = (tries) => {
      if (tries >= nodes.length) { client.destroy(); return; }
      const node = nodes[next % nodes.length];
      next += 1;
      const upstream = connect(node.port, '127.0.0.1');
      upstream.once('error', () => { if (!upstream.connected) attempt(tries + 1); else client.destroy(); });
      upstream.once('connect', () => {
        upstream.connected = true;
        client.pipe(upstream).pipe(client);
        upstream.once('close', () => client.destroy());
        client.once('close', () => upstream.destroy());
      });
    };
    client.on('error', () => {});
    attempt(0);
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    close: () => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); },
  };
}
