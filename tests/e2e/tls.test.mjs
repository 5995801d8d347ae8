// `http_server.tls`: the SDK over wss:// to a self-signed certificate the test trusts; the
// certificate files are replaced on disk and new connections get the new certificate; a broken
// replacement keeps the previous one. Certificates come from the `openssl` CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:https';
import { X509Certificate } from 'node:crypto';
import WebSocket from 'ws';
import { Centrifuge } from 'centrifuge';
import { HERALD_BIN, defaultConfig, freePort, waitFor, once, token } from './harness.mjs';

const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
const certPath = join(dir, 'cert.pem');
const keyPath = join(dir, 'key.pem');

/** A self-signed certificate for 127.0.0.1: { cert, key } PEM text. */
function selfSigned(name) {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
  { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

/** Replaces a file at once (write beside it, rename over it). */
function replace(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const first = selfSigned('first');
const second = selfSigned('second');
const fingerprint = (pem) => new X509Certificate(pem).fingerprint256;
const ca = [first.cert, second.cert];

let child;
let output = '';
let port;

/** GET over https trusting both certificates; resolves the status, or null on an error. */
function httpsStatus(path) {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path, ca }, (res) => { res.resume(); resolve(res.statusCode); })
      .on('error', () => resolve(null));
  });
}

before(async () => {
  writeFileSync(certPath, first.cert);
  writeFileSync(keyPath, first.key);
  const config = defaultConfig();
  config.http_server = { tls: { enabled: true, cert_pem: certPath, key_pem: keyPath } };
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config));
  port = await freePort();
  child = spawn(HERALD_BIN, ['serve', '--config', configPath, '--port', String(port), '--address', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`herald exited early:\n${output}`);
    return (await httpsStatus('/health')) === 200;
  }, { what: 'herald /health over https' });
});

after(() => { child?.kill('SIGKILL'); });

/** A `ws` class for the SDK that trusts the test certificates and records each peer's. */
function trustingWebSocket(seen) {
  return class extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, { ca });
      this.once('upgrade', (res) => seen.push(res.socket.getPeerCertificate().fingerprint256));
    }
  };
}

/** Connects an SDK client over wss://; resolves { client, fingerprint }. */
async function connectWss() {
  const seen = [];
  const c = new Centrifuge(`wss://127.0.0.1:${port}/connection/websocket`, {
    websocket: trustingWebSocket(seen), token: token({ sub: 'tls-user' }), minReconnectDelay: 50, maxReconnectDelay: 200,
  });
  const connected = once(c, 'connected');
  c.connect();
  await connected;
  return { client: c, fingerprint: seen[0] };
}

test('the SDK connects over wss:// and messages flow', async () => {
  const { client, fingerprint: fp } = await connectWss();
  assert.equal(fp, fingerprint(first.cert));
  const sub = client.newSubscription('tls-room');
  const publication = once(sub, 'publication');
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  await subscribed;
  await sub.publish({ over: 'tls' });
  assert.deepEqual((await publication).data, { over: 'tls' });
  client.disconnect();
});

test('a client that does not trust the certificate cannot connect', async () => {
  const ws = new WebSocket(`wss://127.0.0.1:${port}/connection/websocket`);
  const error = await new Promise((resolve) => { ws.once('error', resolve); ws.once('open', () => resolve(null)); });
  assert.ok(error, 'the handshake must fail without the test CA');
  assert.match(String(error.code ?? error.message), /SELF_SIGNED|self.signed|DEPTH_ZERO/i);
});

test('replaced certificate files are served to new connections; open ones stay', async () => {
  const { client: old } = await connectWss();
  replace(keyPath, second.key);
  replace(certPath, second.cert);
  await waitFor(async () => {
    const { client, fingerprint: fp } = await connectWss();
    client.disconnect();
    return fp === fingerprint(second.cert);
  }, { what: 'the second certificate served' });
  assert.equal(old.state, 'connected');
  old.disconnect();
});

test('a broken replacement is logged and the previous certificate stays', async () => {
  replace(certPath, 'not a certificate\n');
  await waitFor(() => output.includes('new certificate or key not loaded'), { what: 'the reload error in the log' });
  const { client, fingerprint: fp } = await connectWss();
  assert.equal(fp, fingerprint(second.cert));
  client.disconnect();
  // A certificate that does not match the key is refused the same way.
  const before = output.split('new certificate or key not loaded').length;
  replace(certPath, first.cert);
  await waitFor(() => output.split('new certificate or key not loaded').length > before, { what: 'the mismatch error' });
  const again = await connectWss();
  assert.equal(again.fingerprint, fingerprint(second.cert));
  again.client.disconnect();
});
