"""Rasa's REST channel (``POST /webhooks/rest/webhook``), so that Rasa's web widgets and
clients talk to this bot unchanged: ``{"sender", "message"}`` in, a list of bot messages
``[{"recipient_id", "text"}]`` out (with ``buttons`` for the suggestions)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from chatbot.serving.http.auth import BearerToken
from chatbot.serving.http.metrics import ChatMetrics
from chatbot.serving.http.rest import MAX_ID, MAX_TEXT
from chatbot.serving.service import ChatService, conversation_key


class RasaMessage(BaseModel):
    sender: str = Field("default", min_length=1, max_length=MAX_ID,
                        description="the user's id: one conversation per sender")
    message: str = Field(max_length=MAX_TEXT, description="what the user wrote")


class RasaButton(BaseModel):
    title: str
    payload: str


class RasaReply(BaseModel):
    recipient_id: str
    text: str
    buttons: list[RasaButton] | None = None


def rasa_routes(service: ChatService, metrics: ChatMetrics, auth: BearerToken) -> APIRouter:
    """Rasa's REST channel over ``service``."""
    router = APIRouter(tags=["rasa"], dependencies=[Depends(auth)])

    @router.post("/webhooks/rest/webhook", response_model=list[RasaReply],
                 response_model_exclude_none=True)
    def webhook(request: RasaMessage) -> list[RasaReply]:
        """One user message in Rasa's REST channel format; the bot's reply as Rasa sends it."""
        reply = service.respond(request.message, conversation_key("rasa", request.sender))
        metrics.observe("rasa", reply)
        buttons = [RasaButton(title=text, payload=text) for text in reply.suggestions] or None
        return [RasaReply(recipient_id=request.sender, text=reply.text, buttons=buttons)]

    return router
