// Recovery: publications made while a client was away reach it after reconnect exactly once,
// in order, including those published while the recovery itself is being read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, client, connected, once, token, api, waitFor } from './harness.mjs';

let server;
before(async () => { server = await startHerald(); });
after(async () => { await server.stop(); });

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function setup(channel, options = {}) {
  const c = client(server, { token: token({ sub: 'recoverer' }) });
  await connected(c);
  const sub = c.newSubscription(channel, options);
  const received = [];
  const subscribedEvents = [];
  sub.on('publication', (p) => received.push(p.data.n));
  sub.on('subscribed', (ctx) => subscribedEvents.push(ctx));
  const first = once(sub, 'subscribed');
  sub.subscribe();
  await first;
  return { c, sub, received, subscribedEvents };
}

test('publications made during a disconnect are recovered exactly once, in order', async () => {
  const { c, received, subscribedEvents } = await setup('recover-clean');
  for (const n of range(1, 5)) await api(server, 'publish', { channel: 'recover-clean', data: { n } });
  await waitFor(() => received.length === 5, { what: 'live publications' });
  c.disconnect();
  for (const n of range(6, 25)) await api(server, 'publish', { channel: 'recover-clean', data: { n } });
  c.connect();
  await waitFor(() => subscribedEvents.length === 2, { what: 'resubscribe' });
  const ctx = subscribedEvents[1];
  assert.equal(ctx.wasRecovering, true);
  assert.equal(ctx.recovered, true);
  await waitFor(() => received.length >= 25, { what: 'recovered publications' });
  assert.deepEqual(received, range(1, 25));
  c.disconnect();
});

test('publishing continuously across a forced reconnect loses and duplicates nothing', async () => {
  // The chat namespace keeps 1000 publications and lets the client ask for recovery; the
  // publisher stays below that, so everything missed is still in the stream.
  const channel = 'chat:recover-live';
  const { c, received, subscribedEvents } = await setup(channel, { recoverable: true });
  let next = 1;
  let publishing = true;
  const publisher = (async () => {
    while (publishing && next <= 900) {
      await api(server, 'publish', { channel, data: { n: next } });
      next += 1;
    }
  })();
  await waitFor(() => received.length >= 20, { what: 'publications before the drop' });
  // 3011 "force reconnect": the SDK reconnects by itself and recovers.
  await api(server, 'disconnect', { user: 'recoverer', disconnect: { code: 3011, reason: 'force reconnect' } });
  await waitFor(() => subscribedEvents.length === 2, { what: 'automatic resubscribe' });
  await waitFor(() => received.length >= next + 20 || next > 900, { what: 'live publications after recovery' });
  publishing = false;
  await publisher;
  const last = next - 1;
  await waitFor(() => received.length >= last, { what: 'every publication' });
  assert.equal(subscribedEvents[1].recovered, true);
  assert.deepEqual(received, range(1, last));
  c.disconnect();
});

test('a position that the stream no longer has is reported as not recovered', async () => {
  const channel = 'recover-epoch';
  const { c, subscribedEvents } = await setup(channel);
  c.disconnect();
  // Wipe the stream: the publications are gone but the position stays, so this is a gap
  // only when the client's offset is older than what remains. Publish past the history size.
  for (const n of range(1, 120)) await api(server, 'publish', { channel, data: { n } });
  c.connect();
  await waitFor(() => subscribedEvents.length === 2, { what: 'resubscribe' });
  assert.equal(subscribedEvents[1].wasRecovering, true);
  assert.equal(subscribedEvents[1].recovered, false);
  c.disconnect();
});
