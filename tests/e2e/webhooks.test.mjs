// Lifecycle webhooks on a 3-node Redis cluster: every event reaches the receiver exactly once
// with a valid signature; occupancy periods alternate (occupied, vacated, ...) whichever nodes
// the subscribers are on; a node killed with SIGKILL gets its leaves and vacancies announced
// by a live node; a receiver down for 10 s loses nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { client, connected, once, token, waitFor, sleep, freePort, startHerald } from './harness.mjs';
import { startRedis, clusterConfig } from './cluster.mjs';

const SECRET = 'e2e-webhook-secret';

/** A webhook receiver that checks every signature and records every event once by id. */
async function startReceiver() {
  const port = await freePort();
  const receiver = {
    port,
    url: `http://127.0.0.1:${port}/hooks`,
    events: [],
    ids: new Set(),
    duplicates: 0,
    badSignatures: 0,
    batches: 0,
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const timestamp = req.headers['x-herald-webhook-timestamp'] ?? '';
      const given = Buffer.from(String(req.headers['x-herald-webhook-signature'] ?? ''));
      const expected = Buffer.from(`v1=${createHmac('sha256', SECRET).update(`${timestamp}.`).update(body).digest('hex')}`);
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      if (given.length !== expected.length || !timingSafeEqual(given, expected) || !fresh || !req.headers['x-herald-webhook-id']) {
        receiver.badSignatures += 1;
        res.writeHead(401).end();
        return;
      }
      receiver.batches += 1;
      for (const event of JSON.parse(body.toString()).events) {
        if (receiver.ids.has(event.id)) { receiver.duplicates += 1; continue; }
        receiver.ids.add(event.id);
        receiver.events.push(event);
      }
      res.writeHead(204).end();
    });
  });
  const listen = () => new Promise((r) => server.listen(port, '127.0.0.1', r));
  receiver.down = () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); });
  receiver.up = listen;
  receiver.close = receiver.down;
  await listen();
  return receiver;
}

let redis;
let receiver;
let nodes;
before(async () => {
  redis = await startRedis();
  receiver = await startReceiver();
  nodes = [];
  for (const name of ['A', 'B', 'C']) {
    const config = clusterConfig(redis, `node${name}`);
    config.webhooks = {
      enabled: true,
      endpoints: [{ url: receiver.url, secret: SECRET }],
      batch_max_delay: '20ms',
      retry_initial_backoff: '200ms',
      retry_max_backoff: '1s',
      retry_max_duration: '2m',
    };
    nodes.push(await startHerald(config));
  }
});
after(async () => {
  for (const node of nodes) await node.stop();
  await receiver.close();
  await redis.kill();
});

const of = (channel, type) => receiver.events.filter((e) => e.channel === channel && e.type === type);

/** Checks a channel's occupancy periods: alternating when ordered by period, each closed once. */
function assertAlternation(channel) {
  const marks = receiver.events
    .filter((e) => e.channel === channel && (e.type === 'channel_occupied' || e.type === 'channel_vacated'))
    .sort((a, b) => a.period - b.period || (a.type === 'channel_occupied' ? -1 : 1));
  for (const [i, mark] of marks.entries()) {
    assert.equal(mark.type, i % 2 === 0 ? 'channel_occupied' : 'channel_vacated', `event ${i} of ${channel}`);
    if (i % 2 === 1) assert.equal(mark.period, marks[i - 1].period, 'vacated closes the period occupied opened');
  }
  assert.equal(marks.length % 2, 0, `${channel}: every period closed`);
  return marks.length / 2;
}

async function connectAll(count, prefix, pick) {
  const clients = [];
  for (let i = 0; i < count; i += 1) {
    const c = client(pick(i), { token: token({ sub: `${prefix}${i}` }) });
    await connected(c);
    clients.push(c);
  }
  return clients;
}

async function subscribe(sub) {
  const done = once(sub, 'subscribed');
  sub.subscribe();
  await done;
}

async function unsubscribe(sub) {
  const done = once(sub, 'unsubscribed');
  sub.unsubscribe();
  await done;
}

test('50 clients joining and leaving across nodes: one occupied and one vacated per period, one join and leave per subscription', async () => {
  const channel = 'wh-room';
  const rounds = 3;
  const clients = await connectAll(50, 'u', (i) => nodes[i % 3]);
  const subs = clients.map((c) => c.newSubscription(channel));
  for (let round = 1; round <= rounds; round += 1) {
    await Promise.all(subs.map(async (sub) => {
      await sleep(Math.random() * 300);
      await subscribe(sub);
      await sleep(Math.random() * 300);
      await unsubscribe(sub);
    }));
    await waitFor(() => of(channel, 'presence_leave').length === 50 * round
      && of(channel, 'channel_occupied').length === of(channel, 'channel_vacated').length,
    { timeoutMs: 30000, what: `round ${round} settled` });
  }
  await sleep(500); // anything late would show up as an extra event
  const periods = assertAlternation(channel);
  assert.ok(periods >= rounds, `at least one period per round, got ${periods}`);
  const ids = clients.map((c) => c._client ?? null);
  assert.equal(of(channel, 'presence_join').length, 50 * rounds);
  assert.equal(of(channel, 'presence_leave').length, 50 * rounds);
  const perClient = new Map();
  for (const e of [...of(channel, 'presence_join'), ...of(channel, 'presence_leave')]) {
    const key = `${e.client}/${e.type}`;
    perClient.set(key, (perClient.get(key) ?? 0) + 1);
  }
  assert.equal(perClient.size, 100, 'each of 50 connections joined and left');
  for (const [key, count] of perClient) assert.equal(count, rounds, key);
  for (const c of clients) c.disconnect();
  await waitFor(() => receiver.events.filter((e) => e.type === 'disconnect' && e.user.startsWith('u')).length === 50,
    { timeoutMs: 30000, what: 'disconnects' });
  assert.equal(receiver.events.filter((e) => e.type === 'connect' && e.user.startsWith('u')).length, 50);
  assert.equal(receiver.badSignatures, 0);
  assert.equal(receiver.duplicates, 0);
  assert.ok(ids.length === 50);
});

test('a receiver down for 10 s then up gets every event, once', async () => {
  const channel = 'wh-down';
  await receiver.down();
  const clients = await connectAll(6, 'd', (i) => nodes[i % 3]);
  const subs = clients.map((c) => c.newSubscription(channel));
  for (const sub of subs) await subscribe(sub);
  for (const sub of subs) await unsubscribe(sub);
  for (const c of clients) c.disconnect();
  await sleep(10000);
  assert.equal(of(channel, 'presence_join').length, 0, 'nothing arrived while down');
  await receiver.up();
  await waitFor(() => receiver.events.filter((e) => e.type === 'disconnect' && e.user.startsWith('d')).length === 6
    && of(channel, 'channel_vacated').length === 1,
  { timeoutMs: 30000, what: 'events after the receiver came back' });
  await sleep(500);
  assert.equal(receiver.events.filter((e) => e.type === 'connect' && e.user.startsWith('d')).length, 6);
  assert.equal(of(channel, 'presence_join').length, 6);
  assert.equal(of(channel, 'presence_leave').length, 6);
  assert.equal(assertAlternation(channel), 1);
  assert.equal(receiver.duplicates, 0);
  assert.equal(receiver.badSignatures, 0);
});

test('kill -9 of a node: its leaves and vacancies are announced once by a live node', async () => {
  const [a, , victim] = nodes;
  const alone = 'wh-kill-alone'; // only the victim's clients: vacated after the kill
  const shared = 'wh-kill-shared'; // also a client on A: stays occupied
  const onVictim = await connectAll(4, 'k', () => victim);
  const onA = await connectAll(1, 'ka', () => a);
  for (const c of onVictim) {
    await subscribe(c.newSubscription(alone));
    await subscribe(c.newSubscription(shared));
  }
  await subscribe(onA[0].newSubscription(shared));
  await waitFor(() => of(alone, 'presence_join').length === 4 && of(shared, 'presence_join').length === 5,
    { what: 'joins' });
  const victimClients = new Set(of(alone, 'presence_join').map((e) => e.client));

  victim.child.kill('SIGKILL');
  await victim.exited;
  for (const c of onVictim) c.disconnect(); // nothing left to reconnect to

  // Documented bound: NODE_TTL + HEARTBEAT_INTERVAL + vacated_delay (about 10 s); wait longer.
  await waitFor(() => of(alone, 'presence_leave').length === 4 && of(shared, 'presence_leave').length === 4
    && of(alone, 'channel_vacated').length === 1,
  { timeoutMs: 40000, what: 'the dead node\'s leaves and vacancy' });
  await sleep(7000); // a second cleaner would have had a heartbeat round to duplicate them
  assert.equal(of(alone, 'presence_leave').length, 4);
  assert.equal(of(shared, 'presence_leave').length, 4);
  for (const e of [...of(alone, 'presence_leave'), ...of(shared, 'presence_leave')]) {
    assert.ok(victimClients.has(e.client), 'a leave of a client the victim held');
    assert.notEqual(e.node, undefined);
  }
  assert.equal(assertAlternation(alone), 1);
  assert.equal(of(shared, 'channel_vacated').length, 0, 'A still holds the shared channel');

  onA[0].disconnect();
  await waitFor(() => of(shared, 'channel_vacated').length === 1, { timeoutMs: 20000, what: 'shared vacated' });
  assert.equal(assertAlternation(shared), 1);
  assert.equal(receiver.duplicates, 0);
  assert.equal(receiver.badSignatures, 0);
});
