// Raw WebSocket: malformed input gets its documented close code and the server keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, rawSocket, token, client, connected } from './harness.mjs';

let server;
before(async () => { server = await startHerald({ ...(await import('./harness.mjs')).defaultConfig(), websocket: { message_size_limit: 1024 } }); });
after(async () => { await server.stop(); });

const connect = (id = 1) => JSON.stringify({ id, connect: { token: token({ sub: 'raw' }) } });

test('garbage is closed with 3501 bad request', async () => {
  const ws = await rawSocket(server);
  ws.send('this is not json');
  assert.deepEqual(await ws.closed, { code: 3501, reason: 'bad request' });
});

test('a command before connect is closed with 3501', async () => {
  const ws = await rawSocket(server);
  ws.send(JSON.stringify({ id: 1, subscribe: { channel: 'x' } }));
  assert.equal((await ws.closed).code, 3501);
});

test('a second connect is closed with 3501', async () => {
  const ws = await rawSocket(server);
  ws.send(connect(1));
  ws.send(connect(2));
  const closed = await ws.closed;
  assert.equal(closed.code, 3501);
  assert.match(ws.messages[0], /^\{"id":1,"connect":\{"client":"/);
});

test('an oversize message is closed with 1009', async () => {
  const ws = await rawSocket(server);
  ws.send(connect(1));
  ws.send(JSON.stringify({ id: 2, publish: { channel: 'x', data: { pad: 'x'.repeat(4096) } } }));
  assert.equal((await ws.closed).code, 1009);
});

test('a protobuf connection sending JSON is closed with 3501', async () => {
  const ws = await rawSocket(server, { protocols: ['centrifuge-protobuf'] });
  assert.equal(ws.protocol, 'centrifuge-protobuf');
  ws.send(Buffer.from('{"id":1,"connect":{}}'));
  assert.equal((await ws.closed).code, 3501);
});

test('JSON framing: several commands in one frame get replies in order', async () => {
  const ws = await rawSocket(server);
  ws.send([connect(1), JSON.stringify({ id: 2, subscribe: { channel: 'framing' } }), JSON.stringify({ id: 3, unsubscribe: { channel: 'framing' } })].join('\n'));
  const deadline = Date.now() + 5000;
  const lines = () => ws.messages.flatMap((m) => m.split('\n')).filter((l) => !l.startsWith('{"push"'));
  while (lines().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const replies = lines().map((l) => JSON.parse(l));
  assert.deepEqual(replies.map((r) => r.id), [1, 2, 3]);
  assert.deepEqual(replies[2], { id: 3, unsubscribe: {} });
  ws.close();
});

test('the server keeps serving other clients after all that', async () => {
  const c = client(server, { token: token({ sub: 'after' }) });
  const ctx = await connected(c);
  assert.ok(ctx.client);
  c.disconnect();
});
