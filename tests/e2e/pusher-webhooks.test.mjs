// Webhooks in Pusher's format: each event once, signed so that the npm `pusher` library's own
// WebHook check accepts it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startHerald, sleep, waitFor } from './harness.mjs';
import { APP, pusherConfig, serverLib, pusherClient, pusherConnected, pusherSubscribed } from './pusher.mjs';

let server;
let receiver;
const received = [];
const clients = [];

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const config = pusherConfig();
  config.pusher.apps[0].webhooks = [{
    url: `http://127.0.0.1:${receiver.address().port}/pusher`,
    // A configured header never replaces the signature.
    headers: { 'X-Custom': 'yes', 'X-Pusher-Signature': 'forged' },
  }];
  config.pusher.apps[0].subscription_count = true;
  server = await startHerald(config);
});
after(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
  receiver?.close();
});

async function connect(options = {}) {
  const c = pusherClient(server, options);
  clients.push(c);
  return pusherConnected(c);
}

/** Every event received so far, each request's signature checked by the npm library. */
function events() {
  const lib = serverLib(server);
  return received.flatMap(({ headers, body }) => {
    const hook = lib.webhook({ headers, rawBody: body });
    assert.ok(hook.isValid(), `a valid signature on ${body}`);
    assert.equal(headers['x-pusher-key'], APP.key);
    assert.equal(headers['x-custom'], 'yes');
    assert.ok(Math.abs(JSON.parse(body).time_ms - Date.now()) < 60000, 'time_ms in milliseconds');
    return hook.getEvents();
  });
}

const named = (name, channel) => events().filter((e) => e.name === name && e.channel === channel);

test('occupied, member_added, client_event, cache_miss, subscription_count, member_removed and vacated, each once', async () => {
  const amy = await connect({ user: 'amy' });
  const bob = await connect({ user: 'bob' });
  const room = await pusherSubscribed(amy, 'presence-hooks');
  await pusherSubscribed(bob, 'presence-hooks');
  await waitFor(() => named('channel_occupied', 'presence-hooks').length === 1, { what: 'channel_occupied' });
  await waitFor(() => named('member_added', 'presence-hooks').length === 2, { what: 'member_added twice' });
  assert.deepEqual(named('member_added', 'presence-hooks').map((e) => e.user_id).sort(), ['amy', 'bob']);

  room.trigger('client-wave', { hi: true });
  await waitFor(() => named('client_event', 'presence-hooks').length === 1, { what: 'client_event' });
  const event = named('client_event', 'presence-hooks')[0];
  assert.equal(event.event, 'client-wave');
  assert.deepEqual(event.data, { hi: true });
  assert.equal(event.socket_id, amy.connection.socket_id);
  assert.equal(event.user_id, 'amy');

  amy.subscribe('cache-hooks');
  await waitFor(() => named('cache_miss', 'cache-hooks').length === 1, { what: 'cache_miss' });
  await pusherSubscribed(bob, 'counted-hooks');
  await waitFor(() => named('subscription_count', 'counted-hooks').length === 1, { what: 'subscription_count' });
  assert.equal(named('subscription_count', 'counted-hooks')[0].subscription_count, 1);

  bob.unsubscribe('presence-hooks');
  await waitFor(() => named('member_removed', 'presence-hooks').length === 1, { what: 'member_removed' });
  amy.unsubscribe('presence-hooks');
  await waitFor(() => named('channel_vacated', 'presence-hooks').length === 1, { what: 'channel_vacated' });
  await sleep(500);
  assert.equal(named('channel_occupied', 'presence-hooks').length, 1);
  assert.equal(named('member_removed', 'presence-hooks').length, 2);
  assert.equal(named('channel_vacated', 'presence-hooks').length, 1);
  // Another app's channels never show up here.
  assert.ok(events().every((e) => !e.channel.startsWith('__')));
});
