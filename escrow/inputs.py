"""What a text, id or amount from outside may be: one definition for the HTTP bodies,
the bearer token's subject and the workflow commands, so a command typed into the
Temporal Web UI or CLI is refused exactly like the same request over HTTP.

Whatever passes here must be storable by every database the ledger runs on and by
every step a workflow will post later. PostgreSQL refuses NUL in text and in JSON, and
ids end up in `varchar(200)` account names (`expert:{id}:available`); a value that
fails there only fails later, inside a workflow's step, where nothing can refuse it any
more. So control characters (NUL included) and lone surrogates are refused everywhere;
multi-line texts keep newline, carriage return and tab.

User ids are 1..64 characters of letters, digits and `._@+:-`, starting with a letter
or a digit: safe in an account name (`expert:{id}:pending` stays under 200), in a URL
path segment (`/v1/users/{id}/balance`, never `.` or `..`), in a Temporal search
attribute query, and wide enough for uuids, numeric ids, e-mail addresses and
`provider:id` subjects.

Pure pydantic: no temporalio import, so every layer may use it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field, StrictInt, StringConstraints
from pydantic.fields import FieldInfo

# What a JavaScript client reads back exactly.
MAX_CENTS = 2**53 - 1
USER_ID_MAX = 64
REFERENCE_MAX = 200
TITLE_MAX = 200
TEXT_MAX = 5000
# Activity evidence is a tracker's record, not a file upload.
EVIDENCE_MAX = 64 * 1024
LINE_BREAKS_AND_TABS = frozenset("\n\r\t")


def _refused_character(text: str, allowed: frozenset[str]) -> str | None:
    for char in text:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cs"):
            return char
    return None


def _storable(allowed: frozenset[str]) -> Callable[[str], str]:
    def check(text: str) -> str:
        char = _refused_character(text, allowed)
        if char is not None:
            raise ValueError(f"must not contain the control character U+{ord(char):04X}")
        return text

    return check


_storable_lines = _storable(LINE_BREAKS_AND_TABS)
_single_line = AfterValidator(_storable(frozenset()))
_multi_line = AfterValidator(_storable_lines)


def _matching(pattern: str, explanation: str) -> tuple[AfterValidator, FieldInfo]:
    """Check `pattern` with a message a caller can act on (pydantic's own names the
    regular expression); the schema still publishes the pattern."""
    compiled = re.compile(pattern)

    def check(text: str) -> str:
        if compiled.fullmatch(text) is None:
            raise ValueError(explanation)
        return text

    return AfterValidator(check), Field(json_schema_extra={"pattern": f"^{pattern}$"})


UserId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=USER_ID_MAX),
    *_matching(
        r"[A-Za-z0-9][A-Za-z0-9._@+:-]*",
        "a user id may hold only letters, digits and ._@+:- and must start with a letter or digit",
    ),
    Field(description="a user id: 1 to 64 letters, digits and `._@+:-`, starting with a letter or digit"),
]
# An id or token another party issued (an offer, a time entry, a card token): printable
# ASCII without spaces, the width of the database's id columns. Ids are exact: nothing
# is stripped.
Reference = Annotated[
    str,
    StringConstraints(min_length=1, max_length=REFERENCE_MAX),
    *_matching(r"[!-~]+", "must be printable ASCII without spaces"),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX), _single_line]
Text = Annotated[str, StringConstraints(max_length=TEXT_MAX), _multi_line]
RequiredText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TEXT_MAX), _multi_line]

Cents = Annotated[StrictInt, Field(gt=0, le=MAX_CENTS, description="integer minor units")]
# A split of a disputed amount may give the client nothing: 0 is an amount here.
CentsToClient = Annotated[
    StrictInt,
    Field(ge=0, le=MAX_CENTS, description="integer minor units to the client; the expert gets the rest"),
]
# H1: an entry lasts at most the week it belongs to.
Minutes = Annotated[StrictInt, Field(gt=0, le=7 * 24 * 60, description="whole minutes")]


def _caller_instant(moment: datetime) -> datetime:
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range") from None
    if not 1970 <= moment.year < 3000:
        raise ValueError("the instant must fall between the years 1970 and 2999")
    return moment


# A moment given by a caller must say its offset: "09:00" alone is no instant.
Instant = Annotated[AwareDatetime, AfterValidator(_caller_instant)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in (*_strings(key), *_strings(item))]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _storable_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    # Keys and values alike end up in JSON columns, where PostgreSQL refuses \u0000
    # and NaN.
    try:
        size = len(json.dumps(evidence, allow_nan=False))
    except ValueError:
        raise ValueError("must be JSON without NaN or infinity") from None
    if size > EVIDENCE_MAX:
        raise ValueError(f"must be at most {EVIDENCE_MAX} characters as JSON")
    for text in _strings(evidence):
        _storable_lines(text)
    return evidence


Evidence = Annotated[dict[str, Any], AfterValidator(_storable_evidence)]
