'use strict';
// express-ws (https://github.com/HenningM/express-ws) configured as its README shows.
// Contract (tests/frameworks/README.md): PORT, MODE, ALLOWED_ORIGIN from the environment;
// loopback only; every message is echoed back.
const express = require('express');

const PORT = Number(process.env.PORT || 3000);
const MODE = process.env.MODE || 'default';
const ALLOWED_ORIGIN = process.env.ALLOWED_ORIGIN || 'https://app.example.com';
const HOST = '127.0.0.1';

const app = express();
// README: "Make sure to set up the express-ws module like above *before* loading or
// defining your routers!"
require('express-ws')(app);

function echo(ws, req) {
  ws.on('message', function (msg) {
    ws.send(msg);
  });
}

switch (MODE) {
  case 'default':
  case 'unknown-path':
    // README "Usage": the echo server at /echo, no Origin check. unknown-path is the same
    // server probed at a path with no app.ws() route.
    app.ws('/echo', echo);
    break;
  case 'origin-close':
    // An Origin check as users write it with express-ws: a route middleware (express-ws
    // passes (ws, req, next) to every handler of app.ws) that closes the socket with
    // 1008 Policy Violation. The upgrade has already happened when it runs.
    app.ws(
      '/echo',
      function checkOrigin(ws, req, next) {
        if (req.headers.origin !== ALLOWED_ORIGIN) {
          ws.close(1008, 'origin not allowed');
          return;
        }
        next();
      },
      echo,
    );
    break;
  case 'forbidden-middleware':
    // An Origin check as users write it for plain Express routes: app.use() answering
    // 403. For a WebSocket request express-ws has already answered 101; its dummy
    // response turns the 403 into socket.close() (lib/index.js).
    app.use(function (req, res, next) {
      if (req.headers.origin !== ALLOWED_ORIGIN) {
        res.status(403).send('Forbidden');
        return;
      }
      next();
    });
    app.ws('/echo', echo);
    break;
  default:
    console.error(`unknown MODE ${MODE}`);
    process.exit(2);
}

app.listen(PORT, HOST, () => {
  console.log(`listening on ${HOST}:${PORT} mode=${MODE}`);
});
