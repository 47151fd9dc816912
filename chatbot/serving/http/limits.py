"""Bounds on what a request may send, checked before the body is read into memory."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException

from chatbot.serving.http.problems import problem
from chatbot.serving.http.settings import MAX_BODY_BYTES


class BodyLimit:
    """ASGI middleware: a request to one of ``prefixes`` whose body is longer than
    ``max_bytes`` gets a 413 problem. The body is also counted as it arrives, so a lying or
    missing Content-Length does not help: reading past the limit raises a 413 HTTPException,
    which the app turns into the same problem."""

    def __init__(self, app: Any, prefixes: tuple[str, ...],
                 max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.prefixes = prefixes
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = problem(413, self.too_long().detail, f"at most {self.max_bytes:,} bytes",
                               "send one message at a time")
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self.too_long()
            return message

        await self.app(scope, counted, send)

    def too_long(self) -> HTTPException:
        return HTTPException(413, "The request body is too long")
