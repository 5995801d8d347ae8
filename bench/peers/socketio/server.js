// Reference Socket.IO 4 server for herald-bench: the plain setup a team would write to fan
// messages out to rooms, so the comparison with Herald is fair.
//
//   node server.js [port]        (or PORT=...; HOST defaults to 127.0.0.1)
//
// - A client joins a room by emitting `subscribe` with the room name; the optional ack is
//   answered with "ok" once it has joined, so the benchmark knows the subscription is live.
// - `POST /publish` with JSON `{"room": "...", "data": <any JSON>}` emits `message` with the
//   data to the room and answers `{"ok":true}`.
// - `GET /health` answers `{}`.
//
// Defaults are kept (the `ws` engine, no per-message compression, default ping interval), as
// a user would have them.

"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] ?? process.env.PORT ?? 3000);
const host = process.env.HOST ?? "127.0.0.1";
const maxBody = 1024 * 1024;

const httpServer = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    return reply(res, 200, {});
  }
  if (req.method === "POST" && req.url === "/publish") {
    return readJson(req, (err, body) => {
      if (err) {
        return reply(res, 400, { error: err.message });
      }
      if (!body || typeof body.room !== "string") {
        return reply(res, 400, { error: "expected {\"room\": string, \"data\": any}" });
      }
      io.to(body.room).emit("message", body.data);
      reply(res, 200, { ok: true });
    });
  }
  reply(res, 404, { error: "not found" });
});

const io = new Server(httpServer, { serveClient: false });

io.on("connection", (socket) => {
  socket.on("subscribe", (room, ack) => {
    if (typeof room !== "string") {
      if (typeof ack === "function") ack("error: room must be a string");
      return;
    }
    socket.join(room);
    if (typeof ack === "function") ack("ok");
  });
});

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(text),
  });
  res.end(text);
}

function readJson(req, done) {
  const chunks = [];
  let size = 0;
  let failed = false;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > maxBody && !failed) {
      failed = true;
      done(new Error("body too large"));
      req.resume();
      return;
    }
    if (!failed) chunks.push(chunk);
  });
  req.on("end", () => {
    if (failed) return;
    try {
      done(null, JSON.parse(Buffer.concat(chunks).toString("utf8")));
    } catch (err) {
      done(new Error(`invalid JSON: ${err.message}`));
    }
  });
}

httpServer.listen(port, host, () => {
  console.log(`socket.io peer listening on http://${host}:${port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    io.close();
    httpServer.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
