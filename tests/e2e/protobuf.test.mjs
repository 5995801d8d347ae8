// The Protobuf protocol with the SDK's protobuf build: connect, subscribe, publications,
// presence and history, and JSON and Protobuf clients in the same channel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, client, connected, once, collect, token, api, waitFor } from './harness.mjs';

let server;
before(async () => { server = await startHerald(); });
after(async () => { await server.stop(); });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

test('a protobuf client subscribes, receives API publications and client publications', async () => {
  const pb = client(server, { token: token({ sub: 'pb' }) }, { protobuf: true });
  const json = client(server, { token: token({ sub: 'js' }) });
  await connected(pb);
  await connected(json);
  const pbSub = pb.newSubscription('mixed');
  const jsonSub = json.newSubscription('mixed');
  const s1 = once(pbSub, 'subscribed');
  const s2 = once(jsonSub, 'subscribed');
  pbSub.subscribe();
  jsonSub.subscribe();
  await s1;
  await s2;
  const atPb = collect(pbSub, 'publication');
  const atJson = collect(jsonSub, 'publication');
  await api(server, 'publish', { channel: 'mixed', data: { from: 'api' } });
  await pbSub.publish(encoder.encode(JSON.stringify({ from: 'pb' })));
  await waitFor(() => atPb.length === 2 && atJson.length === 2, { what: 'publications on both clients' });
  assert.deepEqual(atPb.map((p) => JSON.parse(decoder.decode(p.data))), [{ from: 'api' }, { from: 'pb' }]);
  assert.deepEqual(atJson.map((p) => p.data), [{ from: 'api' }, { from: 'pb' }]);
  assert.equal(atPb[1].info.user, 'pb');
  assert.ok(atPb[0].offset >= 1);

  const stats = await pbSub.presenceStats();
  assert.equal(stats.numClients, 2);
  const history = await pbSub.history({ limit: -1 });
  assert.equal(history.publications.length, 2);
  await assert.rejects(pb.rpc('nothing', encoder.encode('{}')), (err) => err.code === 108);
  pb.disconnect();
  json.disconnect();
});

test('a protobuf client recovers missed publications', async () => {
  const pb = client(server, { token: token({ sub: 'pb2' }) }, { protobuf: true });
  await connected(pb);
  const sub = pb.newSubscription('pb-recover');
  const events = collect(sub, 'subscribed');
  const received = [];
  sub.on('publication', (p) => received.push(JSON.parse(decoder.decode(p.data)).n));
  sub.subscribe();
  await waitFor(() => events.length === 1, { what: 'subscribed' });
  pb.disconnect();
  for (let n = 1; n <= 10; n += 1) await api(server, 'publish', { channel: 'pb-recover', data: { n } });
  pb.connect();
  await waitFor(() => events.length === 2 && received.length === 10, { what: 'recovery' });
  assert.equal(events[1].recovered, true);
  assert.deepEqual(received, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  pb.disconnect();
});
