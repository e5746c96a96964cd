"""Who acts: every command carries its actor, so the workflow decides who may do what."""
from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Role(StrEnum):
    CLIENT = "client"
    EXPERT = "expert"
    OPERATOR = "operator"


class Actor(BaseModel):
    user_id: str
    role: Role


class PartyCommand(BaseModel):
    actor: Actor
