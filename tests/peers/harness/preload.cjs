// Preloaded into Node peers that the end-to-end harness starts as servers
// (`node --require tests/peers/harness/preload.cjs <server> ...`). It fixes three things the
// real servers do not do on their own:
//
// 1. Loopback only: server-everything (and supergateway) call `app.listen(PORT)` without a
//    host, i.e. on all interfaces. A listen without a host is bound to 127.0.0.1 instead.
// 2. The real port: with PORT=0 the OS picks a free port (no race between choosing and
//    binding), but the servers log "listening on port 0". Each server that starts listening
//    prints one line `SMCP_PEER_LISTENING <host> <port>` on stderr; the harness waits on it
//    (it also means the socket accepts connections: readiness without polling).
// 3. No orphans: if the harness dies without killing us (SIGKILL of the test binary), the
//    parent pid changes and the peer exits by itself within half a second.
"use strict";

const net = require("node:net");

const LOOPBACK = "127.0.0.1";
const originalListen = net.Server.prototype.listen;

function isPort(value) {
  return typeof value === "number" || (typeof value === "string" && /^\d+$/.test(value));
}

net.Server.prototype.listen = function listen(...args) {
  if (isPort(args[0]) && typeof args[1] !== "string") {
    // listen(port[, backlog][, callback]) -> listen(port, host[, backlog][, callback])
    args.splice(1, 0, LOOPBACK);
  } else if (args[0] && typeof args[0] === "object" && !args[0].path && !args[0].host) {
    args[0] = { ...args[0], host: LOOPBACK };
  }
  this.once("listening", () => {
    const addr = this.address();
    if (addr && typeof addr === "object") {
      process.stderr.write(`SMCP_PEER_LISTENING ${addr.address} ${addr.port}\n`);
    }
  });
  return originalListen.apply(this, args);
};

const parentAtStart = process.ppid;
setInterval(() => {
  if (process.ppid !== parentAtStart) {
    process.exit(1);
  }
}, 500).unref();
