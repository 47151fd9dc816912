"""Errors as JSON problem details (RFC 9457): what went wrong and what to do, never a
traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from chatbot.errors import ChatbotError, UnknownTurnError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str = "", hint: str = "",
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem-details response."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if hint:
        body["hint"] = hint
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _invalid_request(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return problem(422, "The request is not valid", "; ".join(problems[:10]),
                   "see the API's schema at /api/docs")


def _user_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ChatbotError)
    if isinstance(error, UnknownTurnError):
        return problem(404, "No such turn", error.message, error.hint)
    return problem(400, "The request cannot be answered as it is", error.message, error.hint)


def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return problem(error.status_code, str(error.detail), headers=error.headers)


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("%s %s failed", request.method, request.url.path)
    return problem(500, "The server failed to answer", "the error is in the server's log",
                   "retry; if it keeps failing, tell the bot's operator")


def add_problem_handlers(app: FastAPI) -> None:
    """Every error of ``app`` becomes a problem-details response."""
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(ChatbotError, _user_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
