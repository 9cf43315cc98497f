"""An echo server as the websockets quick start writes it; MODE picks the origin policy."""

import asyncio
import os

from websockets.asyncio.server import ServerConnection, serve


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main() -> None:
    # "allowlist": serve(..., origins=[...]) as the `origins` parameter documents;
    # otherwise the default, origins=None.
    origins = [os.environ["ALLOWED_ORIGIN"]] if os.environ["MODE"] == "allowlist" else None
    async with serve(echo, "127.0.0.1", int(os.environ["PORT"]), origins=origins) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
