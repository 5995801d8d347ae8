// Redis Sentinel (engine.redis.sentinel_*): Herald finds the master through three sentinels and
// follows a failover (the master killed) with both its command connection and its PUB/SUB link, so a subscriber on a
// force_recovery channel gets every publication the API acknowledged, once and in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { api, client, connected, defaultConfig, freePort, once, startHerald, token, waitFor } from './harness.mjs';

const run = promisify(execFile);
const running = new Set();
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

// The data servers and the sentinels each require a password, so Herald's AUTH to both is used.
const PASSWORD = 'data-pw';
const SENTINEL_PASSWORD = 'sentinel-pw';

/** `redis-cli -p port args...` with `password`, its output trimmed. */
async function cli(port, password, ...args) {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', '-a', password, ...args]);
  return stdout.trim();
}

/** Starts `redis-server args` and waits until it listens on `port`. */
async function server(port, args) {
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  child.once('error', (err) => { throw new Error(`redis-server could not start: ${err.message}`); });
  running.add(child);
  child.once('exit', () => running.delete(child));
  await waitFor(() => new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.once('error', () => resolve(false));
  }), { what: `redis on ${port} to listen` });
  return child;
}

/** A master, its replica and three sentinels monitoring them as `m`, all on free ports. */
async function startSentinelSetup() {
  const dir = mkdtempSync(join(tmpdir(), 'herald-sentinel-'));
  const [master, replica] = [await freePort(), await freePort()];
  const common = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--requirepass', PASSWORD, '--masterauth', PASSWORD];
  const children = [];
  children.push(await server(master, ['--port', String(master), '--dbfilename', `${master}.rdb`, ...common]));
  children.push(await server(replica, ['--port', String(replica), '--dbfilename', `${replica}.rdb`, ...common,
    '--replicaof', '127.0.0.1', String(master)]));
  const sentinels = [];
  for (let i = 0; i < 3; i += 1) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${port}.conf`);
    writeFileSync(conf, [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `requirepass ${SENTINEL_PASSWORD}`,
      `sentinel monitor m 127.0.0.1 ${master} 2`,
      `sentinel auth-pass m ${PASSWORD}`,
      'sentinel down-after-milliseconds m 1000',
      'sentinel failover-timeout m 5000',
      'sentinel parallel-syncs m 1',
      '',
    ].join('\n'));
    children.push(await server(port, [conf, '--sentinel']));
    sentinels.push(port);
  }
  await waitFor(async () => (await cli(replica, PASSWORD, 'info', 'replication')).includes('master_link_status:up'), {
    timeoutMs: 20000, what: 'the replica to sync',
  });
  // Every sentinel must know the replica (learned from the master's INFO) and its peers, or
  // SENTINEL FAILOVER finds no replica to promote.
  await waitFor(async () => {
    for (const port of sentinels) {
      const replicas = await cli(port, SENTINEL_PASSWORD, 'sentinel', 'replicas', 'm');
      if (!replicas.includes(String(replica))) return false;
      if (!(await cli(port, SENTINEL_PASSWORD, 'sentinel', 'ckquorum', 'm')).startsWith('OK 3')) return false;
    }
    return true;
  }, { timeoutMs: 40000, what: 'the sentinels to discover the replica and each other' });
  return {
    master,
    replica,
    sentinels,
    masterPort: async () => (await cli(sentinels[0], SENTINEL_PASSWORD, 'sentinel', 'get-master-addr-by-name', 'm')).split('\n')[1],
    /** SIGKILL of the master; it never comes back. */
    async killMaster() {
      const child = children[0];
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

test('the master killed while publishing: every acknowledged publication arrives once, in order', async () => {
  const redis = await startSentinelSetup();
  const config = defaultConfig();
  config.channel.namespaces.push({
    name: 'ha', allow_subscribe_for_client: true, history_size: 10000, history_ttl: '300s', force_recovery: true,
  });
  config.engine = {
    type: 'redis',
    redis: {
      prefix: `sentinel${redis.master}`,
      sentinel_address: redis.sentinels.map((p) => `127.0.0.1:${p}`).join(','),
      sentinel_master_name: 'm',
      sentinel_password: SENTINEL_PASSWORD,
      password: PASSWORD,
    },
  };
  const node = await startHerald(config);
  const c = client(node, { token: token({ sub: 'ha' }) });
  try {
    await connected(c);
    const channel = 'ha:prices';
    const received = [];
    const sub = c.newSubscription(channel);
    const offsets = new Map();
    const recoveries = [];
    sub.on('publication', (p) => { received.push(p.data.n); offsets.set(p.data.n, p.offset); });
    sub.on('subscribed', (ctx) => { if (ctx.wasRecovering) recoveries.push(ctx); });
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;

    let sent = 0;
    let failures = 0;
    let publishing = true;
    // Retries a failed publish with the same idempotency key: one that reached Redis after all
    // is not stored twice.
    const publisher = (async () => {
      while (publishing) {
        const n = sent + 1;
        const reply = await api(node, 'publish', { channel, data: { n }, idempotency_key: `ha-${n}` });
        if (reply.body?.result) sent = n;
        else failures += 1;
      }
    })();
    await waitFor(() => sent >= 50, { what: 'publishing to start' });
    assert.equal(String(await redis.masterPort()), String(redis.master));
    // Killed rather than SENTINEL FAILOVER: that one promotes the replica while the old master
    // stays up and keeps accepting writes until a sentinel's next INFO poll (up to 10 s) finds it
    // and demotes it, and Redis then discards what it took meanwhile, acknowledged or not. A
    // dead master takes nothing more, and replication on one machine keeps up with a
    // sequential publisher, so nothing acknowledged is lost.
    await redis.killMaster();
    await waitFor(async () => String(await redis.masterPort()) === String(redis.replica), {
      timeoutMs: 30000, what: 'the sentinels to name the replica as master',
    });
    const afterSwitch = sent;
    await waitFor(() => sent >= afterSwitch + 200, { timeoutMs: 30000, what: 'publishing on the new master' });
    publishing = false;
    await publisher;

    const expected = Array.from({ length: sent }, (_, i) => i + 1);
    try {
      await waitFor(() => received.length >= sent, { timeoutMs: 20000, what: 'every publication at the subscriber' });
      assert.deepEqual(received, expected);
    } catch (err) {
      const missing = expected.filter((n) => !received.includes(n));
      const stored = (await api(node, 'history', { channel, limit: -1 })).body.result?.publications ?? [];
      const near = (n) => Math.abs(n - missing[0]) < 4;
      err.message += `\nsent ${sent} (${failures} publishes failed and were retried), received ${received.length}`
        + `\nmissing ${missing.slice(0, 20)}; not in history: ${missing.filter((n) => !stored.some((p) => p.data.n === n))}`
        + `\nhistory near the first: ${stored.filter((p) => near(p.data.n)).map((p) => `${p.data.n}@${p.offset}`)}`
        + `\nreceived near it: ${[...offsets].filter(([n]) => near(n)).map(([n, o]) => `${n}@${o}`)}`
        + `\nrecoveries: ${JSON.stringify(recoveries)}\nherald log:\n${node.output()}`;
      throw err;
    }
    // The new master holds the whole history: publications went there after the switch.
    const history = await api(node, 'history', { channel, limit: -1 });
    assert.equal(history.body.error, undefined, JSON.stringify(history.body));
    assert.deepEqual(history.body.result.publications.map((p) => p.data.n), expected);
    assert.match(node.output(), /commands follow the new master/);
    // The PUB/SUB link moved too, and the subscriber caught up through recovery from history.
    assert.ok(recoveries.some((ctx) => ctx.recovered), JSON.stringify(recoveries));
  } finally {
    c.disconnect();
    await node.stop();
    await redis.stop();
  }
});
