"""Billing weeks (H1–H6, P1): ISO weeks in UTC and the instants that end each phase.

A billing week runs Monday 00:00 to Sunday 23:59:59 UTC. Every deadline of the weekly
cycle is an exact instant computed here, so the workflow's timers and the API agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

WEEK = timedelta(days=7)
_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(moment: datetime) -> str:
    """The billing week an instant falls in, as `2026-W47`."""
    year, week, _ = moment.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def week_start(week: str) -> datetime:
    """Monday 00:00 UTC of a week named like `2026-W47`."""
    match = _ISO_WEEK.match(week)
    if not match:
        raise ValueError(f"not an ISO week: {week!r} (expected e.g. 2026-W47)")
    year, number = int(match[1]), int(match[2])
    try:
        monday = date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ValueError(f"{year} has no ISO week {number}") from None
    return datetime(monday.year, monday.month, monday.day, tzinfo=UTC)


@dataclass(frozen=True)
class BillingWeek:
    """The instants of one billing week's cycle; each phase ends where the next begins."""

    week: str
    starts_at: datetime  # Monday 00:00
    # H2: the Monday 00:00 after the week, when the client is billed.
    billed_at: datetime
    # H3: Monday 12:00; the expert edits entries before it.
    expert_review_ends_at: datetime
    # H4: the Saturday 00:00 that follows Friday 23:59:59; disputes come before it.
    client_review_ends_at: datetime
    # H6, P1: Wednesday 00:00 of the second week after, 9 days after the week's end.
    available_at: datetime

    @classmethod
    def of(cls, week: str) -> BillingWeek:
        start = week_start(week)
        billed = start + WEEK
        return cls(
            week=week,
            starts_at=start,
            billed_at=billed,
            expert_review_ends_at=billed + timedelta(hours=12),
            client_review_ends_at=billed + timedelta(days=5),
            available_at=billed + timedelta(days=9),
        )

    def next(self) -> BillingWeek:
        return BillingWeek.of(iso_week(self.billed_at))

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.billed_at
