// JWKS (`client.token.jwks_public_endpoint`): a key server on a free port serves a key set
// that the test rotates and takes down; SDK clients connect and subscribe with tokens signed by
// keys in and out of the set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { startHerald, defaultConfig, client, connected, once, waitFor, freePort } from './harness.mjs';

const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyB = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyC = generateKeyPairSync('rsa', { modulusLength: 2048 }); // never published

const jwk = (pair, kid) => ({ ...pair.publicKey.export({ format: 'jwk' }), kid, use: 'sig' });
const sign = (pair, kid, claims, algorithm) => jwt.sign(claims, pair.privateKey, { algorithm, keyid: kid, expiresIn: 3600 });
const tokenA = (claims = { sub: 'alice' }) => sign(keyA, 'A', claims, 'RS256');
const tokenB = (claims = { sub: 'bob' }) => sign(keyB, 'B', claims, 'ES256');

// What the key server answers: a key set, or 503 while `down`.
const keyServer = { keys: [jwk(keyA, 'A')], down: false, hits: 0 };
let http;
let server;

before(async () => {
  const port = await freePort();
  http = createServer((req, res) => {
    keyServer.hits += 1;
    if (keyServer.down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keyServer.keys }));
  });
  await new Promise((r) => http.listen(port, '127.0.0.1', r));
  const config = defaultConfig();
  config.client.token = { jwks_public_endpoint: `http://127.0.0.1:${port}/jwks` };
  server = await startHerald(config);
});

after(async () => {
  await server?.stop();
  // Herald's HTTP client keeps its connection to the key server open.
  http?.closeAllConnections();
  await new Promise((r) => http?.close(r));
});

/** Connects a client with `token`; resolves 'connected' or the disconnect code. */
async function tryConnect(token) {
  const c = client(server, { token });
  const outcome = Promise.race([
    once(c, 'connected').then(() => 'connected'),
    once(c, 'disconnected').then((ctx) => ctx.code),
  ]);
  c.connect();
  const result = await outcome;
  c.disconnect();
  return result;
}

test('a token signed with the published key connects; kid not in the set or a foreign key is refused', async () => {
  assert.equal(await tryConnect(tokenA()), 'connected');
  // Signed with a key that is not published, under the kid of one that is.
  assert.equal(await tryConnect(sign(keyC, 'A', { sub: 'mallory' }, 'RS256')), 3500);
  // A kid the set does not have, even after the refetch it causes.
  const hits = keyServer.hits;
  assert.equal(await tryConnect(sign(keyC, 'C', { sub: 'mallory' }, 'RS256')), 3500);
  await waitFor(async () => {
    if (keyServer.hits > hits) return true;
    // The refetch is rate limited: ask again until one goes out.
    assert.equal(await tryConnect(sign(keyC, 'C', { sub: 'mallory' }, 'RS256')), 3500);
    return false;
  }, { what: 'a refetch for the unknown kid' });
  // No kid at all.
  assert.equal(await tryConnect(jwt.sign({ sub: 'mallory' }, keyA.privateKey, { algorithm: 'RS256' })), 3500);
});

test('subscription tokens are checked against the set too', async () => {
  const c = client(server, { token: tokenA() });
  await connected(c);
  const good = c.newSubscription('chat:jwks', { token: tokenA({ sub: 'alice', channel: 'chat:jwks' }) });
  const subscribed = once(good, 'subscribed');
  good.subscribe();
  await subscribed;
  const bad = c.newSubscription('chat:other', { token: sign(keyC, 'A', { sub: 'alice', channel: 'chat:other' }, 'RS256') });
  const unsubscribed = once(bad, 'unsubscribed');
  bad.subscribe();
  assert.equal((await unsubscribed).code, 103);
  c.disconnect();
});

test('after a rotation the new kid is fetched and accepted, the removed one refused', async () => {
  keyServer.keys = [jwk(keyB, 'B')];
  // The first try may fall inside the refetch rate limit of the previous test; retry until the
  // refetch happens (bounded by waitFor).
  await waitFor(async () => (await tryConnect(tokenB())) === 'connected', { what: 'kid B accepted' });
  assert.equal(await tryConnect(tokenA()), 3500, 'key A left the set');
});

test('key server down: unknown kids refused, cached keys still work', async () => {
  keyServer.down = true;
  const keyD = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyServer.keys = [jwk(keyB, 'B'), jwk(keyD, 'D')]; // what it would serve if it were up
  const hits = keyServer.hits;
  await waitFor(async () => {
    assert.equal(await tryConnect(sign(keyD, 'D', { sub: 'dave' }, 'RS256')), 3500);
    return keyServer.hits > hits;
  }, { what: 'a failed fetch for kid D' });
  assert.equal(await tryConnect(sign(keyD, 'D', { sub: 'dave' }, 'RS256')), 3500);
  assert.equal(await tryConnect(tokenB()), 'connected');
  // Back up: D is fetched on its next use.
  keyServer.down = false;
  await waitFor(async () => (await tryConnect(sign(keyD, 'D', { sub: 'dave' }, 'RS256'))) === 'connected', { what: 'kid D accepted' });
});
