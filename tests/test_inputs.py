"""What a text, id or amount from outside may be (escrow.inputs): whatever passes must
be storable by PostgreSQL and fit the ledger's account names, or it fails later inside
a workflow's step, where nothing can refuse it any more."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from escrow import accounts
from escrow.inputs import (
    Cents,
    CentsToClient,
    Evidence,
    Reference,
    RequiredText,
    Text,
    Title,
    UserId,
)
from escrow.models import Actor, Release, Role

ACCOUNT_NAME_MAX = 200  # escrow.db.models: Account.name is String(200)
CONTROLS = [chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x9F) if chr(c) not in "\n\r\t"]


def accepts(kind: object, value: object) -> bool:
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "user_id",
    ["bob", "7", "c5d1a2b0e6f94f1e9b3c3a1f2e4d5c6b", "alice@example.com", "google-oauth2:1049", "a.b_c+d", "x" * 64],
)
def test_user_ids_marketplaces_issue_are_accepted(user_id):
    assert accepts(UserId, user_id)


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        " ",
        "x" * 65,
        "x" * 186,
        "bob\x00",
        "\x00",
        "bob smith",
        " bob",
        "bob\n",
        ".",
        "..",
        "-rf",
        "josé",
        "a/b",
        "a%00",
    ],
)
def test_user_ids_that_would_break_an_account_name_or_a_url_are_refused(user_id):
    assert not accepts(UserId, user_id)


@given(st.one_of(st.text(max_size=300), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._@+:-]{0,250}", fullmatch=True)))
def test_every_accepted_user_id_makes_account_names_the_ledger_can_hold(user_id):
    if accepts(UserId, user_id):
        for name in (
            accounts.expert_pending(user_id),
            accounts.expert_available(user_id),
            accounts.client_balance(user_id),
        ):
            assert len(name) <= ACCOUNT_NAME_MAX and name.isascii() and name.isprintable()


@pytest.mark.parametrize("char", CONTROLS + ["\ud800"])
@pytest.mark.parametrize("kind", [Text, RequiredText, Title, Reference])
def test_control_characters_and_lone_surrogates_are_refused_in_every_text(kind, char):
    assert not accepts(kind, f"a{char}b")


@given(st.text(st.characters(exclude_categories=()), max_size=50))
def test_every_accepted_text_is_storable_in_postgresql(text):
    for kind in (Text, RequiredText, Title):
        try:
            stored = TypeAdapter(kind).validate_python(text)
        except ValidationError:
            continue
        # psycopg refuses NUL and can't encode a lone surrogate.
        assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in stored if c not in "\n\r\t")


def test_multi_line_texts_keep_newlines_and_tabs_but_a_title_is_one_line():
    assert accepts(Text, "line one\r\nline two\tend")
    assert not accepts(Title, "Logo\nv2")


def test_lengths_and_blank_texts():
    assert accepts(Text, "x" * 5000) and not accepts(Text, "x" * 5001)
    assert accepts(Text, "")
    assert not accepts(RequiredText, " \n\t ")
    assert TypeAdapter(Title).validate_python("  Logo  ") == "Logo"
    assert accepts(Title, "x" * 200) and not accepts(Title, "x" * 201)
    assert accepts(Reference, "x" * 200) and not accepts(Reference, "x" * 201)


@pytest.mark.parametrize("amount", [0, -1, 2**53, 1.0, 2500.0, "2500", True, None])
def test_cents_are_positive_strict_integers_a_javascript_client_reads_back(amount):
    assert not accepts(Cents, amount)


def test_cents_bounds():
    assert accepts(Cents, 1) and accepts(Cents, 2**53 - 1)
    assert accepts(CentsToClient, 0) and not accepts(CentsToClient, -1) and not accepts(CentsToClient, 0.0)


@pytest.mark.parametrize(
    "evidence",
    [
        {"app\x00": "x"},
        {"app": "x\x00"},
        {"apps": [{"title": "\x1b[31m"}]},
        {"ratio": float("nan")},
        {"blob": "x" * 70_000},
    ],
)
def test_evidence_is_refused_if_any_key_or_value_could_not_be_stored(evidence):
    assert not accepts(Evidence, evidence)


def test_evidence_of_a_tracker_is_accepted():
    assert accepts(Evidence, {"screenshots": 6, "apps": [{"title": "Figma\tdesign", "minutes": 55}], "idle": 0.1})


@pytest.mark.rules("M4", "M6")
def test_a_release_command_must_say_how_much():
    client = Actor(user_id="alice", role=Role.CLIENT)
    with pytest.raises(ValidationError):
        Release(actor=client)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Release(actor=client, amount=None)  # type: ignore[arg-type]
    assert Release(actor=client, amount=1).amount == 1
