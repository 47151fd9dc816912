"""Optional bearer-token authentication of the programmatic routes."""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.exceptions import HTTPException


class BearerToken:
    """A FastAPI dependency: with a token set, a request must carry ``Authorization: Bearer
    TOKEN``; without one, every request passes."""

    def __init__(self, token: str | None) -> None:
        self.token = token or None

    def __call__(self, request: Request) -> None:
        if self.token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 self.token.encode()):
            raise HTTPException(401, "A valid bearer token is needed",
                                headers={"WWW-Authenticate": "Bearer"})
