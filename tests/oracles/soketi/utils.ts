// Herald's replacement for soketi's tests/utils.ts.
//
// soketi's tests start soketi in-process (`new Server(options).start(cb)`). Here
// `newServer(options, cb)` maps the soketi option keys a test passes to a Herald config,
// spawns one Herald process on the port soketi would use (6001, or `port` for the second
// node of a cluster test), waits for it and hands the test a HeraldServer stub. The client
// helpers (pusher-js clients, the npm `pusher` backend, token signing, the webhook server
// on :3001) are soketi's own, inherited unchanged from soketi's utils.ts, which
// tests/oracles/soketi.sh extracts next to this file as `utils.soketi.ts`.
//
// Environment (set by soketi.sh):
//   HERALD_BIN             the herald binary (required)
//   SOKETI_HERALD_LOGS     directory for each Herald's config and log (default: os.tmpdir())
//   SOKETI_HERALD_PIDS     file every spawned Herald's PID is appended to (for the script's trap)
//   SOKETI_REDIS_URL       redis://host:port for the cluster (TEST_ADAPTER=redis) variants
//   HERALD_LOG_LEVEL       Herald's log.level (default debug)
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { v4 as uuidv4 } from 'uuid';
import { Utils as SoketiUtils } from './utils.soketi';

// Soketi option keys that change nothing Herald has, with the reason.
const IGNORED_OPTIONS: { [key: string]: string } = {
    'cluster.prefix': 'soketi cluster adapter internals',
    'cluster.port': 'soketi cluster adapter internals',
    'adapter.nats.prefix': 'soketi NATS adapter internals',
    'adapter.redis.prefix': 'mapped to engine.redis.prefix when TEST_ADAPTER=redis',
    'database.redis.keyPrefix': 'soketi cache/queue key prefix',
    // Herald always accepts pusher:signin and never requires it; the cases that pass these
    // sign in right away (the ones relying on the timeout are skipped, see selection.json).
    'appManager.array.apps.0.enableUserAuthentication': 'Herald always serves pusher:signin',
    'userAuthenticationTimeout': 'Herald has no sign-in deadline',
};

interface HeraldApp {
    id: string;
    key: string;
    secret: string;
    enabled: boolean;
    client_events: boolean;
    client_event_rate: number;
    max_connections: number;
    max_presence_members: number;
    max_user_info_size: number;
    max_event_size: number;
    webhooks: any[];
}

/** soketi option keys (dot notation) → Herald's Pusher app and listening port. */
export function heraldSettings(options: { [key: string]: any }): { port: number; app: HeraldApp; soketiApp: any } {
    // soketi's default app, with the rates tests/utils.ts sets (200 client events/s).
    const soketiApp: any = {
        id: 'app-id',
        key: 'app-key',
        secret: 'app-secret',
        maxConnections: -1,
        enableClientMessages: false,
        enabled: true,
        webhooks: [],
    };
    const app: HeraldApp = {
        id: 'app-id',
        key: 'app-key',
        secret: 'app-secret',
        enabled: true,
        client_events: false,
        client_event_rate: 200,
        max_connections: 0,
        max_presence_members: 100,
        max_user_info_size: 1024,
        max_event_size: 10 * 1024,
        webhooks: [],
    };
    let port = 6001;

    for (const [key, value] of Object.entries(options)) {
        switch (key) {
            case 'port':
                port = Number(value);
                break;
            case 'appManager.array.apps.0.id':
                app.id = String(value);
                soketiApp.id = value;
                break;
            case 'appManager.array.apps.0.enabled':
                app.enabled = !!value;
                soketiApp.enabled = value;
                break;
            case 'appManager.array.apps.0.enableClientMessages':
                app.client_events = !!value;
                soketiApp.enableClientMessages = value;
                break;
            case 'appManager.array.apps.0.maxConnections':
                app.max_connections = Number(value) < 0 ? 0 : Number(value);
                soketiApp.maxConnections = value;
                break;
            case 'appManager.array.apps.0.webhooks':
                soketiApp.webhooks = value;
                app.webhooks = (value as any[]).map((hook) => {
                    for (const field of Object.keys(hook)) {
                        if (!['url', 'event_types', 'headers'].includes(field)) {
                            throw new Error(`soketi webhook field "${field}" has no Herald equivalent`);
                        }
                    }
                    return { url: hook.url, event_types: hook.event_types || [], headers: hook.headers || {} };
                });
                break;
            case 'presence.maxMembersPerChannel':
                app.max_presence_members = Number(value);
                break;
            case 'presence.maxMemberSizeInKb':
                // soketi: KB of the member; Herald: bytes of user_info.
                app.max_user_info_size = Math.floor(Number(value) * 1024);
                break;
            case 'eventLimits.maxPayloadInKb':
                // Herald's minimum is 1 byte.
                app.max_event_size = Math.max(1, Math.floor(Number(value) * 1024));
                break;
            default:
                if (!(key in IGNORED_OPTIONS)) {
                    throw new Error(`soketi option "${key}" has no Herald equivalent (list the case in selection.json)`);
                }
        }
    }

    return { port, app, soketiApp };
}

let serial = 0;
const running = new Set<ChildProcess>();

process.on('exit', () => {
    for (const child of running) {
        try { child.kill('SIGKILL'); } catch (e) { /* gone */ }
    }
});

function healthy(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/health', timeout: 1000 }, (res) => {
            res.resume();
            resolve(res.statusCode === 200);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => { req.destroy(); resolve(false); });
    });
}

/** What a test gets instead of soketi's Server: one Herald process. */
export class HeraldServer {
    public options: any;
    public adapter: any;
    public logFile: string;
    private child: ChildProcess | null = null;

    constructor(public port: number, public app: HeraldApp, soketiApp: any, redisPrefix: string, logFile: string) {
        this.logFile = logFile;
        this.options = {
            port,
            appManager: { array: { apps: [soketiApp] } },
            adapter: { driver: process.env.TEST_ADAPTER || 'local', redis: { prefix: redisPrefix }, nats: { prefix: '' } },
            cluster: { prefix: '', port: 0 },
        };
        const backend = () => SoketiUtils.newBackend(app.id, app.key, app.secret, port);
        // Only the adapter queries with a Pusher HTTP API equivalent are offered.
        this.adapter = {
            // GET /apps/{id}/channels/{name}/users
            getChannelMembers: async (_appId: string, channel: string) => {
                const body = await backend().get({ path: `/channels/${channel}/users` }).then((res) => res.json());
                return new Map((body.users || []).map((u: any) => [String(u.id), {}]));
            },
            // GET /apps/{id}/channels/{name}?info=subscription_count
            getChannelSockets: async (_appId: string, channel: string) => {
                const body = await backend()
                    .get({ path: `/channels/${channel}`, params: { info: 'subscription_count' } })
                    .then((res) => res.json());
                const n = body.subscription_count || 0;
                return new Map(Array.from({ length: n }, (_, i) => [`socket-${i}`, {}]));
            },
            getNamespace: () => { throw new Error('soketi adapter internals (getNamespace) are not observable on Herald'); },
            getSockets: () => { throw new Error('soketi adapter internals (getSockets) are not observable on Herald'); },
        };
    }

    async start(config: any, configFile: string): Promise<void> {
        fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
        const log = fs.openSync(this.logFile, 'a');
        const bin = process.env.HERALD_BIN;
        if (!bin) {
            throw new Error('HERALD_BIN is not set');
        }
        const child = spawn(bin, ['serve', '--config', configFile, '--port', String(this.port), '--address', '127.0.0.1'], {
            stdio: ['ignore', log, log],
            // Herald reads HERALD_* variables as configuration: keep the runner's own out.
            env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_'))),
        });
        fs.closeSync(log);
        this.child = child;
        running.add(child);
        if (process.env.SOKETI_HERALD_PIDS && child.pid) {
            fs.appendFileSync(process.env.SOKETI_HERALD_PIDS, `${child.pid}\n`);
        }
        let exited = false;
        child.on('exit', () => { exited = true; running.delete(child); });

        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
            if (exited) {
                throw new Error(`herald exited at start (log: ${this.logFile})`);
            }
            if (await healthy(this.port)) {
                return;
            }
            await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error(`herald did not come up on ${this.port} within 10 s (log: ${this.logFile})`);
    }

    stop(): Promise<void> {
        const child = this.child;
        this.child = null;
        if (!child || child.exitCode !== null || child.signalCode !== null) {
            return Promise.resolve();
        }
        return new Promise((resolve) => {
            const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch (e) { /* gone */ } }, 5_000);
            child.once('exit', () => { clearTimeout(timer); running.delete(child); resolve(); });
            child.kill('SIGTERM');
        });
    }
}

export class Utils extends SoketiUtils {
    static newServer(options = {}, callback): any {
        const { port, app, soketiApp } = heraldSettings(options);
        const redisPrefix = (options as any)['adapter.redis.prefix'] || uuidv4();
        const dir = process.env.SOKETI_HERALD_LOGS || os.tmpdir();
        const n = ++serial;
        const testName = (expect.getState().currentTestName || 'no-test').replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80);
        const base = path.join(dir, `herald-${String(n).padStart(3, '0')}-${port}-${testName}`);

        const config: any = {
            log: { level: process.env.HERALD_LOG_LEVEL || 'debug' },
            http_api: { key: 'soketi-oracle-api-key' },
            client: { token: { hmac_secret_key: 'soketi-oracle-hmac-secret' } },
            pusher: { activity_timeout: '120s', apps: [app] },
        };
        if ((process.env.TEST_ADAPTER || 'local') === 'redis') {
            if (!process.env.SOKETI_REDIS_URL) {
                throw new Error('TEST_ADAPTER=redis needs SOKETI_REDIS_URL');
            }
            config.engine = { type: 'redis', redis: { address: process.env.SOKETI_REDIS_URL, prefix: redisPrefix } };
        }

        const server = new HeraldServer(port, app, soketiApp, redisPrefix, `${base}.log`);
        this.wsServers.push(server as any);
        return server.start(config, `${base}.json`).then(() => callback(server));
    }

    // Every pusher-js client a test made is disconnected when the test ends (afterEach →
    // flushServers): soketi leaves them running, so after a failed test they reconnect to
    // the next test's server and their handlers fail that test instead.
    static clients: any[] = [];

    static newClient(options = {}, port = 6001, key = 'app-key', withStateChange = true): any {
        const client = super.newClient(options, port, key, withStateChange);
        this.clients.push(client);
        return client;
    }

    static flushServers(): Promise<any> {
        for (const client of this.clients.splice(0)) {
            try { client.disconnect(); } catch (e) { /* already gone */ }
        }
        return super.flushServers();
    }

    static newClonedServer(server: any, options = {}, callback): any {
        return this.newServer({
            'adapter.redis.prefix': server.options.adapter.redis.prefix,
            ...options,
        }, callback);
    }
}
