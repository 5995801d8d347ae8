// Herald's stand-in for soketi's src/log.ts (console output, titles only when verbose).
const verbose = !!process.env.SOKETI_ORACLE_VERBOSE;
const out = (message: any) => { if (verbose) console.log(message); };

export class Log {
    static infoTitle(message: any): void { out(message); }
    static successTitle(message: any): void { out(message); }
    static errorTitle(message: any): void { console.error(message); }
    static warningTitle(message: any): void { out(message); }
    static clusterTitle(message: any): void { out(message); }
    static httpTitle(message: any): void { out(message); }
    static discoverTitle(message: any): void { out(message); }
    static websocketTitle(message: any): void { out(message); }
    static webhookSenderTitle(message: any): void { out(message); }
    static info(message: any): void { out(message); }
    static success(message: any): void { out(message); }
    static error(message: any): void { console.error(message); }
    static warning(message: any): void { out(message); }
    static cluster(message: any): void { out(message); }
    static http(message: any): void { out(message); }
    static discover(message: any): void { out(message); }
    static websocket(message: any): void { out(message); }
    static webhookSender(message: any): void { out(message); }
    static br(): void { out(''); }
}
