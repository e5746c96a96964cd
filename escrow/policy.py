"""Every number of SPEC.md that a platform may choose differently, with named presets.

A workflow receives its Policy in its input, so a running case keeps the rules it
started under even when the deployment's default preset changes.
"""
from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    # M1: the smallest milestone, in cents.
    min_milestone: int = 2500
    # M4: how long the client has to act on a release request before it auto-releases.
    review_window: timedelta = timedelta(days=14)
    # M5 (Elance): when a release request is marked overdue; None where it never is.
    overdue_after: timedelta | None = None
    # M5: reminders to both parties this long before the review deadline.
    reminders_before_deadline: tuple[timedelta, ...] = ()
    # M9 / P2: security hold on fixed-rate releases.
    fixed_release_hold: timedelta = timedelta(days=5)


PRESETS: dict[str, Policy] = {
    "cadcrowd": Policy(name="cadcrowd"),
    "elance": Policy(
        name="elance",
        review_window=timedelta(days=30),
        overdue_after=timedelta(days=15),
        reminders_before_deadline=(timedelta(days=7), timedelta(days=3), timedelta(days=1)),
    ),
}

DEFAULT_PRESET = "cadcrowd"


def preset(name: str) -> Policy:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown policy preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
