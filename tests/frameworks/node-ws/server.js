'use strict';
// ws (https://github.com/websockets/ws) configured as its README and doc/ws.md show.
// Contract (tests/frameworks/README.md): PORT, MODE, ALLOWED_ORIGIN from the environment;
// loopback only; every message is echoed back unchanged.
const http = require('http');
const { WebSocketServer } = require('ws');

const PORT = Number(process.env.PORT || 8080);
const MODE = process.env.MODE || 'default';
const ALLOWED_ORIGIN = process.env.ALLOWED_ORIGIN || 'https://app.example.com';
const HOST = '127.0.0.1';

// The README's "Server broadcast" handler, sending to the sender only: an echo.
function echo(ws) {
  ws.on('error', console.error);
  ws.on('message', function message(data, isBinary) {
    ws.send(data, { binary: isBinary });
  });
}

function listening() {
  console.log(`listening on ${HOST}:${PORT} mode=${MODE}`);
}

function onSocketError(err) {
  console.error(err);
}

switch (MODE) {
  case 'default': {
    // README "Simple server": no path, no origin check.
    const wss = new WebSocketServer({ host: HOST, port: PORT });
    wss.on('connection', echo);
    wss.on('listening', listening);
    break;
  }
  case 'verify-client': {
    // doc/ws.md, `new WebSocketServer(options)`: verifyClient(info) gets info.origin;
    // returning false makes ws answer 401 (lib/websocket-server.js).
    const wss = new WebSocketServer({
      host: HOST,
      port: PORT,
      verifyClient: (info) => info.origin === ALLOWED_ORIGIN,
    });
    wss.on('connection', echo);
    wss.on('listening', listening);
    break;
  }
  case 'allowlist': {
    // README "Client authentication": noServer + server.on('upgrade'), the check done
    // before wss.handleUpgrade(); here the check is an exact Origin comparison.
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', echo);
    server.on('upgrade', function upgrade(request, socket, head) {
      socket.on('error', onSocketError);
      if (request.headers.origin !== ALLOWED_ORIGIN) {
        socket.write('HTTP/1.1 403 Forbidden\r\n\r\n');
        socket.destroy();
        return;
      }
      socket.removeListener('error', onSocketError);
      wss.handleUpgrade(request, socket, head, function done(ws) {
        wss.emit('connection', ws, request);
      });
    });
    server.listen(PORT, HOST, listening);
    break;
  }
  case 'wrong-path': {
    // A server that only handles /ws (the `path` option); the battery probes /chat.
    const wss = new WebSocketServer({ host: HOST, port: PORT, path: '/ws' });
    wss.on('connection', echo);
    wss.on('listening', listening);
    break;
  }
  default:
    console.error(`unknown MODE ${MODE}`);
    process.exit(2);
}
