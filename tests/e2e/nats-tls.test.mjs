// `broker.nats.tls`: herald's NATS broker over TLS to a `nats-server` that requires it (and a
// client certificate), with certificates made by the `openssl` CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { startHerald, defaultConfig, client, connected, publishThrough, token, freePort, waitFor } from './harness.mjs';
import { makeCerts } from './certs.mjs';

let certs;
let nats;
let natsPort;
let server;

function natsBrokerConfig(tls) {
  const config = defaultConfig();
  config.broker = { enabled: true, type: 'nats', nats: { url: `nats://127.0.0.1:${natsPort}`, prefix: 'tls', tls } };
  config.channel = { without_namespace: { allow_subscribe_for_client: true, allow_publish_for_subscriber: true } };
  return config;
}

before(async () => {
  certs = makeCerts();
  natsPort = await freePort();
  const conf = join(certs.dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${natsPort}
tls {
  cert_file: "${certs.serverCert}"
  key_file: "${certs.serverKey}"
  ca_file: "${certs.ca}"
  verify: true
}
`);
  nats = spawn('nats-server', ['-c', conf], { stdio: 'ignore' });
  await waitFor(() => new Promise((resolve) => {
    const socket = connect(natsPort, '127.0.0.1', () => { socket.end(); resolve(true); });
    socket.once('error', () => resolve(false));
  }), { what: 'nats-server to listen' });
  server = await startHerald(natsBrokerConfig({
    enabled: true, server_ca_pem: certs.ca, cert_pem: certs.clientCert, key_pem: certs.clientKey,
  }));
});

after(async () => {
  await server?.stop();
  nats?.kill('SIGKILL');
});

test('publications travel through a NATS server that requires TLS', async () => {
  const c = client(server, { token: token({ sub: 'tls-nats' }) });
  await connected(c);
  const publications = await publishThrough(server, c, 'nats-tls', 3, 'three publications through NATS');
  assert.deepEqual(publications, [{ i: 1 }, { i: 2 }, { i: 3 }]);
  c.disconnect();
});

test('a server certificate from another CA is refused at start-up', async () => {
  await assert.rejects(startHerald(natsBrokerConfig({
    enabled: true, server_ca_pem: certs.otherCa, cert_pem: certs.clientCert, key_pem: certs.clientKey,
  })), /exited early[\s\S]*(certificate|UnknownIssuer|tls)/i);
});
