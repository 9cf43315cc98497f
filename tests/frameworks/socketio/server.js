'use strict';
// Socket.IO v4 (https://socket.io/docs/v4/) configured as its documentation shows.
// Contract (tests/frameworks/README.md): PORT, MODE, ALLOWED_ORIGIN from the environment;
// loopback only; the "message" event is echoed back.
const { createServer } = require('http');
const { Server } = require('socket.io');

const PORT = Number(process.env.PORT || 3000);
const MODE = process.env.MODE || 'default';
const ALLOWED_ORIGIN = process.env.ALLOWED_ORIGIN || 'https://app.example.com';
const HOST = '127.0.0.1';

const httpServer = createServer();
let options;
switch (MODE) {
  case 'default':
  case 'no-upgrade-proxy':
  case 'middleware':
    // "Handling CORS" (docs/v4/handling-cors): the option users believe restricts Origins.
    options = { cors: { origin: ALLOWED_ORIGIN } };
    break;
  case 'allowrequest':
    // "Server options" > allowRequest (docs/v4/server-options/#allowrequest): the
    // documented place for an Origin check, run before the handshake is accepted.
    options = {
      cors: { origin: ALLOWED_ORIGIN },
      allowRequest: (req, callback) => {
        const isOriginValid = req.headers.origin === ALLOWED_ORIGIN;
        callback(null, isOriginValid);
      },
    };
    break;
  default:
    console.error(`unknown MODE ${MODE}`);
    process.exit(2);
}
const io = new Server(httpServer, options);

if (MODE === 'middleware') {
  // "Middlewares" (docs/v4/middlewares): io.use() runs when a client connects to the
  // namespace, i.e. after the WebSocket is open; next(err) sends a connect_error packet.
  io.use((socket, next) => {
    if (socket.handshake.headers.origin === ALLOWED_ORIGIN) {
      next();
    } else {
      next(new Error('origin not allowed'));
    }
  });
}

io.on('connection', (socket) => {
  socket.on('message', (data) => {
    socket.emit('message', data);
  });
});

httpServer.listen(PORT, HOST, () => {
  console.log(`listening on ${HOST}:${PORT} mode=${MODE}`);
});
