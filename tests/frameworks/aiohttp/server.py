"""aiohttp's documented WebSocketResponse handler (echoing unchanged); MODE "allowlist"
checks the Origin before the handshake, since aiohttp has no origin option."""

import os

import aiohttp
from aiohttp import web

ALLOWED = {os.environ["ALLOWED_ORIGIN"]}


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    if os.environ["MODE"] == "allowlist" and request.headers.get("Origin") not in ALLOWED:
        raise web.HTTPForbidden(text="origin not allowed")
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


app = web.Application()
app.add_routes([web.get("/ws", websocket_handler)])

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)
