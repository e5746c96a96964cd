"""Who acts: every command carries its actor, so the workflow decides who may do what."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from escrow.inputs import UserId

__all__ = ["Actor", "PartyCommand", "Role"]


class Role(StrEnum):
    CLIENT = "client"
    EXPERT = "expert"
    OPERATOR = "operator"


class Actor(BaseModel):
    user_id: UserId
    role: Role


class Command(BaseModel):
    """What a caller asks of a workflow: hostile input, validated like an API body
    whether it comes over HTTP or from the Temporal Web UI or CLI (a misspelt field is
    refused rather than silently defaulted). The data converter turns a command that
    fails here into an `Invalid` refusal (escrow.temporal)."""

    model_config = ConfigDict(extra="forbid")


class PartyCommand(Command):
    actor: Actor
