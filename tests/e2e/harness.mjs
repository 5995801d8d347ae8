// Test harness: starts a real `herald` process on a free port with a given configuration and
// gives tests an SDK client factory, an API caller and token helpers. Every wait is bounded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPairSync } from 'node:crypto';
import WebSocket from 'ws';
import jwt from 'jsonwebtoken';
import { Centrifuge } from 'centrifuge';
import { Centrifuge as CentrifugeProtobuf } from 'centrifuge/build/protobuf';
import { EventSource } from 'eventsource';

const here = dirname(fileURLToPath(import.meta.url));
export const HERALD_BIN = process.env.HERALD_BIN ?? resolve(here, '../../target/debug/herald');
export const API_KEY = 'e2e-api-key';
export const HMAC_SECRET = 'e2e-secret';

export const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const ecdsa = generateKeyPairSync('ec', { namedCurve: 'P-256' });

const pem = (key) => key.export({ type: 'spki', format: 'pem' });

/** The configuration most tests use: every kind of channel the suites need. */
export function defaultConfig() {
  const open = {
    allow_subscribe_for_client: true,
    allow_subscribe_for_anonymous: true,
    allow_publish_for_subscriber: true,
    allow_presence_for_subscriber: true,
    allow_history_for_subscriber: true,
  };
  return {
    log: { level: 'info' },
    client: {
      token: { hmac_secret_key: HMAC_SECRET, rsa_public_key: pem(rsa.publicKey), ecdsa_public_key: pem(ecdsa.publicKey) },
    },
    http_api: { key: API_KEY },
    http_stream: { enabled: true },
    sse: { enabled: true },
    uni_websocket: { enabled: true },
    uni_sse: { enabled: true },
    uni_http_stream: { enabled: true },
    channel: {
      without_namespace: { ...open, presence: true, join_leave: true, force_push_join_leave: true, history_size: 100, history_ttl: '300s', force_recovery: true },
      namespaces: [
        { name: 'locked', presence: true, history_size: 10, history_ttl: '60s' },
        { name: 'nohistory', ...open },
        { name: 'strict', ...open, channel_regex: '^[a-z]+$' },
        { name: 'chat', ...open, presence: true, join_leave: true, history_size: 1000, history_ttl: '300s', allow_recovery: true },
      ],
    },
  };
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

// Servers still running when the test process exits (a timed-out file skips its `after` hooks)
// are killed, so no herald outlives its test run.
const running = new Set();
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws). */
export async function waitFor(check, { timeoutMs = 10000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Starts herald with `config`; resolves once /health answers. */
export async function startHerald(config = defaultConfig(), { env = {} } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-e2e-'));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const port = await freePort();
  const child = spawn(HERALD_BIN, ['serve', '--config', configPath, '--port', String(port), '--address', '127.0.0.1'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`herald exited early:\n${output}`);
      try { return (await fetch(`${base}/health`)).ok; } catch { return false; }
    }, { what: 'herald /health' });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    base,
    wsUrl: `ws://127.0.0.1:${port}/connection/websocket`,
    child,
    exited,
    output: () => output,
    async stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Calls the server API; returns the parsed body. */
export async function api(server, method, body = {}, { key = API_KEY } = {}) {
  const response = await fetch(`${server.base}/api/${method}`, {
    method: 'POST',
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** An HS256 connection token. */
export function token(claims = {}, { expiresIn } = {}) {
  return jwt.sign(claims, HMAC_SECRET, { algorithm: 'HS256', ...(expiresIn ? { expiresIn } : {}) });
}

/** A centrifuge SDK client (not yet connected). */
export function client(server, options = {}, { protobuf = false } = {}) {
  const Client = protobuf ? CentrifugeProtobuf : Centrifuge;
  return new Client(server.wsUrl, { websocket: WebSocket, minReconnectDelay: 50, maxReconnectDelay: 200, ...options });
}

/**
 * A centrifuge SDK client on an emulated transport (`http_stream` or `sse`): the stream comes
 * from `server`, the commands go to the emulation endpoint of `emulationServer` (by default the
 * same server; another node of a cluster to test forwarding).
 */
export function emulatedClient(server, transport, options = {}, { protobuf = false, emulationServer = server } = {}) {
  const Client = protobuf ? CentrifugeProtobuf : Centrifuge;
  const endpoint = `${server.base}/connection/${transport}`;
  return new Client([{ transport, endpoint }], {
    eventsource: EventSource,
    emulationEndpoint: `${emulationServer.base}/emulation`,
    minReconnectDelay: 50,
    maxReconnectDelay: 200,
    ...options,
  });
}

/** Resolves with the first emission of `event` on `emitter`, or rejects after `timeoutMs`. */
export function once(emitter, event, timeoutMs = 10000) {
  return new Promise((resolveEvent, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for '${event}'`)), timeoutMs);
    emitter.once(event, (ctx) => { clearTimeout(timer); resolveEvent(ctx); });
  });
}

/** Connects and waits for `connected`. */
export async function connected(c) {
  const done = once(c, 'connected');
  c.connect();
  return done;
}

/** Subscribes `c` to `channel` and waits for `subscribed`; resolves with the subscription. */
export async function subscribed(c, channel) {
  const sub = c.newSubscription(channel);
  const done = once(sub, 'subscribed');
  sub.subscribe();
  await done;
  return sub;
}

/** Collects events of `event` on `emitter` into an array. */
export function collect(emitter, event) {
  const items = [];
  emitter.on(event, (ctx) => items.push(ctx));
  return items;
}

/**
 * Subscribes `c` to `channel`, publishes `{i: 1}` .. `{i: count}` through the API (each must
 * succeed) and waits for them at the subscriber; resolves with the received data in order.
 */
export async function publishThrough(server, c, channel, count, what) {
  const sub = c.newSubscription(channel);
  const subscribed = once(sub, 'subscribed');
  const publications = [];
  sub.on('publication', (ctx) => publications.push(ctx.data));
  sub.subscribe();
  await subscribed;
  for (let i = 1; i <= count; i += 1) {
    const reply = await api(server, 'publish', { channel, data: { i } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.error, undefined, JSON.stringify(reply.body));
  }
  await waitFor(() => publications.length === count, { what });
  return publications;
}

/** Opens a raw WebSocket; resolves once open. Records messages and the close code/reason. */
export function rawSocket(server, { protocols, query = '' } = {}) {
  return new Promise((resolveSocket, reject) => {
    const ws = new WebSocket(server.wsUrl + query, protocols);
    ws.messages = [];
    ws.closed = new Promise((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data) => ws.messages.push(data.toString()));
    ws.once('open', () => resolveSocket(ws));
    ws.once('error', reject);
  });
}
