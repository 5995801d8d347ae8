// Herald's stand-in for soketi's src/webhook-sender.ts: Pusher's webhook signature,
// X-Pusher-Signature = hex HMAC-SHA256(app secret, request body).
import { createHmac } from 'crypto';

export function createWebhookHmac(data: string, secret: string): string {
    return createHmac('sha256', secret).update(data).digest('hex');
}
