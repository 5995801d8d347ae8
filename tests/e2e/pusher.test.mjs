// The Pusher endpoint with the real pusher-js client and the real npm `pusher` server library:
// channels of every kind, presence, client events, sign-in, the HTTP API, and bad input, each
// answered as Pusher documents it without disturbing other connections.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { startHerald, sleep, waitFor } from './harness.mjs';
import {
  APP, STRICT, DISABLED, COUNTING, pusherConfig, serverLib, pusherClient, pusherConnected, pusherSubscribed,
  events, rawPusher, bound,
} from './pusher.mjs';

let server;
let lib;
const clients = [];
before(async () => {
  server = await startHerald(pusherConfig());
  lib = serverLib(server);
});
after(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

/** A connected pusher-js client, disconnected after the file. */
async function connect(options = {}) {
  const c = pusherClient(server, options);
  clients.push(c);
  return pusherConnected(c);
}

test('a public channel gets API triggers; socket_id leaves out the connection that caused it', async () => {
  const a = await connect();
  const b = await connect();
  assert.match(a.connection.socket_id, /^\d+\.\d+$/);
  assert.notEqual(a.connection.socket_id, b.connection.socket_id);
  const onA = events(await pusherSubscribed(a, 'news'), 'story');
  const onB = events(await pusherSubscribed(b, 'news'), 'story');

  const response = await lib.trigger('news', 'story', { n: 1 });
  assert.equal(response.status, 200);
  await lib.trigger(['news', 'sports'], 'story', { n: 2 }, { socket_id: a.connection.socket_id });
  await waitFor(() => onB.length === 2, { what: 'both stories at B' });
  await waitFor(() => onA.length === 1, { what: 'the first story at A' });
  await sleep(200);
  assert.deepEqual(onA.map((e) => e.data), [{ n: 1 }]);
  assert.deepEqual(onB.map((e) => e.data), [{ n: 1 }, { n: 2 }]);
});

test('a private channel subscribes with a good signature; a bad one gets subscription_error and nothing', async () => {
  const good = await connect();
  const channel = await pusherSubscribed(good, 'private-orders');
  const got = events(channel, 'placed');

  // Signed with another app's secret: the signature does not verify.
  const forger = await connect({ signer: serverLib(server, { ...APP, secret: 'not-the-secret' }) });
  const refused = forger.subscribe('private-orders');
  const error = await bound(refused, 'pusher:subscription_error');
  assert.equal(error.status, 401);
  const leaked = events(refused, 'placed');

  await lib.trigger('private-orders', 'placed', { id: 7 });
  await waitFor(() => got.length === 1, { what: 'the event at the subscriber' });
  await sleep(200);
  assert.deepEqual(leaked, []);
  const info = await (await lib.get({ path: '/channels/private-orders', params: { info: 'subscription_count' } })).json();
  assert.deepEqual(info, { occupied: true, subscription_count: 1 });
});

test('presence: members by user, member_added once per user, member_removed when its last connection leaves', async () => {
  const alice = await connect({ user: 'alice', info: { name: 'Alice' } });
  const room = await pusherSubscribed(alice, 'presence-room');
  assert.equal(room.members.count, 1);
  assert.deepEqual(room.members.me, { id: 'alice', info: { name: 'Alice' } });
  const added = events(room, 'pusher:member_added');
  const removed = events(room, 'pusher:member_removed');

  const bob1 = await connect({ user: 'bob', info: { name: 'Bob' } });
  const bobRoom = await pusherSubscribed(bob1, 'presence-room');
  assert.equal(bobRoom.members.count, 2);
  assert.deepEqual(bobRoom.members.get('alice'), { id: 'alice', info: { name: 'Alice' } });
  await waitFor(() => added.length === 1, { what: 'member_added for bob' });
  assert.deepEqual(added[0].data, { id: 'bob', info: { name: 'Bob' } });

  // Bob's second connection is the same member: no second member_added.
  const bob2 = await connect({ user: 'bob', info: { name: 'Bob' } });
  assert.equal((await pusherSubscribed(bob2, 'presence-room')).members.count, 2);
  const users = await (await lib.get({ path: '/channels/presence-room/users' })).json();
  assert.deepEqual(users, { users: [{ id: 'alice' }, { id: 'bob' }] });

  bob1.disconnect();
  await sleep(300);
  assert.equal(removed.length, 0, 'bob is still there through his second connection');
  bob2.unsubscribe('presence-room');
  await waitFor(() => removed.length === 1, { what: 'member_removed for bob' });
  assert.deepEqual(removed[0].data, { id: 'bob', info: { name: 'Bob' } });
  await sleep(200);
  assert.equal(added.length, 1);
  assert.equal(room.members.count, 1);
});

test('client events reach the other subscribers only, never a public channel, and past the rate close with 4301', async () => {
  const a = await connect({ user: 'ca' });
  const b = await connect({ user: 'cb' });
  const onA = events(await pusherSubscribed(a, 'presence-chat'), 'client-typing');
  const onB = events(await pusherSubscribed(b, 'presence-chat'), 'client-typing');
  a.channel('presence-chat').trigger('client-typing', { who: 'ca' });
  await waitFor(() => onB.length === 1, { what: 'the client event at B' });
  assert.deepEqual(onB[0].data, { who: 'ca' });
  assert.equal(onB[0].metadata.user_id, 'ca');
  await sleep(200);
  assert.deepEqual(onA, [], 'not echoed to the sender');

  // A raw client: client-* on a public channel is refused with pusher:error.
  const raw = rawPusher(server);
  await raw.next('pusher:connection_established');
  raw.send({ event: 'pusher:subscribe', data: { channel: 'lobby' } });
  await raw.next('pusher_internal:subscription_succeeded');
  const from = raw.messages.length;
  raw.send({ event: 'client-x', channel: 'lobby', data: {} });
  const refusal = await raw.next('pusher:error', from);
  assert.match(refusal.data.message, /private and presence/);

  // The app allows 3 per second: a burst of 10 closes the sender with 4301, not the others.
  const burst = await connect({ user: 'burst' });
  await pusherSubscribed(burst, 'presence-chat');
  const closed = bound(burst.connection, 'error');
  for (let i = 0; i < 10; i++) burst.channel('presence-chat').trigger('client-typing', { i });
  const error = await closed;
  assert.equal(error.data.code, 4301);
  a.channel('presence-chat').trigger('client-typing', { after: true });
  await waitFor(() => onB.some((e) => e.data.after), { what: 'B still receives' });
  raw.ws.close();
});

test('an encrypted channel carries the ciphertext untouched; pusher-js decrypts it', async () => {
  const c = await connect();
  const channel = await pusherSubscribed(c, 'private-encrypted-vault');
  const got = events(channel, 'secret');
  await lib.trigger('private-encrypted-vault', 'secret', { code: 1234 });
  await waitFor(() => got.length === 1, { what: 'the decrypted event' });
  assert.deepEqual(got[0].data, { code: 1234 });

  // What went over the wire is ciphertext (nonce and ciphertext, no plaintext).
  const raw = rawPusher(server);
  const established = await raw.next('pusher:connection_established');
  const socketId = JSON.parse(established.data).socket_id;
  const auth = lib.authorizeChannel(socketId, 'private-encrypted-vault');
  raw.send({ event: 'pusher:subscribe', data: { channel: 'private-encrypted-vault', auth: auth.auth } });
  await raw.next('pusher_internal:subscription_succeeded');
  await lib.trigger('private-encrypted-vault', 'secret', { code: 5678 });
  const wire = await raw.next('secret');
  const payload = JSON.parse(wire.data);
  assert.ok(payload.nonce && payload.ciphertext);
  assert.ok(!wire.data.includes('5678'));
  raw.ws.close();
});

test('a cache channel answers cache_miss when empty, then replays its last event to new subscribers', async () => {
  const first = await connect();
  const channel = first.subscribe('cache-scores');
  await bound(channel, 'pusher:cache_miss');
  await lib.trigger('cache-scores', 'score', { home: 1 });
  await lib.trigger('cache-scores', 'score', { home: 2 });
  const later = await connect();
  const replayed = later.subscribe('cache-scores');
  const last = await bound(replayed, 'score');
  assert.deepEqual(last, { home: 2 });
  const info = await (await lib.get({ path: '/channels/cache-scores', params: { info: 'cache' } })).json();
  assert.equal(info.cache.event, 'score');
  // presence-cache-: the members first, then the cache's answer.
  const member = await connect({ user: 'cached' });
  const room = member.subscribe('presence-cache-room');
  await bound(room, 'pusher:cache_miss');
  assert.equal(room.members.count, 1);
  await lib.trigger('presence-cache-room', 'state', { v: 1 });
  const late = (await connect({ user: 'late' })).subscribe('presence-cache-room');
  assert.deepEqual(await bound(late, 'state'), { v: 1 });
});

test('sign-in: sendToUser reaches the user; terminate_connections closes its connections only', async () => {
  const user = await connect({ user: 'signed-1' });
  const other = await connect({ user: 'signed-2' });
  user.signin();
  other.signin();
  await waitFor(() => user.user.user_data && other.user.user_data, { what: 'both signed in' });
  const got = [];
  user.user.bind('notice', (data) => got.push(data));
  // pusher-js subscribes #server-to-user-<id> after the sign-in; retry until it is in.
  await waitFor(async () => {
    await lib.sendToUser('signed-1', 'notice', { hi: 1 });
    await sleep(100);
    return got.length > 0;
  }, { what: 'the user event' });
  assert.deepEqual(got[0], { hi: 1 });

  const closed = bound(user.connection, 'error');
  const response = await lib.terminateUserConnections('signed-1');
  assert.equal(response.status, 200);
  assert.equal((await closed).data.code, 4009);
  await sleep(200);
  assert.equal(other.connection.state, 'connected');
});

test('refused connections: unknown key 4001, disabled app 4003, wrong protocol 4007, no protocol 4008', async () => {
  for (const [key, query, code] of [
    ['no-such-key', undefined, 4001],
    [DISABLED.key, undefined, 4003],
    [APP.key, 'protocol=2', 4007],
    [APP.key, 'client=js', 4008],
  ]) {
    const raw = rawPusher(server, key, query);
    const closed = await raw.closed;
    assert.equal(closed.code, code, `${key} ${query}`);
    assert.equal(raw.messages[0]?.event, 'pusher:error');
    assert.equal(raw.messages[0].data.code, code);
  }
});

test('malformed input gets pusher:error and leaves the connection and the others alone', async () => {
  const bystander = await connect();
  const onBystander = events(await pusherSubscribed(bystander, 'calm'), 'ping');
  const raw = rawPusher(server);
  await raw.next('pusher:connection_established');
  let from = raw.messages.length;
  raw.send('{not json');
  await raw.next('pusher:error', from);
  from = raw.messages.length;
  raw.send({ event: 'pusher:subscribe', data: { channel: 'bad channel name!' } });
  await raw.next('pusher:error', from);
  from = raw.messages.length;
  raw.send({ event: 'pusher:ping', data: {} });
  await raw.next('pusher:pong', from);
  await lib.trigger('calm', 'ping', {});
  await waitFor(() => onBystander.length === 1, { what: 'the bystander still served' });
  raw.ws.close();
});

test('apps are isolated: the same channel name in two apps never meets', async () => {
  const a = await connect();
  const s = await connect({ app: STRICT });
  const onA = events(await pusherSubscribed(a, 'shared'), 'e');
  const onS = events(await pusherSubscribed(s, 'shared'), 'e');
  await serverLib(server, STRICT).trigger('shared', 'e', { app: 'strict' });
  await waitFor(() => onS.length === 1, { what: 'the strict app event' });
  await sleep(200);
  assert.deepEqual(onA, []);
  // STRICT allows no client events.
  const raw = rawPusher(server, STRICT.key);
  const established = await raw.next('pusher:connection_established');
  const socketId = JSON.parse(established.data).socket_id;
  const auth = serverLib(server, STRICT).authorizeChannel(socketId, 'private-x');
  raw.send({ event: 'pusher:subscribe', data: { channel: 'private-x', auth: auth.auth } });
  await raw.next('pusher_internal:subscription_succeeded');
  const from = raw.messages.length;
  raw.send({ event: 'client-x', channel: 'private-x', data: {} });
  assert.match((await raw.next('pusher:error', from)).data.message, /not enabled/);
  raw.ws.close();
});

test('presence limit: past max_presence_members a new user gets subscription_error', async () => {
  const users = [];
  for (const user of ['m1', 'm2']) {
    const c = await connect({ app: STRICT, user });
    await pusherSubscribed(c, 'presence-small');
    users.push(c);
  }
  const third = await connect({ app: STRICT, user: 'm3' });
  const error = await bound(third.subscribe('presence-small'), 'pusher:subscription_error');
  assert.equal(error.type, 'LimitReached');
});

/** A signed API request built by hand, so the test controls every part of it. */
function signed(method, path, body, { secret = APP.secret, timestamp = Math.floor(Date.now() / 1000) } = {}) {
  const params = { auth_key: APP.key, auth_timestamp: String(timestamp), auth_version: '1.0' };
  if (body) params.body_md5 = createHash('md5').update(body).digest('hex');
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const signature = createHmac('sha256', secret).update(`${method}\n${path}\n${query}`).digest('hex');
  return fetch(`${server.base}${path}?${query}&auth_signature=${signature}`, {
    method,
    body,
    headers: body ? { 'content-type': 'application/json' } : {},
  });
}

test('the HTTP API refuses stale timestamps, wrong signatures, big events, unknown apps and disabled apps', async () => {
  const body = JSON.stringify({ name: 'e', channels: ['x'], data: 'd' });
  assert.equal((await signed('POST', `/apps/${APP.id}/events`, body)).status, 200);
  const stale = await signed('POST', `/apps/${APP.id}/events`, body, { timestamp: Math.floor(Date.now() / 1000) - 700 });
  assert.equal(stale.status, 401);
  assert.match(await stale.text(), /timestamp/);
  const forged = await signed('POST', `/apps/${APP.id}/events`, body, { secret: 'wrong' });
  assert.equal(forged.status, 401);
  assert.match(await forged.text(), /signature/);
  const big = JSON.stringify({ name: 'e', channels: ['x'], data: 'y'.repeat(200) });
  assert.equal((await serverLib(server, STRICT).trigger('x', 'e', 'y'.repeat(200)).catch((e) => e)).status, 413);
  assert.equal((await signed('POST', '/apps/999/events', big)).status, 404);
  const disabled = await serverLib(server, DISABLED).trigger('x', 'e', {}).catch((e) => e);
  assert.equal(disabled.status, 403);
  const listing = await (await lib.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
  assert.ok(listing.channels);
  const badInfo = await lib.get({ path: '/channels', params: { info: 'user_count' } }).catch((e) => e);
  assert.equal(badInfo.status, 400);
});

test('subscription counting: subscribers learn the count of their channel as it changes', async () => {
  const a = await connect({ app: COUNTING });
  const channel = await pusherSubscribed(a, 'counted');
  await waitFor(() => channel.subscriptionCount === 1, { what: 'a count of 1' });
  const b = await connect({ app: COUNTING });
  const other = await pusherSubscribed(b, 'private-counted');
  await pusherSubscribed(b, 'counted');
  await waitFor(() => channel.subscriptionCount === 2, { what: 'a count of 2' });
  await waitFor(() => other.subscriptionCount === 1, { what: 'the private channel counted apart' });
  b.disconnect();
  await waitFor(() => channel.subscriptionCount === 1, { what: 'back to 1' });
  // Without counting (the other apps), no counts are sent.
  const plain = await pusherSubscribed(await connect(), 'uncounted');
  await sleep(1500);
  assert.equal(plain.subscriptionCount, undefined);
});
