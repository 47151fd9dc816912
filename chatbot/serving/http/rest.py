"""The REST API: ``POST /api/v1/chat`` and ``POST /api/v1/feedback``."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.responses import Response

from chatbot.serving.http.auth import BearerToken
from chatbot.serving.http.metrics import ChatMetrics
from chatbot.serving.service import ChatService, conversation_key

# Messages longer than the service takes are answered with a notice (refused), not an error;
# this bound only keeps absurd bodies out.
MAX_TEXT = 100_000
MAX_ID = 128


class ChatRequest(BaseModel):
    message: str = Field(max_length=MAX_TEXT, description="what the user wrote")
    conversation_id: str | None = Field(
        None, max_length=MAX_ID, description="the conversation_id of an earlier reply, to "
        "answer in its context; none: the user_id's conversation, or a new one")
    user_id: str | None = Field(
        None, min_length=1, max_length=MAX_ID, description="your id for the user: without a "
        "conversation_id, all of a user's messages are one conversation")


class ChatResponse(BaseModel):
    reply: str = Field(description="the bot's reply, or a notice when the message was refused")
    conversation_id: str = Field(description="pass it back with the next message")
    turn_index: int | None = Field(description="the turn's index in the dialog log (for "
                                   "feedback); null when nothing was logged")
    responder: str | None = Field(description="the pipeline step that gave the reply")
    confidence: float | None = Field(description="the responder's confidence, 0 to 1")
    suggestions: list[str] = Field(description="what to ask instead, when the bot could "
                                   "not help")
    refused: bool = Field(description="the message was not processed (empty, too long, "
                          "unreadable, or the pipeline failed on it)")
    latency_ms: float = Field(description="time from receiving the message to the reply")


class FeedbackRequest(BaseModel):
    conversation_id: str = Field(max_length=MAX_ID)
    turn_index: int = Field(ge=0, le=10**9)
    value: Literal[1, -1] | None = Field(description="1: like, -1: dislike, null: withdrawn")


def rest_routes(service: ChatService, metrics: ChatMetrics, auth: BearerToken) -> APIRouter:
    """The REST API's routes over ``service``."""
    router = APIRouter(prefix="/api/v1", tags=["chat"], dependencies=[Depends(auth)])

    @router.post("/chat", response_model=ChatResponse)
    def chat(request: ChatRequest) -> ChatResponse:
        """Send one message and get the bot's reply. Messages with the same conversation_id
        (or user_id) are answered in the context of the turns before them."""
        conversation_id = request.conversation_id or (
            conversation_key("user", request.user_id) if request.user_id else None)
        reply = service.respond(request.message, conversation_id)
        metrics.observe("rest", reply)
        answered = reply.message
        return ChatResponse(
            reply=reply.text, conversation_id=reply.conversation_id,
            turn_index=reply.turn_index,
            responder=answered.responder if answered else None,
            confidence=answered.reply_confidence if answered else None,
            suggestions=reply.suggestions,
            refused=reply.refused, latency_ms=round(reply.latency_ms, 1))

    @router.post("/feedback", status_code=204, response_class=Response)
    def feedback(request: FeedbackRequest) -> Response:
        """Like (1) or dislike (-1) a logged turn, or withdraw the rating (null)."""
        service.check_conversation_id(request.conversation_id)
        service.feedback(request.conversation_id, request.turn_index, request.value)
        return Response(status_code=204)

    return router
