// permessage-deflate with the real SDK over the npm `ws` package, whose client offers the
// extension (and compresses its own messages of 1 KiB and more): JSON and Protobuf, large
// publications compressed both ways, small ones under websocket.compression_min_size plain.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startHerald, defaultConfig, client, connected, once, collect, token, api, waitFor } from './harness.mjs';

let server;
before(async () => {
  const config = defaultConfig();
  config.websocket = { compression: true, compression_min_size: 128 };
  config.uni_websocket = { enabled: true, compression: true, compression_min_size: 128 };
  server = await startHerald(config);
});
after(async () => { await server.stop(); });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `ws` with permessage-deflate offered, remembering what each socket negotiated. */
const sockets = [];
class DeflateWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { perMessageDeflate: true });
    sockets.push(this);
  }
}

for (const protobuf of [false, true]) {
  const name = protobuf ? 'Protobuf' : 'JSON';
  test(`${name}: the SDK negotiates permessage-deflate and every publication arrives intact`, async () => {
    const c = client(server, { token: token({ sub: 'deflate' }), websocket: DeflateWebSocket }, { protobuf });
    await connected(c);
    const socket = sockets.at(-1);
    // `ws` lists the names of the extensions in use (the parameters are checked in
    // crates/herald-server/tests/it/deflate.rs).
    assert.equal(socket.extensions, 'permessage-deflate', 'the server accepted the offer');

    const channel = `deflate-${name}`;
    const sub = c.newSubscription(channel);
    const received = collect(sub, 'publication');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;

    const large = { text: 'the same words again and again, '.repeat(200), n: 1 };
    const small = { n: 2 };
    const fromClient = { text: 'sent compressed by the client, '.repeat(100), n: 3 };
    await api(server, 'publish', { channel, data: large });
    await api(server, 'publish', { channel, data: small });
    // ws compresses a client message of 1 KiB and more: the server inflates it.
    // A Protobuf client publishes bytes; these are the JSON bytes, as in protobuf.test.mjs.
    await sub.publish(protobuf ? encoder.encode(JSON.stringify(fromClient)) : fromClient);
    await waitFor(() => received.length === 3, { what: 'three publications' });
    const data = received.map((p) => (protobuf ? JSON.parse(decoder.decode(p.data)) : p.data));
    assert.deepEqual(data, [large, small, fromClient]);
    c.disconnect();
  });
}

test('a client that does not offer the extension gets a plain WebSocket', async () => {
  class PlainWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { perMessageDeflate: false });
      sockets.push(this);
    }
  }
  const c = client(server, { token: token({ sub: 'plain' }), websocket: PlainWebSocket });
  await connected(c);
  assert.equal(sockets.at(-1).extensions, '');
  const sub = c.newSubscription('deflate-plain');
  const received = collect(sub, 'publication');
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  await subscribed;
  const large = { text: 'x'.repeat(5000) };
  await api(server, 'publish', { channel: 'deflate-plain', data: large });
  await waitFor(() => received.length === 1, { what: 'the publication' });
  assert.deepEqual(received[0].data, large);
  c.disconnect();
});

test('uni_websocket with compression: large bare pushes arrive compressed and intact', async () => {
  const request = JSON.stringify({ token: token({ sub: 'uni-deflate', channels: ['uni-deflate'] }) });
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/connection/uni_websocket`, { perMessageDeflate: true });
  const frames = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await once(ws, 'open');
  assert.equal(ws.extensions, 'permessage-deflate', 'the server accepted the offer');
  ws.send(request);
  await waitFor(() => frames.length >= 1, { what: 'connect push' });
  const big = { text: 'x'.repeat(4000) };
  await api(server, 'publish', { channel: 'uni-deflate', data: big });
  await api(server, 'publish', { channel: 'uni-deflate', data: { small: 1 } });
  await waitFor(() => frames.filter((f) => f.pub).length === 2, { what: 'both publications' });
  assert.deepEqual(frames.filter((f) => f.pub).map((f) => f.pub.data), [big, { small: 1 }]);
  ws.close();
});
