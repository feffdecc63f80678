"""Baseline for bench/run.py: a bare Tornado WebSocket server that only receives and
JSON-parses (plus the one auth_ok reply a node needs). Same TLS, same port layout."""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl

import tornado.web
import tornado.websocket

received = 0


class BareNodeSocket(tornado.websocket.WebSocketHandler):
    authed = False

    def check_origin(self, origin: str) -> bool:
        return True

    @property
    def max_message_size(self) -> int:
        return 8 * 1024 * 1024

    def on_message(self, message) -> None:
        global received
        json.loads(message)
        if not self.authed:
            self.authed = True
            self.write_message('{"type":"auth_ok","timestamp":"2026-01-01T00:00:00.000Z"}')
            return
        received += 1


class CountHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write({"received": received})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    app = tornado.web.Application([(r"/ws/node", BareNodeSocket), (r"/count", CountHandler)])
    app.listen(args.port, address="127.0.0.1", ssl_options=ctx, backlog=4096)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
