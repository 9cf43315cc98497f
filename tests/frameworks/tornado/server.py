"""Tornado's documented EchoWebSocket handler; MODE picks the origin policy."""

import asyncio
import os
import urllib.parse

import tornado.web
import tornado.websocket


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class SubdomainEchoWebSocket(EchoWebSocket):
    # The check_origin docstring's example "to allow connections from any subdomain of
    # your site", with the site being example.com.
    def check_origin(self, origin: str) -> bool:
        parsed_origin = urllib.parse.urlparse(origin)
        return parsed_origin.netloc.endswith(".example.com")


async def main() -> None:
    mode = os.environ["MODE"]
    handler = SubdomainEchoWebSocket if mode == "docs-subdomain" else EchoWebSocket
    settings = {}
    if mode == "allowlist":
        # Tornado 6.6: the default check_origin consults the trusted_origins setting.
        settings["trusted_origins"] = [os.environ["ALLOWED_ORIGIN"]]
    app = tornado.web.Application([(r"/ws", handler)], **settings)
    app.listen(int(os.environ["PORT"]), address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
