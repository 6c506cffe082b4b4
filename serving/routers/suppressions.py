"""The internal do-not-contact list over HTTP (the CSV import is `hk suppressions import`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.replies import suppress
from serving.deps import AdminKey, State
from serving.errors import ERROR_RESPONSES

router = APIRouter(prefix="/v1/suppressions", tags=["compliance"])


class SuppressionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=64)
    email: str | None = Field(default=None, max_length=320)
    channel: Literal["sms", "email", "all"] = "all"
    reason: str = Field(default="do not contact", min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_contact(self) -> SuppressionIn:
        if not (self.phone or self.email):
            raise ValueError("give a phone or an email")
        return self


class SuppressionOut(BaseModel):
    added: int = Field(description="Contacts newly suppressed (0: already listed)")
    listed: int = Field(description="Contacts given")


@router.post(
    "",
    status_code=201,
    response_model=SuppressionOut,
    summary="Add a phone and/or email to the do-not-contact list",
    responses={200: {"model": SuppressionOut, "description": "Already listed"}, **ERROR_RESPONSES},
)
async def add_suppression(body: SuppressionIn, state: State, key_id: AdminKey) -> Any:
    keys = state.hasher.contact_keys(body.email, body.phone)
    if body.phone and keys.phone_e164 is None:
        detail = [
            {"loc": ["body", "phone"], "msg": "not a valid phone number", "type": "value_error"}
        ]
        return JSONResponse({"detail": detail}, status_code=422)
    hashes = [
        h
        for h in (keys.phone_hash if body.phone else None, keys.email_hash if body.email else None)
        if h
    ]
    added = 0
    async with state.pool.connection() as conn, conn.transaction():
        for contact_hash in hashes:
            added += await suppress(
                conn, contact_hash, body.channel, body.reason, f"api-key:{key_id}"
            )
    return JSONResponse({"added": added, "listed": len(hashes)}, status_code=201 if added else 200)
