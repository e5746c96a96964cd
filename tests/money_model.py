"""A small reference model of the money rules of fixed-price milestones, in plain Python:
what tests/test_model.py expects the engine to answer and to hold after each command.

It knows the cadcrowd numbers (14-day review, 7 days to answer a refund, 3 days to answer
a dispute, 21 days of negotiation, 5-day hold) and only the paths the model test drives:
fund, submit, release, request revision, refund request → approve / decline / silence /
escalate, dispute → accept / respond / silence, and time passing. Where the engine's
rules are intricate (claims on money already released, M10) the model accepts 2xx or 409
and follows the engine's answer; the invariants still have to hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

REVIEW = timedelta(days=14)
ANSWER_REFUND = timedelta(days=7)
ESCALATE = timedelta(days=7)
ANSWER_DISPUTE = timedelta(days=3)
NEGOTIATE = timedelta(days=21)
HOLD = timedelta(days=5)
DISPUTE_AFTER_RELEASE = timedelta(days=30)
REFUNDS_END = timedelta(days=365)

OK, CREATED = {200}, {201}
FORBIDDEN = {403}
# A stranger is refused; whether as 403 or as 404 (not even told the thing exists) is
# the API's choice, and both change nothing.
STRANGER = {403, 404}
CONFLICT = {409}
RELEASABLE = ("in_progress", "submitted", "partially_released")
FUNDED_ONCE = ("in_progress", "submitted", "partially_released", "completed")


@dataclass
class Claim:
    id: str
    kind: str  # refund | dispute
    amount: int
    milestone: Milestone
    status: str = "open"  # open, declined, escalated, closed, settled, unpaid (the milestone's view)
    after_release: bool = False
    # Refund: pending | awaiting_operator | approved | declined. Dispute: filed | negotiation | resolved.
    stage: str = ""
    deadline: datetime | None = None
    escalate_until: datetime | None = None
    claimant: str = "client"
    needs_operator: bool = False

    @property
    def freezes(self) -> bool:
        return not self.after_release and self.status in ("open", "declined")

    @property
    def respondent(self) -> str:
        return "expert" if self.claimant == "client" else "client"


@dataclass
class Milestone:
    id: str
    amount: int
    status: str = "agreed"
    escrow: int = 0
    funded: int = 0
    released: int = 0
    refunded: int = 0
    deadline: datetime | None = None
    paid_at: datetime | None = None
    claims: list[Claim] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)

    @property
    def frozen(self) -> int:
        return sum(c.amount for c in self.claims if c.freezes)

    @property
    def free(self) -> int:
        return self.escrow - self.frozen

    def open_refund(self) -> bool:
        return any(c.kind == "refund" and c.status == "open" for c in self.claims)

    def finished(self, now: datetime) -> bool:
        """Its workflow has ended: nothing left to pay, hold, decide, or refund (M10)."""
        return (
            self.status == "completed"
            and not self.holds
            and not any(c.status in ("open", "declined") for c in self.claims)
            and (self.paid_at is None or now >= self.paid_at + REFUNDS_END)
        )


@dataclass
class Outcome:
    """What the engine may answer, and what to do to the model when it accepts."""

    codes: set[int]
    apply: Callable[[dict[str, Any]], None] | None = None


def refused(codes: set[int]) -> Outcome:
    return Outcome(codes)


@dataclass
class Hold:
    amount: int
    available_at: datetime


class Money:
    """One contract's client and expert, their milestones, and the clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.milestones: list[Milestone] = []
        self.client_available = 0
        self.expert_available = 0

    @property
    def claims(self) -> list[Claim]:
        return [c for m in self.milestones for c in m.claims]

    @property
    def pending(self) -> int:
        return sum(h.amount for m in self.milestones for h in m.holds)

    # ------------------------------------------------------------------ milestone commands

    def fund(self, m: Milestone, actor: str) -> Outcome:
        if denied := self._party(m, actor, "client"):
            return denied
        if m.status != "agreed":
            return refused(CONFLICT)

        def apply(_: dict) -> None:
            m.status, m.escrow, m.funded = "in_progress", m.amount, m.amount

        return Outcome(OK, apply)

    def submit(self, m: Milestone, actor: str) -> Outcome:
        if denied := self._party(m, actor, "expert"):
            return denied
        if m.status != "in_progress":
            return refused(CONFLICT)

        def apply(_: dict) -> None:
            m.status, m.deadline = "submitted", self.now + REVIEW

        return Outcome(OK, apply)

    def release(self, m: Milestone, actor: str, amount: int) -> Outcome:
        if denied := self._party(m, actor, "client"):
            return denied
        if m.status not in RELEASABLE or amount > m.free:
            return refused(CONFLICT)
        return Outcome(OK, lambda _: self._pay(m, 0, amount, by_client=True))

    def request_revision(self, m: Milestone, actor: str) -> Outcome:
        if denied := self._party(m, actor, "client"):
            return denied
        if not self._review_open(m):
            return refused(CONFLICT)

        def apply(_: dict) -> None:
            m.status, m.deadline = "in_progress", None

        return Outcome(OK, apply)

    def _review_open(self, m: Milestone) -> bool:
        return m.status == "submitted" and m.deadline is not None and self.now < m.deadline

    # ------------------------------------------------------------------ refunds (R1–R4, M10)

    def request_refund(self, m: Milestone, actor: str, amount: int) -> Outcome:
        if denied := self._party(m, actor, "client"):
            return denied
        if m.status not in FUNDED_ONCE or m.open_refund():
            return refused(CONFLICT)
        if m.free > 0:
            if amount > m.free:
                return refused(CONFLICT)
            return Outcome(CREATED, lambda body: self._add_refund(m, body, after_release=False))
        if m.escrow > 0 or m.paid_at is None:
            return refused(CONFLICT)
        # M10: a refund of released money; its limits are the engine's to decide.
        return Outcome(CREATED | CONFLICT, lambda body: self._add_refund(m, body, after_release=True))

    def _add_refund(self, m: Milestone, body: dict, after_release: bool) -> None:
        assert body["phase"] == ("after_release" if after_release else "escrow"), body
        assert body["status"] == "pending" and body["deadline_action"] == ("decline" if after_release else "approve")
        m.claims.append(
            Claim(
                id=body["id"],
                kind="refund",
                amount=body["amount"],
                milestone=m,
                after_release=after_release,
                stage="pending",
                deadline=self.now + ANSWER_REFUND,
                needs_operator=body["needs_operator"],
            )
        )

    def answer_refund(self, c: Claim, actor: str, approve: bool) -> Outcome:
        if c.stage == "pending":
            allowed = "expert"
        elif c.stage == "awaiting_operator":
            allowed = "operator"
        else:
            # Decided: the request's workflow has ended; only its parties learn so.
            return refused(STRANGER if actor == "stranger" else CONFLICT)
        if actor == "stranger":
            return refused(STRANGER)
        if actor != allowed:
            return refused(FORBIDDEN)
        if approve and c.stage == "pending" and c.needs_operator:

            def await_operator(body: dict) -> None:
                assert body["status"] == "awaiting_operator", body
                c.stage, c.deadline = "awaiting_operator", self.now + ANSWER_REFUND

            return Outcome(OK, await_operator)

        def decide(body: dict) -> None:
            assert body["status"] == ("approved" if approve else "declined"), body
            self._refund_decided(c, approve)

        return Outcome(OK, decide)

    def _refund_decided(self, c: Claim, approved: bool) -> None:
        m = c.milestone
        c.stage, c.deadline = ("approved" if approved else "declined"), None
        if approved and not c.after_release:
            # R3: the amount to the client, the rest of the free escrow to the expert.
            self._pay(m, c.amount, m.free, settle=c)
        elif approved:
            if self._claw_back(m, c.amount):
                self.client_available += c.amount
                m.released -= c.amount
                m.refunded += c.amount
                c.status = "settled"
            else:
                c.status = "unpaid"
        else:
            until = self.now + ESCALATE
            if c.after_release and m.paid_at:
                until = min(until, m.paid_at + DISPUTE_AFTER_RELEASE)
            if until <= self.now:
                c.status = "closed"
            else:
                c.status, c.escalate_until = "declined", until

    def escalate(self, c: Claim, actor: str) -> Outcome:
        if ended := self._ended(c.milestone, actor):
            return ended
        if actor == "stranger":
            return refused(STRANGER)
        if actor != "client":
            return refused(FORBIDDEN)
        if c.status != "declined" or c.escalate_until is None or self.now >= c.escalate_until:
            return refused(CONFLICT)
        m = c.milestone

        def apply(body: dict) -> None:
            c.status = "escalated"
            self._add_dispute(m, body, "client", c.after_release)

        return Outcome(CREATED | CONFLICT if c.after_release else CREATED, apply)

    # ------------------------------------------------------------------ disputes (D1, D2, M10)

    def open_dispute(self, m: Milestone, actor: str, amount: int) -> Outcome:
        if ended := self._ended(m, actor):
            return ended
        if actor in ("stranger", "operator"):
            return refused(FORBIDDEN if actor == "operator" else STRANGER)
        if m.status not in FUNDED_ONCE:
            return refused(CONFLICT)
        if m.free > 0:
            if amount > m.free:
                return refused(CONFLICT)
            return Outcome(CREATED, lambda body: self._add_dispute(m, body, actor, after_release=False))
        if actor != "client" or m.escrow > 0:
            return refused(CONFLICT)
        return Outcome(CREATED | CONFLICT, lambda body: self._add_dispute(m, body, actor, after_release=True))

    def _add_dispute(self, m: Milestone, body: dict, claimant: str, after_release: bool) -> None:
        assert (body["status"], body["claimant"]) == ("filed", claimant), body
        if after_release:
            # M10: the released amount comes back into escrow, where the dispute freezes it.
            assert self._claw_back(m, body["amount"]), "the engine took back more than the expert had"
            m.escrow += body["amount"]
            m.released -= body["amount"]
        m.claims.append(
            Claim(
                id=body["id"],
                kind="dispute",
                amount=body["amount"],
                milestone=m,
                stage="filed",
                deadline=self.now + ANSWER_DISPUTE,
                claimant=claimant,
            )
        )

    def answer_dispute(self, c: Claim, actor: str, accept: bool) -> Outcome:
        if c.stage == "resolved":
            return refused(STRANGER if actor == "stranger" else CONFLICT)
        if actor == "stranger":
            return refused(STRANGER)
        if actor != c.respondent:
            return refused(FORBIDDEN)
        if c.stage != "filed" or (c.deadline is not None and self.now >= c.deadline):
            return refused(CONFLICT)
        if accept:

            def settle(body: dict) -> None:
                assert body["status"] == "resolved", body
                self._dispute_won(c, c.claimant)

            return Outcome(OK, settle)

        def respond(body: dict) -> None:
            assert body["status"] == "negotiation", body
            c.stage, c.deadline = "negotiation", self.now + NEGOTIATE

        return Outcome(OK, respond)

    def _dispute_won(self, c: Claim, winner: str) -> None:
        c.stage, c.deadline = "resolved", None
        to_client = c.amount if winner == "client" else 0
        self._pay(c.milestone, to_client, c.amount - to_client, settle=c)

    # ------------------------------------------------------------------ money out of escrow

    def _pay(
        self, m: Milestone, to_client: int, to_expert: int, by_client: bool = False, settle: Claim | None = None
    ) -> None:
        m.escrow -= to_client + to_expert
        m.refunded += to_client
        m.released += to_expert
        self.client_available += to_client
        if to_expert:
            m.holds.append(Hold(to_expert, self.now + HOLD))
            m.paid_at = self.now
        if settle is not None:
            settle.status = "settled"
        if m.escrow == 0:
            m.status = "completed"
        elif by_client and to_expert:
            m.status = "partially_released"  # M6
        if m.status != "submitted":
            m.deadline = None

    def _claw_back(self, m: Milestone, amount: int) -> bool:
        """M10: take released money back from the expert: first what this milestone
        still holds for it, the latest hold first, then its available balance, never
        below zero (L3). False, changing nothing, when that is not enough."""
        held = sum(h.amount for h in m.holds)
        if held + self.expert_available < amount:
            return False
        left = amount
        for h in sorted(m.holds, key=lambda h: h.available_at, reverse=True):
            taken = min(left, h.amount)
            h.amount -= taken
            left -= taken
        m.holds = [h for h in m.holds if h.amount]
        self.expert_available -= left
        return True

    # ------------------------------------------------------------------ time

    def advance(self, to: datetime) -> None:
        """Let the clock run to `to`, firing every deadline on the way in order."""
        while due := [t for t in self._deadlines() if t <= to]:
            self.now = min(due)
            for c in self.claims:
                if c.deadline is not None and c.deadline <= self.now:
                    self._lapse(c)
            for m in self.milestones:
                self._fire_due(m)
        self.now = to
        for m in self.milestones:
            self._fire_due(m)

    def deadlines(self) -> list[datetime]:
        times = [m.deadline for m in self.milestones if m.deadline]
        times += [m.paid_at + REFUNDS_END for m in self.milestones if m.paid_at]
        return self._deadlines() + times

    def _deadlines(self) -> list[datetime]:
        times = [h.available_at for m in self.milestones for h in m.holds]
        times += [c.deadline for c in self.claims if c.deadline]
        times += [c.escalate_until for c in self.claims if c.status == "declined" and c.escalate_until]
        times += [m.deadline for m in self.milestones if m.status == "submitted" and m.deadline and m.free > 0]
        return times

    def _lapse(self, c: Claim) -> None:
        if c.kind == "refund":
            # R2: silence approves a refund of escrow; M10: never one of released money.
            self._refund_decided(c, approved=not c.after_release and c.stage == "pending")
        elif c.stage == "filed":
            self._dispute_won(c, c.claimant)  # D2: the respondent's silence loses
        else:
            self._dispute_won(c, c.respondent)  # D3: nobody carried the claim on

    def _fire_due(self, m: Milestone) -> None:
        """After any change: the review window's auto-release of the free part (M4),
        declined refunds whose time to escalate ended (R4), holds that end (M9)."""
        if m.status == "submitted" and m.deadline and self.now >= m.deadline and m.free > 0:
            self._pay(m, 0, m.free)
        for c in m.claims:
            if c.status == "declined" and c.escalate_until and c.escalate_until <= self.now:
                c.status, c.escalate_until = "closed", None
                self._fire_due(m)
        for h in [h for h in m.holds if h.available_at <= self.now]:
            m.holds.remove(h)
            self.expert_available += h.amount

    # ------------------------------------------------------------------ plumbing

    def _ended(self, m: Milestone, actor: str) -> Outcome | None:
        """A milestone whose workflow has ended takes no command: to whoever may see it
        that is its state refusing (409); a stranger is not told it exists."""
        if m.finished(self.now):
            return refused(STRANGER if actor == "stranger" else CONFLICT)
        return None

    def _party(self, m: Milestone, actor: str, role: str) -> Outcome | None:
        if ended := self._ended(m, actor):
            return ended
        if actor == "stranger":
            return refused(STRANGER)
        if actor != role:
            return refused(FORBIDDEN)
        return None

    def after_command(self) -> None:
        for m in self.milestones:
            self._fire_due(m)
