// Fossil delta compression with the real SDK: it decodes every patch with its own decoder
// (centrifuge-js `fossil.ts`), so these tests check Herald's encoder against it, over JSON
// (payloads as JSON strings) and Protobuf (raw bytes). A raw WebSocket checks the wire: later
// publications really are `"delta":true` and smaller than the payload, and recovery is full.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, defaultConfig, client, connected, once, token, api, waitFor, rawSocket } from './harness.mjs';

const history = { history_size: 100, history_ttl: '300s', force_recovery: true };
const open = { allow_subscribe_for_client: true, allow_publish_for_subscriber: true };

let server;
before(async () => {
  const config = defaultConfig();
  config.channel.namespaces.push(
    // Centrifugo's own test namespace (centrifuge-js centrifugo_test.json).
    { name: 'delta', ...open, ...history, allowed_delta_types: ['fossil'], delta_publish: true },
    { name: 'deltaflag', ...open, ...history, allowed_delta_types: ['fossil'] },
  );
  server = await startHerald(config);
});
after(async () => { await server.stop(); });

const decoder = new TextDecoder();
let counter = 0;
const unique = (ns) => `${ns}:delta_${Date.now()}_${++counter}`;

/** Similar large payloads: a counter, a long shared text with non-ASCII characters, an edit. */
const payload = (i) => ({ index: i, text: `päyload ✓ ${'x'.repeat(400)} ${'€'.repeat(20)}`, tail: `end-${i % 3}` });

async function subscribed(channel, { protobuf = false, user = 'delta' } = {}) {
  const c = client(server, { token: token({ sub: user }) }, { protobuf });
  await connected(c);
  const sub = c.newSubscription(channel, { delta: 'fossil' });
  const received = [];
  const subscribedEvents = [];
  sub.on('publication', (ctx) => received.push(protobuf ? JSON.parse(decoder.decode(ctx.data)) : ctx.data));
  sub.on('subscribed', (ctx) => subscribedEvents.push(ctx));
  const ready = once(sub, 'subscribed');
  sub.subscribe();
  await ready;
  return { c, sub, received, subscribedEvents };
}

for (const protobuf of [false, true]) {
  const label = protobuf ? 'Protobuf' : 'JSON';

  test(`${label}: 10 similar publications arrive exactly as published, 1 full + 9 patches`, async () => {
    const channel = unique('delta');
    const { c, sub, received } = await subscribed(channel, { protobuf });
    for (let i = 0; i < 10; i++) {
      const { status } = await api(server, 'publish', { channel, data: payload(i) });
      assert.equal(status, 200);
    }
    await waitFor(() => received.length === 10, { what: 'ten publications' });
    assert.deepEqual(received, Array.from({ length: 10 }, (_, i) => payload(i)));
    const stats = sub.deltaStats();
    assert.equal(stats.numPublications, 10);
    assert.equal(stats.numFullPayloads, 1);
    assert.equal(stats.numDeltaPayloads, 9);
    assert.ok(stats.bytesReceived < stats.bytesDecoded / 3, JSON.stringify(stats));
    c.disconnect();
  });

  test(`${label}: publications missed while disconnected are recovered and decoded`, async () => {
    const channel = unique('delta');
    const { c, received, subscribedEvents } = await subscribed(channel, { protobuf });
    await api(server, 'publish', { channel, data: { step: 1, value: 'hello world' } });
    await waitFor(() => received.length === 1, { what: 'the first publication' });
    c.disconnect();
    await api(server, 'publish', { channel, data: { step: 2, value: 'hello world!' } });
    await api(server, 'publish', { channel, data: { step: 3, value: 'hello earth!' } });
    c.connect();
    await waitFor(() => subscribedEvents.length === 2, { what: 'resubscribe' });
    assert.equal(subscribedEvents[1].recovered, true);
    // Live again after the recovery: patches apply on top of the recovered publications.
    for (let i = 4; i <= 6; i++) await api(server, 'publish', { channel, data: { step: i, value: `hello earth! ${'z'.repeat(200)}` } });
    await waitFor(() => received.length === 6, { what: 'recovered and live publications' });
    assert.deepEqual(received.map((d) => d.step), [1, 2, 3, 4, 5, 6]);
    assert.equal(received[5].value, `hello earth! ${'z'.repeat(200)}`);
    c.disconnect();
  });
}

// centrifuge-js 5.7.1 src/delta.test.ts, "stream delta: successive publications decoded correctly".
test('delta.test.ts #1: 3 similar publications are 1 full + 2 patches and save bytes', async () => {
  const channel = unique('delta');
  const { c, sub, received } = await subscribed(channel);
  const big = 'a'.repeat(500);
  await api(server, 'publish', { channel, data: { counter: 1, payload: big } });
  await api(server, 'publish', { channel, data: { counter: 2, payload: big } });
  await api(server, 'publish', { channel, data: { counter: 3, payload: big.slice(0, -1) + 'b' } });
  await waitFor(() => received.length === 3, { what: 'three publications' });
  assert.deepEqual(received[2], { counter: 3, payload: big.slice(0, -1) + 'b' });
  const stats = sub.deltaStats();
  assert.equal(stats.numFullPayloads, 1);
  assert.equal(stats.numDeltaPayloads, 2);
  assert.ok(stats.bytesReceived < stats.bytesDecoded && stats.compressionRatio > 0);
  c.disconnect();
});

// delta.test.ts #3, "stream delta: recovery after unsubscribe/resubscribe".
test('delta.test.ts #3: publications missed while unsubscribed are recovered and decoded', async () => {
  const channel = unique('delta');
  const { c, sub, received, subscribedEvents } = await subscribed(channel);
  await api(server, 'publish', { channel, data: { n: 1, text: 'base message content' } });
  await waitFor(() => received.length === 1, { what: 'the first publication' });
  sub.unsubscribe();
  await api(server, 'publish', { channel, data: { n: 2, text: 'base message content updated' } });
  await api(server, 'publish', { channel, data: { n: 3, text: 'base message content updated again' } });
  sub.subscribe();
  await waitFor(() => received.length === 3, { what: 'recovered publications' });
  assert.equal(subscribedEvents[1].recovered, true);
  assert.deepEqual(received.slice(1), [
    { n: 2, text: 'base message content updated' },
    { n: 3, text: 'base message content updated again' },
  ]);
  c.disconnect();
});

test('the API delta flag makes patches where the namespace does not; client publishes follow delta_publish', async () => {
  const flagged = unique('deltaflag');
  const { c, sub, received } = await subscribed(flagged);
  for (let i = 0; i < 3; i++) await api(server, 'publish', { channel: flagged, data: payload(i), delta: true });
  for (let i = 3; i < 5; i++) await api(server, 'broadcast', { channels: [flagged], data: payload(i), delta: true });
  await api(server, 'publish', { channel: flagged, data: payload(5) });
  await waitFor(() => received.length === 6, { what: 'six publications' });
  assert.deepEqual(received, Array.from({ length: 6 }, (_, i) => payload(i)));
  assert.deepEqual([sub.deltaStats().numFullPayloads, sub.deltaStats().numDeltaPayloads], [2, 4]);
  c.disconnect();

  const channel = unique('delta');
  const reader = await subscribed(channel, { user: 'reader' });
  const writer = await subscribed(channel, { user: 'writer', protobuf: true });
  for (let i = 0; i < 3; i++) await writer.sub.publish(new TextEncoder().encode(JSON.stringify(payload(i))));
  await waitFor(() => reader.received.length === 3 && writer.received.length === 3, { what: 'client publications' });
  assert.deepEqual(reader.received, [0, 1, 2].map(payload));
  assert.deepEqual(writer.received, [0, 1, 2].map(payload));
  assert.equal(reader.sub.deltaStats().numDeltaPayloads, 2);
  reader.c.disconnect();
  writer.c.disconnect();
});

/** Replies and pushes received so far on a raw JSON socket. */
const lines = (ws) => ws.messages.flatMap((m) => m.split('\n')).map((l) => JSON.parse(l));

async function rawSubscribed(channel, subscribe = {}) {
  const ws = await rawSocket(server);
  ws.send(JSON.stringify({ id: 1, connect: { token: token({ sub: 'raw' }) } }));
  ws.send(JSON.stringify({ id: 2, subscribe: { channel, delta: 'fossil', ...subscribe } }));
  const reply = await waitFor(() => lines(ws).find((l) => l.id === 2), { what: 'subscribe reply' });
  return { ws, reply };
}

test('on the wire: data is a JSON string, later publications are smaller "delta":true patches, recovery is full', async () => {
  const channel = unique('delta');
  const { ws, reply } = await rawSubscribed(channel);
  assert.equal(reply.subscribe.delta, true);
  const published = [0, 1, 2].map(payload);
  for (const data of published) await api(server, 'publish', { channel, data });
  const pubs = await waitFor(() => {
    const found = lines(ws).filter((l) => l.push?.pub).map((l) => l.push.pub);
    return found.length === 3 && found;
  }, { what: 'three pushes' });
  for (const pub of pubs) assert.equal(typeof pub.data, 'string');
  assert.equal(pubs[0].delta, undefined, 'the first is full, delta omitted');
  assert.deepEqual(JSON.parse(pubs[0].data), published[0]);
  for (const pub of pubs.slice(1)) {
    assert.equal(pub.delta, true);
    assert.ok(pub.data.length < JSON.stringify(published[0]).length / 4, pub.data);
  }
  const { epoch } = reply.subscribe;
  ws.close();

  // A recovering subscription: full publications (no delta flag), still JSON strings.
  const again = await rawSubscribed(channel, { recover: true, offset: 1, epoch });
  assert.equal(again.reply.subscribe.recovered, true);
  const recovered = again.reply.subscribe.publications;
  assert.deepEqual(recovered.map((p) => [p.offset, p.delta, typeof p.data]), [[2, undefined, 'string'], [3, undefined, 'string']]);
  assert.deepEqual(recovered.map((p) => JSON.parse(p.data)), published.slice(1));
  again.ws.close();

  // History through the API is never delta-encoded.
  const { body } = await api(server, 'history', { channel, limit: -1 });
  assert.deepEqual(body.result.publications.map((p) => p.data), published);
});

test('a namespace without allowed_delta_types answers without delta and sends plain JSON', async () => {
  const channel = 'chat:no-delta-here';
  const { ws, reply } = await rawSubscribed(channel);
  assert.equal(reply.subscribe.delta, undefined);
  await api(server, 'publish', { channel, data: payload(1) });
  const pub = await waitFor(() => lines(ws).find((l) => l.push?.pub)?.push.pub, { what: 'a push' });
  assert.deepEqual(pub.data, payload(1));
  ws.close();
});

test('an unknown delta type is closed with 3501', async () => {
  const ws = await rawSocket(server);
  ws.send(JSON.stringify({ id: 1, connect: { token: token({ sub: 'raw' }) } }));
  ws.send(JSON.stringify({ id: 2, subscribe: { channel: 'delta:x', delta: 'xdelta' } }));
  assert.equal((await ws.closed).code, 3501);
});
