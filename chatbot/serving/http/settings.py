"""How ``chatbot serve``'s HTTP server serves (no heavy imports: the CLI reads the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

TOKEN_ENV = "CHATBOT_API_TOKEN"
# Kakao i Open Builder gives a skill 5 seconds; the rest is for the network.
DEFAULT_KAKAO_BUDGET_S = 4.5
# A chat message is at most a few thousand characters; a Kakao payload adds some metadata.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServerSettings:
    """How ``chatbot serve`` serves.

    Attributes:
        api_token: with one, the API and channel routes need ``Authorization: Bearer TOKEN``.
        kakao_budget_s: how long a Kakao skill call waits for its reply before answering
            "one moment" (Kakao gives up after 5 s).
        max_body_bytes: longest request body the API and channels take.
        ui: mount the Gradio chat UI at ``/``.
    """

    api_token: str | None = None
    kakao_budget_s: float = DEFAULT_KAKAO_BUDGET_S
    max_body_bytes: int = MAX_BODY_BYTES
    ui: bool = True
