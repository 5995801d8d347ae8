// Herald's stand-in for soketi's src/app.ts: the webhook tests only build an App from the
// app options to read its secret.
export class App {
    public id: string;
    public key: string;
    public secret: string;
    public webhooks: any[];

    constructor(app: any, _server?: any) {
        this.id = String(app.id);
        this.key = app.key;
        this.secret = app.secret;
        this.webhooks = app.webhooks || [];
    }
}
