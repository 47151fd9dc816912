"""The one ASGI app of ``chatbot serve``: the REST API, the Rasa and Kakao channels, the
probes and metrics, and the Gradio chat UI mounted at ``/``, all over one
:class:`~chatbot.serving.service.ChatService` (so one batcher and one dialog log)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from chatbot.serving.http.auth import BearerToken
from chatbot.serving.http.health import health_routes
from chatbot.serving.http.kakao import kakao_routes
from chatbot.serving.http.limits import BodyLimit
from chatbot.serving.http.metrics import ChatMetrics
from chatbot.serving.http.problems import add_problem_handlers
from chatbot.serving.http.rasa import rasa_routes
from chatbot.serving.http.rest import rest_routes
from chatbot.serving.http.settings import ServerSettings
from chatbot.serving.service import ChatService

# Each waiting request holds a worker thread while the batcher answers it; with anyio's default
# of 40, the 41st concurrent user would wait for a thread rather than join the next batch.
MAX_THREADS = 128
# The routes that take a body from programs: bounded before it is read.
BODY_ROUTES = ("/api/", "/webhooks/", "/kakao/")


@asynccontextmanager
async def _more_threads(_: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = MAX_THREADS
    yield


def build_server(service: ChatService, settings: ServerSettings | None = None) -> FastAPI:
    """The app (``settings``: the defaults of :class:`ServerSettings` when None): API docs at
    ``/api/docs``, its schema at ``/api/openapi.json``."""
    settings = settings or ServerSettings()
    app = FastAPI(title="한국어 챗봇 API", version="1", lifespan=_more_threads,
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json",
                  description="Chat with the bot from programs, messengers and Rasa clients.")
    metrics = ChatMetrics()
    auth = BearerToken(settings.api_token)
    add_problem_handlers(app)
    app.add_middleware(BodyLimit, prefixes=BODY_ROUTES, max_bytes=settings.max_body_bytes)
    app.include_router(rest_routes(service, metrics, auth))
    app.include_router(rasa_routes(service, metrics, auth))
    app.include_router(kakao_routes(service, metrics, auth, settings.kakao_budget_s))
    app.include_router(health_routes(service, metrics))
    app.state.metrics = metrics
    if settings.ui:
        from chatbot.serving.web import mount_ui

        mount_ui(app, service)  # last: it answers every path the routes above do not
    return app
