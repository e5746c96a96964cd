"""Request dependencies: what `create_app` put on app state, and the caller."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client

from api.auth import InvalidToken, decode_token
from api.errors import Problem, unauthenticated
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
