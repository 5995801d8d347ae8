// Pusher-protocol helpers: apps in the configuration, pusher-js clients whose channel auth and
// sign-in are signed by the npm `pusher` server library, raw sockets for what pusher-js hides.
import Pusher from 'pusher-js';
import PusherServer from 'pusher';
import WebSocket from 'ws';
import { defaultConfig, waitFor } from './harness.mjs';

export const APP = { id: '1001', key: 'e2e-app-key', secret: 'e2e-app-secret' };
/** Client events off, a low client-event rate, a small presence limit. */
export const STRICT = { id: '1002', key: 'e2e-strict-key', secret: 'e2e-strict-secret' };
export const DISABLED = { id: '1003', key: 'e2e-disabled-key', secret: 'e2e-disabled-secret' };
/** Subscription counting on. */
export const COUNTING = { id: '1004', key: 'e2e-counting-key', secret: 'e2e-counting-secret' };
/** 32 bytes, base64: the npm library encrypts private-encrypted- channels with it. */
export const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** The default configuration with four apps. */
export function pusherConfig(base = defaultConfig()) {
  return {
    ...base,
    pusher: {
      apps: [
        { ...APP, client_events: true, client_event_rate: 3 },
        { ...STRICT, client_events: false, max_presence_members: 2, max_event_size: 100 },
        { ...DISABLED, enabled: false },
        { ...COUNTING, subscription_count: true },
      ],
    },
  };
}

/** The npm `pusher` server library pointed at `server`. */
export function serverLib(server, app = APP, options = {}) {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: '127.0.0.1',
    port: String(server.port),
    useTLS: false,
    encryptionMasterKeyBase64: MASTER_KEY,
    ...options,
  });
}

/**
 * A pusher-js client of `app` on `server`. Channel auth and sign-in are answered by the
 * server library (as an app's auth endpoint would), for `user` on presence channels.
 */
export function pusherClient(server, { app = APP, user = 'anon', info = {}, signer } = {}) {
  const lib = signer ?? serverLib(server, app);
  return new Pusher(app.key, {
    wsHost: '127.0.0.1',
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: 'e2e',
    disableStats: true,
    channelAuthorization: {
      customHandler: ({ socketId, channelName }, callback) => {
        try {
          const presence = channelName.startsWith('presence-') ? { user_id: user, user_info: info } : undefined;
          callback(null, lib.authorizeChannel(socketId, channelName, presence));
        } catch (err) {
          callback(err, null);
        }
      },
    },
    userAuthentication: {
      customHandler: ({ socketId }, callback) => callback(null, lib.authenticateUser(socketId, { id: user, ...info })),
    },
  });
}

/** The next `event` a pusher-js emitter (connection, channel) emits, or a rejection after `timeoutMs`. */
export function bound(emitter, event, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for '${event}'`)), timeoutMs);
    timer.unref();
    const handler = (data) => { clearTimeout(timer); emitter.unbind(event, handler); resolve(data); };
    emitter.bind(event, handler);
  });
}

/** Resolves once the client is connected. */
export async function pusherConnected(client) {
  if (client.connection.state === 'connected') return client;
  await bound(client.connection, 'connected');
  return client;
}

/** Subscribes and resolves with the channel once it is subscribed (the presence members too). */
export async function pusherSubscribed(client, name) {
  const channel = client.subscribe(name);
  const failed = bound(channel, 'pusher:subscription_error').then((status) => {
    throw new Error(`subscription_error ${JSON.stringify(status)}`);
  });
  await Promise.race([bound(channel, 'pusher:subscription_succeeded'), failed]);
  failed.catch(() => {});
  return channel;
}

/** Events named `event` on `channel`, as they arrive. */
export function events(channel, event) {
  const got = [];
  channel.bind(event, (data, metadata) => got.push({ data, metadata }));
  return got;
}

/**
 * A raw WebSocket on the Pusher endpoint: `messages` (parsed), `closed` (code and reason),
 * `next(event)` for the next message with that event name.
 */
export function rawPusher(server, key = APP.key, query = 'protocol=7&client=js&version=8.6.0') {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/app/${key}?${query}`);
  const messages = [];
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
  ws.on('message', (data) => messages.push(JSON.parse(String(data))));
  return {
    ws,
    messages,
    closed,
    send: (message) => ws.send(typeof message === 'string' ? message : JSON.stringify(message)),
    next: (event, from = 0) =>
      waitFor(() => messages.slice(from).find((m) => m.event === event), { what: `pusher ${event}` }),
  };
}
