// Herald's stand-in for soketi's src/server.ts. The tests only use `Server` as a type; the
// object they get is tests/utils.ts's HeraldServer (a Herald child process).
export class Server {
    [key: string]: any;
}
