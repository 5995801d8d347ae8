// Connection authentication with the real SDK: HS, RS and ES tokens, expiry (109), invalid
// tokens (3500), and the anonymous user.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import { startHerald, client, connected, once, token, rsa, ecdsa, api } from './harness.mjs';

let server;
before(async () => { server = await startHerald(); });
after(async () => { await server.stop(); });

for (const [name, sign] of [
  ['HS256', () => token({ sub: 'alice' })],
  ['HS512', () => jwt.sign({ sub: 'alice' }, 'e2e-secret', { algorithm: 'HS512' })],
  ['RS256', () => jwt.sign({ sub: 'alice' }, rsa.privateKey, { algorithm: 'RS256' })],
  ['ES256', () => jwt.sign({ sub: 'alice' }, ecdsa.privateKey, { algorithm: 'ES256' })],
]) {
  test(`connects with a ${name} token and is seen as its user`, async () => {
    const c = client(server, { token: sign() });
    const ctx = await connected(c);
    assert.match(ctx.client, /^[0-9a-f-]{36}$/);
    const sub = c.newSubscription('auth-check');
    const subscribed = once(sub, 'subscribed');
    sub.subscribe();
    await subscribed;
    const presence = await api(server, 'presence', { channel: 'auth-check' });
    const entry = presence.body.result.presence[ctx.client];
    assert.equal(entry.user, 'alice');
    c.disconnect();
  });
}

test('an expired token gets error 109 and the SDK connects with a fresh token from getToken', async () => {
  let calls = 0;
  const c = client(server, {
    token: token({ sub: 'bob', exp: Math.floor(Date.now() / 1000) - 10 }),
    getToken: async () => { calls += 1; return token({ sub: 'bob' }, { expiresIn: 3600 }); },
  });
  const error = once(c, 'error');
  const ok = once(c, 'connected');
  c.connect();
  const ctx = await error;
  assert.equal(ctx.type, 'connect');
  assert.equal(ctx.error.code, 109);
  const connectedCtx = await ok;
  assert.equal(calls, 1);
  assert.ok(connectedCtx.client);
  c.disconnect();
});

test('a token with a bad signature is disconnected with 3500 and not retried', async () => {
  const c = client(server, { token: jwt.sign({ sub: 'mallory' }, 'wrong-secret', { algorithm: 'HS256' }) });
  const disconnected = once(c, 'disconnected');
  c.connect();
  const ctx = await disconnected;
  assert.equal(ctx.code, 3500);
  assert.equal(c.state, 'disconnected');
});

test('the connect reply carries expiry and the SDK refreshes the token with the refresh command', async () => {
  let refreshed = 0;
  const c = client(server, {
    token: token({ sub: 'carol', exp: Math.floor(Date.now() / 1000) + 2 }),
    getToken: async () => { refreshed += 1; return token({ sub: 'carol' }, { expiresIn: 3600 }); },
  });
  await connected(c);
  // The SDK refreshes after ttl seconds; nothing closes the connection meanwhile.
  const deadline = Date.now() + 8000;
  while (refreshed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(refreshed, 1);
  assert.equal(c.state, 'connected');
  c.disconnect();
});

test('a connection token with channels subscribes server-side', async () => {
  const c = client(server, { token: token({ sub: 'dave', channels: ['server-side'] }) });
  const subscribed = once(c, 'subscribed');
  await connected(c);
  const ctx = await subscribed;
  assert.equal(ctx.channel, 'server-side');
  const publication = once(c, 'publication');
  const published = await api(server, 'publish', { channel: 'server-side', data: { hello: 'dave' } });
  assert.ok(published.body.result.offset >= 1);
  const pub = await publication;
  assert.deepEqual(pub.data, { hello: 'dave' });
  c.disconnect();
});
