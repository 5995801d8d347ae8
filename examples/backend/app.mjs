// The application's decisions, written once for both proxy transports (HTTP in server.mjs,
// gRPC in grpc.mjs). Each function takes a proxy request as Herald sends it (Centrifugo's
// proxy format: https://centrifugal.dev/docs/server/proxy) plus the forwarded headers, and
// returns one of {result}, {error: {code, message}} or {disconnect: {code, reason}}.
//
// A real application would look sessions up in its database; here they are a table.

const HOUR = 3600;
const now = () => Math.floor(Date.now() / 1000);

/** Session id (cookie `session=...` or the emulated header `x-session`) -> user. */
export const sessions = new Map([
  ['alice-session', { user: 'alice', name: 'Alice' }],
  ['bob-session', { user: 'bob', name: 'Bob' }],
  // Expires two seconds after connect: the refresh proxy keeps it alive.
  ['short-session', { user: 'dave', name: 'Dave', ttl: 2 }],
  ['banned-session', { banned: true }],
]);

/** Every call the backend answered, newest last: the tests read it, a real app would log. */
export const calls = [];

function sessionOf(headers) {
  const cookie = headers.cookie ?? '';
  const fromCookie = /(?:^|;\s*)session=([^;]+)/.exec(cookie)?.[1];
  return fromCookie ?? headers['x-session'];
}

/** Connect proxy: who is this connection? Called when a client connects without a token. */
export function connect(request, headers) {
  calls.push({ type: 'connect', request, headers });
  const session = sessions.get(sessionOf(headers));
  // Codes 4500-4999 tell the SDK not to reconnect (4000-4499 would make it try again).
  if (!session) return { disconnect: { code: 4501, reason: 'unauthorized' } };
  if (session.banned) return { disconnect: { code: 4503, reason: 'banned' } };
  return {
    result: {
      user: session.user,
      expire_at: now() + (session.ttl ?? HOUR),
      info: { name: session.name },
      data: { greeting: `hello, ${session.name}` },
      meta: { plan: 'pro' },
    },
  };
}

/** Refresh proxy: the connection expired; extend it (or answer `expired: true`). */
export function refresh(request) {
  calls.push({ type: 'refresh', request });
  return { result: { expire_at: now() + HOUR } };
}

/** Subscribe proxy: may this user join this channel? */
export function subscribe(request) {
  calls.push({ type: 'subscribe', request });
  if (request.channel.includes('private')) {
    return { error: { code: 403, message: 'forbidden' } };
  }
  // `...:short` subscriptions expire two seconds after subscribe: sub_refresh extends them.
  const expireAt = request.channel.endsWith(':short') ? now() + 2 : 0;
  return { result: { expire_at: expireAt, info: { joined: now() } } };
}

/** Sub-refresh proxy: a subscription expired; extend it. */
export function subRefresh(request) {
  calls.push({ type: 'sub_refresh', request });
  return { result: { expire_at: now() + HOUR } };
}

/** Publish proxy: validate and rewrite what clients publish. */
export function publish(request) {
  calls.push({ type: 'publish', request });
  const text = request.data?.text;
  if (typeof text !== 'string' || text.length === 0) {
    return { error: { code: 400, message: 'text required' } };
  }
  return { result: { data: { text: text.trim(), by: request.user } } };
}

/**
 * Subscribe stream proxy (gRPC only): the decision, then what this one subscriber receives
 * through its own stream (here a short personal ticker; the stream stays open until the
 * client unsubscribes).
 */
export function stream(request) {
  calls.push({ type: 'subscribe_stream', request });
  if (request.channel.includes('private')) {
    return { answer: { error: { code: 403, message: 'forbidden' } } };
  }
  const publications = [1, 2, 3].map((tick) => ({ tick, for: request.user }));
  return { answer: { result: {} }, publications };
}

/** RPC proxy: the application's request path over the real-time connection. */
export function rpc(request, headers = {}) {
  calls.push({ type: 'rpc', request, headers });
  switch (request.method) {
    case 'whoami':
      return { result: { data: { user: request.user, meta: request.meta ?? null } } };
    case 'add':
      return { result: { data: { sum: (request.data?.a ?? 0) + (request.data?.b ?? 0) } } };
    default:
      return { error: { code: 404, message: 'no such method' } };
  }
}
