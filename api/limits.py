"""What a request must be before any route sees it: a path without NUL, a body of at
most `MAX_BODY` bytes (413 before anything parses it) in UTF-8 (422 otherwise, the
contract's answer for invalid input)."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from api.errors import Problem, invalid, not_found, problem_response
from api.middleware import HttpMiddleware

# The largest valid body, a time entry with its evidence (escrow.inputs.EVIDENCE_MAX
# characters of compact JSON) and a memo, fits with room for a client's formatting.
MAX_BODY = 256 * 1024


def _too_large() -> Problem:
    return Problem(413, f"the request body is over {MAX_BODY} bytes", slug="too-large")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestLimits(HttpMiddleware):
    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A NUL can't be part of any id, and no database would store it.
        if "\x00" in scope["path"]:
            await problem_response(not_found("no such path"))(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > MAX_BODY:
            await problem_response(_too_large())(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            await problem_response(_too_large())(scope, receive, send)
            return
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            problem = invalid("the request body is not UTF-8")
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None once it passes MAX_BODY (a chunked body declares no length)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()  # after the body: wait for the client's disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
