// Prometheus metrics (`prometheus.*`): /metrics is scraped around an SDK session and every
// counter the session moves must have moved by exactly what the session did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, defaultConfig, client, connected, token, api, once, waitFor } from './harness.mjs';

/** Scrapes `path` and parses the text format into `name{labels}` -> value. */
async function scrape(server, path = '/metrics') {
  const response = await fetch(`${server.base}${path}`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const samples = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

/** A sample's value, 0 when the series is not there yet. */
const value = (samples, key) => samples.get(key) ?? 0;

/** Each key's increase from `before` to `after`. */
function deltas(before, after, keys) {
  return Object.fromEntries(keys.map((k) => [k, value(after, k) - value(before, k)]));
}

function enabled() {
  const config = defaultConfig();
  config.prometheus = { enabled: true };
  return config;
}

test('an SDK session moves the counters by what it did', async () => {
  const server = await startHerald(enabled());
  try {
    const before = await scrape(server);
    assert.equal(value(before, 'centrifugo_node_num_clients'), 0);

    const alice = client(server, { token: token({ sub: 'alice' }) });
    const bob = client(server, { token: token({ sub: 'bob' }) });
    await connected(alice);
    await connected(bob);
    const received = { alice: [], bob: [] };
    for (const [name, c] of [['alice', alice], ['bob', bob]]) {
      const sub = c.newSubscription('news');
      sub.on('publication', (ctx) => received[name].push(ctx.data));
      const subscribed = once(sub, 'subscribed');
      sub.subscribe();
      await subscribed;
    }
    const gauges = await scrape(server);
    assert.equal(value(gauges, 'centrifugo_node_num_clients'), 2);
    assert.equal(value(gauges, 'centrifugo_node_num_users'), 2);
    assert.equal(value(gauges, 'centrifugo_node_num_subscriptions'), 2);
    assert.equal(value(gauges, 'centrifugo_node_num_channels'), 1);

    // Three publications through the API and one from a client: four, each to two subscribers.
    for (let i = 0; i < 3; i++) {
      assert.equal((await api(server, 'publish', { channel: 'news', data: { i } })).status, 200);
    }
    await alice.getSubscription('news').publish({ i: 3 });
    await waitFor(() => received.alice.length === 4 && received.bob.length === 4, { what: 'four publications each' });

    // 103: a namespace that does not allow subscribing; 102: a namespace that does not exist.
    for (const channel of ['locked:x', 'nosuchns:x']) {
      const sub = alice.newSubscription(channel);
      const unsubscribed = once(sub, 'unsubscribed');
      sub.subscribe();
      await unsubscribed;
      alice.removeSubscription(sub);
    }

    // The API disconnects bob with a code of our choosing (45xx: the SDK does not reconnect).
    const bobGone = once(bob, 'disconnected');
    const disconnect = await api(server, 'disconnect', { user: 'bob', disconnect: { code: 4507, reason: 'metrics test' } });
    assert.equal(disconnect.status, 200);
    assert.equal((await bobGone).code, 4507);
    await waitFor(async () => value(await scrape(server), 'centrifugo_node_num_clients') === 1, { what: 'bob gone from the gauge' });

    const after = await scrape(server);
    const ws = (frameType) => `{transport="websocket",frame_type="${frameType}"}`;
    assert.deepEqual(
      deltas(before, after, [
        `centrifugo_transport_messages_received${ws('connect')}`,
        `centrifugo_transport_messages_received${ws('subscribe')}`,
        `centrifugo_transport_messages_received${ws('publish')}`,
        `centrifugo_transport_messages_sent${ws('connect')}`,
        `centrifugo_transport_messages_sent${ws('subscribe')}`,
        `centrifugo_transport_messages_sent${ws('publish')}`,
        'centrifugo_node_messages_sent_count{type="publication"}',
        'centrifugo_node_messages_received_count{type="publication"}',
        'centrifugo_client_num_reply_errors{method="subscribe",code="103"}',
        'centrifugo_client_num_reply_errors{method="subscribe",code="102"}',
        'centrifugo_client_num_server_disconnects{code="4507"}',
        'centrifugo_client_command_duration_seconds_histogram_count{method="subscribe"}',
        'centrifugo_api_command_duration_seconds_histogram_count{protocol="http",method="publish"}',
        'centrifugo_api_command_duration_seconds_histogram_count{protocol="http",method="disconnect"}',
        'centrifugo_broker_duration_seconds_histogram_count{op="publish"}',
      ]),
      {
        [`centrifugo_transport_messages_received${ws('connect')}`]: 2,
        [`centrifugo_transport_messages_received${ws('subscribe')}`]: 4,
        [`centrifugo_transport_messages_received${ws('publish')}`]: 1,
        [`centrifugo_transport_messages_sent${ws('connect')}`]: 2,
        [`centrifugo_transport_messages_sent${ws('subscribe')}`]: 4,
        [`centrifugo_transport_messages_sent${ws('publish')}`]: 1,
        'centrifugo_node_messages_sent_count{type="publication"}': 8,
        'centrifugo_node_messages_received_count{type="publication"}': 4,
        'centrifugo_client_num_reply_errors{method="subscribe",code="103"}': 1,
        'centrifugo_client_num_reply_errors{method="subscribe",code="102"}': 1,
        'centrifugo_client_num_server_disconnects{code="4507"}': 1,
        'centrifugo_client_command_duration_seconds_histogram_count{method="subscribe"}': 4,
        'centrifugo_api_command_duration_seconds_histogram_count{protocol="http",method="publish"}': 3,
        'centrifugo_api_command_duration_seconds_histogram_count{protocol="http",method="disconnect"}': 1,
        'centrifugo_broker_duration_seconds_histogram_count{op="publish"}': 4,
      },
    );
    // Histograms are well formed: the +Inf bucket is the count.
    const key = 'centrifugo_client_command_duration_seconds_histogram';
    assert.equal(
      value(after, `${key}_bucket{method="subscribe",le="+Inf"}`),
      value(after, `${key}_count{method="subscribe"}`),
    );
    alice.disconnect();
  } finally {
    await server.stop();
  }
});

test('handler_prefix moves the endpoint; disabled, the path is a 404', async () => {
  const config = enabled();
  config.prometheus.handler_prefix = '/custom/metrics';
  const server = await startHerald(config);
  try {
    const samples = await scrape(server, '/custom/metrics');
    assert.ok(samples.has('centrifugo_node_num_clients'));
    assert.equal((await fetch(`${server.base}/metrics`)).status, 404);
  } finally {
    await server.stop();
  }
  const off = await startHerald(defaultConfig());
  try {
    assert.equal((await fetch(`${off.base}/metrics`)).status, 404);
  } finally {
    await off.stop();
  }
});
