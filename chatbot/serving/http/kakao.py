"""A KakaoTalk channel: a skill server for Kakao i Open Builder (skill payload version 2.0).

Open Builder posts the user's utterance (``userRequest.utterance``) and who wrote it
(``userRequest.user.id``) and waits at most 5 seconds for a skill response. The user's id is
the conversation key, so context carries across turns. A reply not ready within the budget
(4.5 s by default) is answered with a short "one moment" instead; the turn still completes and
is logged, and the user's next message is answered in its context.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from chatbot.serving.http.auth import BearerToken
from chatbot.serving.http.metrics import ChatMetrics
from chatbot.serving.http.rest import MAX_TEXT
from chatbot.serving.http.settings import DEFAULT_KAKAO_BUDGET_S
from chatbot.serving.service import ChatService, Reply, conversation_key

STILL_THINKING = "잠시만요, 답을 고르는 데 시간이 걸리고 있어요. 조금 뒤에 다시 말을 걸어 주세요."
# Kakao's limits on a skill response: a simpleText holds 1,000 characters; there are at most
# ten quick replies, whose labels show 14 characters.
MAX_SIMPLE_TEXT = 1000
MAX_QUICK_REPLIES = 10
MAX_LABEL = 14
MAX_USER_ID = 1024


class KakaoUser(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=MAX_USER_ID)


class KakaoUserRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    utterance: str = Field(max_length=MAX_TEXT)
    user: KakaoUser


class SkillPayload(BaseModel):
    """The parts of Open Builder's skill payload the bot reads (the rest is ignored)."""

    model_config = ConfigDict(extra="ignore")
    userRequest: KakaoUserRequest  # noqa: N815 (Kakao's field name)


def skill_response(text: str, suggestions: Sequence[str] = ()) -> dict:
    """A version 2.0 skill response: one simpleText and, when there are suggestions, quick
    replies that send them."""
    if len(text) > MAX_SIMPLE_TEXT:
        text = text[: MAX_SIMPLE_TEXT - 1] + "…"
    template: dict = {"outputs": [{"simpleText": {"text": text}}]}
    if suggestions:
        template["quickReplies"] = [
            {"label": s if len(s) <= MAX_LABEL else s[: MAX_LABEL - 1] + "…",
             "action": "message", "messageText": s}
            for s in suggestions[:MAX_QUICK_REPLIES]]
    return {"version": "2.0", "template": template}


def kakao_routes(service: ChatService, metrics: ChatMetrics, auth: BearerToken,
                 budget_s: float = DEFAULT_KAKAO_BUDGET_S) -> APIRouter:
    """The Kakao skill route over ``service``."""
    router = APIRouter(tags=["kakao"], dependencies=[Depends(auth)])

    def answer(payload: SkillPayload) -> Reply:
        request = payload.userRequest
        reply = service.respond(request.utterance, conversation_key("kakao", request.user.id))
        metrics.observe("kakao", reply)
        return reply

    @router.post("/kakao/skill")
    async def skill(payload: SkillPayload) -> dict:
        """Kakao i Open Builder's skill call: the user's utterance in, a skill response out,
        within the budget."""
        reply = None
        with anyio.move_on_after(budget_s):
            # abandon_on_cancel: past the budget the thread goes on (the turn is logged), and
            # Kakao gets its answer in time.
            reply = await anyio.to_thread.run_sync(answer, payload, abandon_on_cancel=True)
        if reply is None:
            metrics.late.labels("kakao").inc()
            return skill_response(STILL_THINKING)
        return skill_response(reply.text, reply.suggestions)

    return router
