// The admin web UI in a real browser: Debian's Chromium driven by playwright-core (no browser
// download), against two herald nodes on one redis-server. The UI is served by node A; the SDK
// client and the API publishes go through node B, so what the UI shows crosses the cluster.
// Screenshots go to tests/e2e/screenshots/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { client, connected, once, collect, token, api, waitFor, startHerald } from './harness.mjs';
import { startRedis, clusterConfig } from './cluster.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const PASSWORD = 'e2e-admin-password';
const shots = join(dirname(fileURLToPath(import.meta.url)), 'screenshots');

let redis;
let nodes;
let browser;
before(async () => {
  mkdirSync(shots, { recursive: true });
  redis = await startRedis();
  nodes = [];
  for (const name of ['nodeA', 'nodeB']) {
    const config = clusterConfig(redis, name);
    config.admin = { enabled: true, password: PASSWORD, secret: 'e2e-admin-secret' };
    nodes.push(await startHerald(config));
  }
  for (const node of nodes) {
    await waitFor(async () => (await api(node, 'info')).body.result.nodes.length === 2, { what: 'both nodes in /api/info' });
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});
after(async () => {
  await browser?.close();
  for (const node of nodes ?? []) await node.stop();
  await redis?.kill();
});

test('admin endpoints refuse requests without a valid token', async () => {
  const [a] = nodes;
  const bare = await fetch(`${a.base}/admin/api/info`, { method: 'POST', body: '{}' });
  assert.equal(bare.status, 401);
  const wrong = await fetch(`${a.base}/admin/auth`, { method: 'POST', body: JSON.stringify({ password: 'nope' }) });
  assert.equal(wrong.status, 401);
  const forged = await fetch(`${a.base}/admin/live?channel=x`, { headers: { Authorization: 'token 9999999999.00' } });
  assert.equal(forged.status, 401);
  const login = await fetch(`${a.base}/admin/auth`, { method: 'POST', body: JSON.stringify({ password: PASSWORD }) });
  const { token: adminToken } = await login.json();
  const info = await fetch(`${a.base}/admin/api/info`, { method: 'POST', body: '{}', headers: { Authorization: `token ${adminToken}` } });
  assert.equal((await info.json()).result.nodes.length, 2);
});

test('log in, watch a channel, publish, inspect and disconnect a client', async () => {
  const [a, b] = nodes;
  const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  await page.goto(`${a.base}/`);

  // Log in: a wrong password is refused, the right one shows the app.
  await page.getByLabel('Password').fill('wrong');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText('Wrong password').waitFor();
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { name: 'Nodes' }).waitFor();
  await page.screenshot({ path: join(shots, '1-logged-in.png') });

  // An SDK client on node B, subscribed to `news`.
  const sdk = client(b, { token: token({ sub: 'reader', info: { name: 'Reader' } }) });
  const { client: clientId } = await connected(sdk);
  const sub = sdk.newSubscription('news');
  const publications = collect(sub, 'publication');
  const subscribed = once(sub, 'subscribed');
  sub.subscribe();
  await subscribed;

  // The nodes table lists both nodes; node B's row counts the client.
  await waitFor(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    const rows = await page.locator('#nodes tbody tr').allInnerTexts();
    return rows.length === 2 && rows.some((r) => r.startsWith('nodeB') && r.split('\t')[3] === '1');
  }, { what: 'node B with one client in the nodes table' });

  // The live view sees a publication made through the API of the other node.
  await page.getByLabel('Channel to watch').fill('news');
  await page.getByRole('button', { name: 'Watch', exact: true }).click();
  await page.getByText('Watching news').waitFor();
  const published = await api(b, 'publish', { channel: 'news', data: { text: 'from the API' } });
  assert.equal(published.status, 200);
  await page.locator('#live-messages li', { hasText: 'from the API' }).waitFor();
  await page.screenshot({ path: join(shots, '2-live-view.png') });
  // `channels` counts across the cluster: the SDK client on node B and the watch on node A.
  assert.deepEqual((await api(a, 'channels')).body.result.channels, { news: { num_clients: 2 } });

  // The publish console reaches the SDK client.
  await page.getByLabel('Channel', { exact: true }).fill('news');
  await page.getByLabel('Data (JSON)').fill('{"text": "from the console"}');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.getByText(/^Published/).waitFor();
  await waitFor(() => publications.some((p) => p.data.text === 'from the console'), { what: 'the SDK client receiving the console publication' });
  await page.locator('#live-messages li', { hasText: 'from the console' }).waitFor();

  // The connection inspector finds the client with its details and disconnects it.
  await page.getByLabel('User (empty: everybody)').fill('reader');
  await page.getByRole('button', { name: 'Find connections' }).click();
  const row = page.locator(`#connections tbody tr[data-client="${clientId}"]`);
  await row.waitFor();
  const cells = await row.locator('td').allInnerTexts();
  assert.deepEqual(cells.slice(0, 6), [clientId, 'reader', 'websocket', 'json', '127.0.0.1', 'news']);
  await page.screenshot({ path: join(shots, '3-connections.png'), fullPage: true });
  const disconnected = once(sdk, 'disconnected');
  await row.getByRole('button', { name: `Disconnect ${clientId}` }).click();
  const ctx = await disconnected;
  assert.equal(ctx.code, 3503);
  await page.getByText(`Disconnected ${clientId}`).waitFor();
  await page.screenshot({ path: join(shots, '4-disconnected.png'), fullPage: true });

  // Stopping the live view releases the server-side watch.
  await page.getByRole('button', { name: 'Stop' }).click();
  await waitFor(async () => Object.keys((await api(a, 'channels')).body.result.channels).length === 0, { what: 'the watch released on node A (the client on B is gone too)' });

  assert.deepEqual(errors, []);
  await page.close();
});
