"""A tiny RFC 7662 token introspection service on loopback, standing in for an organisation's auth server."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: The tokens it knows: token -> introspection reply.
KNOWN = {
    "ext-admin-token": {"active": True, "scope": "admin openid", "username": "carol"},
    "ext-act-token": {"active": True, "scope": "act", "username": "dave"},
    "ext-expired-token": {"active": False},
}


class IntrospectionServer:
    """``url`` answers POSTed ``token=...`` forms from :data:`KNOWN`; ``asked`` lists the tokens seen."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                token = form.get("token", [""])[0]
                outer.asked.append(token)
                body = json.dumps(KNOWN.get(token, {"active": False})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/introspect"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
