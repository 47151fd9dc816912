"""``GET /healthz`` (the process answers), ``GET /readyz`` (the model is loaded and the log
store takes writes) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response

from chatbot.serving.http.metrics import ChatMetrics
from chatbot.serving.service import ChatService

logger = logging.getLogger(__name__)
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def health_routes(service: ChatService, metrics: ChatMetrics) -> APIRouter:
    """The probes and the metrics of ``service``."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    def healthz() -> dict:
        """Alive: the process answers requests."""
        return {"status": "ok"}

    @router.get("/readyz")
    def readyz() -> JSONResponse:
        """Ready for traffic: the pipeline is loaded and the dialog log takes writes."""
        checks = {"model": service.version, "log_store": "writable"}
        try:
            service.store.check_writable()
        except Exception as error:  # any store failure means: not ready, say why
            logger.warning("readiness: the log store is not writable: %s", error)
            checks["log_store"] = f"not writable: {error}"
            return JSONResponse({"status": "not ready", **checks}, status_code=503)
        return JSONResponse({"status": "ready", **checks})

    @router.get("/metrics")
    def prometheus() -> Response:
        """The service's metrics in Prometheus's text format."""
        return Response(metrics.exposition(), media_type=PROMETHEUS_TEXT)

    return router
