// The example backend over HTTP: Herald's proxies POST here, and so do its webhooks.
//
//   node examples/backend/server.mjs            # listens on 127.0.0.1:3000
//   PORT=4000 WEBHOOK_SECRET=... node examples/backend/server.mjs
//
// Routes (each matches a proxy in examples/backend/herald.json):
//   POST /centrifugo/connect | refresh | subscribe | publish | sub_refresh | rpc
//   POST /webhooks                        lifecycle events, signature checked
// No dependencies beyond Node.js itself.
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as app from './app.mjs';

const routes = {
  '/centrifugo/connect': app.connect,
  '/centrifugo/refresh': app.refresh,
  '/centrifugo/subscribe': app.subscribe,
  '/centrifugo/publish': app.publish,
  '/centrifugo/sub_refresh': app.subRefresh,
  '/centrifugo/rpc': app.rpc,
};

/** How old a webhook's timestamp may be before it is taken for a replay. */
const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * Checks a webhook delivery: `X-Herald-Webhook-Signature: v1=<hex HMAC-SHA256 of
 * "<timestamp>.<body>">` with the shared secret, and a timestamp within the tolerance.
 * Returns null when valid, else why not.
 */
export function verifyWebhook(secret, headers, body, nowSeconds = Math.floor(Date.now() / 1000)) {
  const timestamp = headers['x-herald-webhook-timestamp'];
  const signature = headers['x-herald-webhook-signature'] ?? '';
  if (!timestamp || !/^\d+$/.test(timestamp)) return 'missing timestamp';
  if (Math.abs(nowSeconds - Number(timestamp)) > WEBHOOK_TOLERANCE_SECONDS) return 'stale timestamp';
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  const given = signature.startsWith('v1=') ? signature.slice(3) : '';
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(given, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'bad signature';
  return null;
}

/**
 * Starts the backend. `onEvents(events, headers)` receives each verified webhook batch;
 * `rejected` counts deliveries whose signature did not verify.
 */
export function startBackend({ port = 3000, host = '127.0.0.1', webhookSecret = 'webhook-secret', onEvents = () => {} } = {}) {
  const stats = { rejected: 0 };
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const reply = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method !== 'POST') return reply(405, { error: 'POST only' });
    if (req.url === '/webhooks') {
      const why = verifyWebhook(webhookSecret, req.headers, body);
      if (why) {
        stats.rejected += 1;
        return reply(401, { error: why });
      }
      onEvents(JSON.parse(body.toString('utf8')).events, req.headers);
      return reply(200, {});
    }
    const handler = routes[req.url];
    if (!handler) return reply(404, { error: 'no such route' });
    let request;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(400, { error: 'bad json' });
    }
    reply(200, handler(request, req.headers));
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => resolve({ server, port: server.address().port, stats }));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 3000);
  const { port: bound } = await startBackend({
    port,
    webhookSecret: process.env.WEBHOOK_SECRET ?? 'webhook-secret',
    onEvents: (events) => { for (const event of events) console.log('webhook', JSON.stringify(event)); },
  });
  console.log(`example backend on http://127.0.0.1:${bound}`);
}
