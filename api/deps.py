"""Request dependencies: what `create_app` put on app state, the caller, and what the
caller may see."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.auth import InvalidToken, can_see, decode_token
from api.errors import Problem, not_found, unauthenticated
from escrow.models import Actor
from escrow.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="HS256 JWT with claims `sub` and `role`")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_client(request: Request) -> Client:
    return request.app.state.client


def get_sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def authenticate(settings: Settings, token: str | None) -> Actor:
    if not settings.jwt_secret:
        # Fail closed: without a secret no token can be checked.
        raise Problem(500, "authentication is not configured", slug="internal")
    if not token:
        raise unauthenticated("a bearer token is required")
    try:
        return decode_token(settings.jwt_secret, token)
    except InvalidToken as err:
        raise unauthenticated(f"invalid token: {err}") from err


def bearer_token(authorization: str | None) -> str | None:
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" else None


async def current_actor(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    return authenticate(settings, credentials.credentials if credentials else None)


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
SessionsDep = Annotated[sessionmaker[Session], Depends(get_sessions)]
ActorDep = Annotated[Actor, Depends(current_actor)]


class Parties(Protocol):
    @property
    def client_id(self) -> str: ...

    @property
    def expert_id(self) -> str: ...


P = TypeVar("P", bound=Parties)


def seen(actor: Actor, found: P | None, what: str) -> P:
    """What a caller may see of a party's thing: its parties and operators see it;
    anyone else learns nothing, as if there were none (404 `what`)."""
    if found is None or not can_see(actor, found.client_id, found.expert_id):
        raise not_found(what)
    return found


def visible(what: str, load: Callable[..., Awaitable[P | None]], **path: Any) -> Any:
    """The dependency that answers the thing a path names, if the caller may `seen` it.

    `path` are the path parameters naming it, with their types (validated before
    anything is read); `load(client, sessions, **path)` reads it, None if there is
    none; `what` is formatted with the path. FastAPI runs a dependency before it
    validates the route's body, so a command with a body calls `seen` itself once the
    body is valid (an invalid body is 422 whoever sends it)."""

    async def dependency(actor: Actor, client: Client, sessions: sessionmaker[Session], **ids: str) -> P:
        return seen(actor, await load(client, sessions, **ids), what.format(**ids))

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = {"actor": ActorDep, "client": ClientDep, "sessions": SessionsDep, **path}
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, keyword, annotation=annotation) for name, annotation in parameters.items()]
    )
    return Depends(dependency)
