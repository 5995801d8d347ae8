// `engine.redis.tls`: herald talks to a `redis-server` that only listens with TLS (a CA and
// certificates made by the `openssl` CLI; client certificates required), and both of its
// connections work: history (command connection) and live publications (PUB/SUB).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { startHerald, defaultConfig, client, connected, publishThrough, api, token, freePort, waitFor } from './harness.mjs';
import { makeCerts } from './certs.mjs';

let certs;
let redis;
let redisPort;
let server;

before(async () => {
  certs = makeCerts();
  const port = await freePort();
  redisPort = port;
  redis = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', certs.serverCert, '--tls-key-file', certs.serverKey,
    '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'yes',
    '--dir', certs.dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  // Ready once a TLS handshake with a client certificate succeeds.
  const ca = readFileSync(certs.ca);
  const cert = readFileSync(certs.clientCert);
  const key = readFileSync(certs.clientKey);
  await waitFor(() => new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, cert, key }, () => { socket.end(); resolve(true); });
    socket.once('error', () => resolve(false));
  }), { what: 'redis-server to accept TLS' });
  const config = defaultConfig();
  config.engine = {
    type: 'redis',
    redis: {
      address: `redis://127.0.0.1:${port}`,
      prefix: 'tls-e2e',
      tls: { enabled: true, server_ca_pem: certs.ca, cert_pem: certs.clientCert, key_pem: certs.clientKey },
    },
  };
  server = await startHerald(config);
});

after(async () => {
  await server?.stop();
  redis?.kill('SIGKILL');
});

test('publications and history go through a TLS-only Redis', async () => {
  const c = client(server, { token: token({ sub: 'tls-redis' }) });
  await connected(c);
  const publications = await publishThrough(server, c, 'chat:tls', 3, 'three publications over PUB/SUB');
  assert.deepEqual(publications, [{ i: 1 }, { i: 2 }, { i: 3 }]);
  const history = await api(server, 'history', { channel: 'chat:tls', limit: -1 });
  assert.deepEqual(history.body.result.publications.map((p) => p.data), [{ i: 1 }, { i: 2 }, { i: 3 }]);
  c.disconnect();
});

test('a server certificate the configured CA did not sign is refused', async () => {
  const config = defaultConfig();
  config.engine = {
    type: 'redis',
    redis: {
      address: `redis://127.0.0.1:${redisPort}`,
      tls: { enabled: true, server_ca_pem: certs.otherCa, cert_pem: certs.clientCert, key_pem: certs.clientKey },
    },
  };
  await assert.rejects(startHerald(config), /exited early[\s\S]*(certificate|UnknownIssuer)/i);
});
