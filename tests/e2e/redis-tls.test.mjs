// `engine.redis.tls`: herald talks to a `redis-server` that only listens with TLS (a CA and
// certificates made by the `openssl` CLI; client certificates required), and both of its
// connections work: history and recovery (command connection), live publications (PUB/SUB).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { startHerald, defaultConfig, client, connected, once, api, token, freePort, waitFor } from './harness.mjs';

const dir = mkdtempSync(join(tmpdir(), 'herald-redis-tls-'));
const file = (name) => join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { stdio: 'ignore' });

/** A CA, and a certificate signed by it for `name` (server: 127.0.0.1, or a client). */
function makeCerts() {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', file('ca.key'), '-out', file('ca.crt'), '-days', '2', '-subj', '/CN=herald test CA');
  for (const [name, ext] of [['server', 'subjectAltName=IP:127.0.0.1'], ['client', 'extendedKeyUsage=clientAuth']]) {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${name}`);
    const extFile = file(`${name}.ext`);
    execFileSync('sh', ['-c', `printf '%s\\n' '${ext}' > '${extFile}'`]);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'), '-CAkey', file('ca.key'),
      '-CAcreateserial', '-out', file(`${name}.crt`), '-days', '2', '-extfile', extFile);
  }
}

let redis;
let redisPort;
let server;

before(async () => {
  makeCerts();
  const port = await freePort();
  redisPort = port;
  redis = spawn('redis-server', ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', file('server.crt'), '--tls-key-file', file('server.key'),
    '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', 'yes',
    '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  // Ready once a TLS handshake with a client certificate succeeds.
  const ca = readFileSync(file('ca.crt'));
  const cert = readFileSync(file('client.crt'));
  const key = readFileSync(file('client.key'));
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
      tls: { enabled: true, server_ca_pem: file('ca.crt'), cert_pem: file('client.crt'), key_pem: file('client.key') },
    },
  };
  server = await startHerald(config);
});

after(async () => {
  await server?.stop();
  redis?.kill('SIGKILL');
});

test('publications, history and recovery go through a TLS-only Redis', async () => {
  const c = client(server, { token: token({ sub: 'tls-redis' }) });
  await connected(c);
  const sub = c.newSubscription('chat:tls');
  const subscribed = once(sub, 'subscribed');
  const publications = [];
  sub.on('publication', (ctx) => publications.push(ctx.data));
  sub.subscribe();
  await subscribed;
  for (let i = 1; i <= 3; i += 1) {
    const reply = await api(server, 'publish', { channel: 'chat:tls', data: { i } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.error, undefined, JSON.stringify(reply.body));
  }
  await waitFor(() => publications.length === 3, { what: 'three publications over PUB/SUB' });
  assert.deepEqual(publications, [{ i: 1 }, { i: 2 }, { i: 3 }]);
  const history = await api(server, 'history', { channel: 'chat:tls', limit: -1 });
  assert.deepEqual(history.body.result.publications.map((p) => p.data), [{ i: 1 }, { i: 2 }, { i: 3 }]);
  c.disconnect();
});

test('a server certificate the configured CA did not sign is refused', async () => {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', file('other.key'), '-out', file('other.crt'), '-days', '2', '-subj', '/CN=another CA');
  const config = defaultConfig();
  config.engine = {
    type: 'redis',
    redis: {
      address: `redis://127.0.0.1:${redisPort}`,
      tls: { enabled: true, server_ca_pem: file('other.crt'), cert_pem: file('client.crt'), key_pem: file('client.key') },
    },
  };
  await assert.rejects(startHerald(config), /exited early[\s\S]*(certificate|UnknownIssuer)/i);
});
