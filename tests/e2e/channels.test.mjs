// Channel operations with the real SDK: subscribe, publish (API and client), presence,
// join/leave, history, private channels, server API unsubscribe/disconnect, and error codes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import { startHerald, client, connected, once, collect, token, api, waitFor, HMAC_SECRET } from './harness.mjs';

let server;
before(async () => { server = await startHerald(); });
after(async () => { await server.stop(); });

async function subscribed(c, channel, options = {}) {
  const sub = c.newSubscription(channel, options);
  const done = once(sub, 'subscribed');
  sub.subscribe();
  const ctx = await done;
  return { sub, ctx };
}

test('API publications reach subscribers with consecutive offsets', async () => {
  const c = client(server, { token: token({ sub: 'u1' }) });
  await connected(c);
  const { sub, ctx } = await subscribed(c, 'news');
  assert.equal(ctx.recoverable, true);
  assert.equal(ctx.positioned, true);
  const received = collect(sub, 'publication');
  const first = await api(server, 'publish', { channel: 'news', data: { n: 1 } });
  const second = await api(server, 'publish', { channel: 'news', data: { n: 2 } });
  assert.equal(second.body.result.offset, first.body.result.offset + 1);
  assert.equal(second.body.result.epoch, ctx.streamPosition.epoch);
  await waitFor(() => received.length === 2, { what: 'two publications' });
  assert.deepEqual(received.map((p) => p.data), [{ n: 1 }, { n: 2 }]);
  assert.deepEqual(received.map((p) => p.offset), [first.body.result.offset, second.body.result.offset]);
  c.disconnect();
});

test('a client publication carries the publisher info to every subscriber', async () => {
  const alice = client(server, { token: token({ sub: 'alice', info: { name: 'Alice' } }) });
  const bob = client(server, { token: token({ sub: 'bob' }) });
  await connected(alice);
  await connected(bob);
  const a = await subscribed(alice, 'room');
  const b = await subscribed(bob, 'room');
  const atBob = once(b.sub, 'publication');
  await a.sub.publish({ text: 'hi' });
  const pub = await atBob;
  assert.deepEqual(pub.data, { text: 'hi' });
  assert.equal(pub.info.user, 'alice');
  assert.deepEqual(pub.info.connInfo, { name: 'Alice' });
  alice.disconnect();
  bob.disconnect();
});

test('presence and presence_stats count clients and distinct users', async () => {
  const c1 = client(server, { token: token({ sub: 'p1' }) });
  const c2 = client(server, { token: token({ sub: 'p1' }) });
  const c3 = client(server, { token: token({ sub: 'p2' }) });
  const subs = [];
  for (const c of [c1, c2, c3]) { await connected(c); subs.push((await subscribed(c, 'lobby')).sub); }
  const stats = await subs[0].presenceStats();
  assert.deepEqual({ clients: stats.numClients, users: stats.numUsers }, { clients: 3, users: 2 });
  const presence = await subs[0].presence();
  const users = Object.values(presence.clients).map((info) => info.user).sort();
  assert.deepEqual(users, ['p1', 'p1', 'p2']);
  subs[2].unsubscribe();
  await waitFor(async () => (await subs[0].presenceStats()).numClients === 2, { what: 'presence after unsubscribe' });
  for (const c of [c1, c2, c3]) c.disconnect();
});

test('join and leave are pushed to subscribers', async () => {
  const watcher = client(server, { token: token({ sub: 'watcher' }) });
  await connected(watcher);
  const { sub } = await subscribed(watcher, 'party', { joinLeave: true });
  const joins = collect(sub, 'join');
  const leaves = collect(sub, 'leave');
  const guest = client(server, { token: token({ sub: 'guest' }) });
  await connected(guest);
  const g = await subscribed(guest, 'party');
  await waitFor(() => joins.some((j) => j.info.user === 'guest'), { what: 'join of guest' });
  g.sub.unsubscribe();
  await waitFor(() => leaves.some((l) => l.info.user === 'guest'), { what: 'leave of guest' });
  guest.disconnect();
  watcher.disconnect();
});

test('history returns publications with limit, since and reverse', async () => {
  for (let n = 1; n <= 5; n += 1) await api(server, 'publish', { channel: 'archive', data: { n } });
  const c = client(server, { token: token({ sub: 'reader' }) });
  await connected(c);
  const { sub } = await subscribed(c, 'archive');
  const all = await sub.history({ limit: -1 });
  assert.deepEqual(all.publications.map((p) => p.data.n), [1, 2, 3, 4, 5]);
  const lastTwo = await sub.history({ limit: 2, reverse: true });
  assert.deepEqual(lastTwo.publications.map((p) => p.data.n), [5, 4]);
  const since = await sub.history({ limit: 10, since: { offset: all.publications[2].offset, epoch: all.epoch } });
  assert.deepEqual(since.publications.map((p) => p.data.n), [4, 5]);
  await assert.rejects(sub.history({ limit: 10, since: { offset: 1, epoch: 'wrongepo' } }), (err) => err.code === 112);
  c.disconnect();
});

test('a private $ channel needs a subscription token', async () => {
  const c = client(server, { token: token({ sub: 'vip' }) });
  await connected(c);
  const withoutToken = c.newSubscription('$vip');
  const unsubscribed = once(withoutToken, 'unsubscribed');
  withoutToken.subscribe();
  assert.equal((await unsubscribed).code, 103);
  c.removeSubscription(withoutToken);

  const getToken = async (ctx) => jwt.sign({ sub: 'vip', channel: ctx.channel }, HMAC_SECRET);
  const { sub } = await subscribed(c, '$vip', { getToken });
  const pub = once(sub, 'publication');
  await api(server, 'publish', { channel: '$vip', data: { secret: true } });
  assert.deepEqual((await pub).data, { secret: true });
  c.disconnect();
});

test('subscribe errors: 102 unknown namespace, 103 permission denied, 107 bad channel name', async () => {
  const c = client(server, { token: token({ sub: 'errs' }) });
  await connected(c);
  for (const [channel, code] of [['nope:x', 102], ['locked:x', 103], ['strict:UPPER', 107], ['x'.repeat(300), 107]]) {
    const sub = c.newSubscription(channel);
    const unsubscribed = once(sub, 'unsubscribed');
    sub.subscribe();
    assert.equal((await unsubscribed).code, code, channel.slice(0, 20));
    c.removeSubscription(sub);
  }
  c.disconnect();
});

test('rpc without a handler is 108, history off is 108', async () => {
  const c = client(server, { token: token({ sub: 'rpc' }) });
  await connected(c);
  await assert.rejects(c.rpc('method', {}), (err) => err.code === 108);
  const { sub } = await subscribed(c, 'nohistory:x');
  await assert.rejects(sub.history({ limit: 1 }), (err) => err.code === 108);
  c.disconnect();
});

test('API unsubscribe and disconnect reach the user', async () => {
  const c = client(server, { token: token({ sub: 'target' }) });
  await connected(c);
  const { sub } = await subscribed(c, 'kick');
  const unsubscribed = once(sub, 'unsubscribed');
  assert.deepEqual((await api(server, 'unsubscribe', { user: 'target', channel: 'kick' })).body, { result: {} });
  assert.equal((await unsubscribed).code, 2000);

  const disconnected = once(c, 'disconnected');
  await api(server, 'disconnect', { user: 'target', disconnect: { code: 4501, reason: 'go away' } });
  const ctx = await disconnected;
  assert.equal(ctx.code, 4501);
  assert.equal(ctx.reason, 'go away');
});

test('API answers 401 with an empty body to a wrong key and 102 for an unknown namespace', async () => {
  const bad = await api(server, 'info', {}, { key: 'wrong' });
  assert.equal(bad.status, 401);
  assert.equal(bad.body, null);
  const unknown = await api(server, 'publish', { channel: 'undefined:channel', data: {} });
  assert.equal(unknown.body.error.code, 102);
});
