// Herald's stand-in for soketi's src/message.ts (a type soketi's utils imports).
export interface PusherApiMessage {
    [key: string]: any;
}
