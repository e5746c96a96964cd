"""Every number of SPEC.md that a platform may choose differently, with named presets.

A workflow receives its Policy in its input, so a running case keeps the rules it
started under even when the deployment's default preset changes.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class FeePolicy(StrEnum):
    """D6: who bears the arbitration fee."""

    # Freelancer: each side pays the whole fee; the winner's is refunded.
    WINNER_REFUNDED = "winner_refunded"
    # Cad Crowd: the fee is split between the parties; nobody gets it back.
    SPLIT = "split"


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

    # R2: the expert's time to answer a refund request; silence approves.
    refund_response_window: timedelta = timedelta(days=7)
    # R4: how long after a decline the client may escalate into a dispute. The sources
    # name no limit; an open-ended option would keep a case alive forever.
    refund_escalation_window: timedelta = timedelta(days=7)
    # M10: after the invoice is paid, disputes until the first, refunds at the expert's
    # discretion until the second, with an operator's approval until the third.
    dispute_after_release: timedelta = timedelta(days=30)
    refund_after_release: timedelta = timedelta(days=180)
    refund_with_operator: timedelta = timedelta(days=365)

    # D2: the respondent's time to accept or respond; silence loses.
    dispute_response_window: timedelta = timedelta(days=3)
    # D3: negotiation and mediation (Cad Crowd: 10–15 business days, about three
    # weeks). By its end the claimant must pay the arbitration fee or the claim lapses.
    negotiation_window: timedelta = timedelta(days=21)
    # D4: once one side paid the fee, the other's time to pay it too or lose.
    fee_payment_window: timedelta = timedelta(days=4)
    # D5: when operators are reminded that a verdict is due (nobody loses by it).
    verdict_due: timedelta = timedelta(days=14)
    # D6: the fee is the larger of a floor and a share of the disputed amount.
    arbitration_fee_min: int = 500
    arbitration_fee_basis_points: int = 500
    fee_policy: FeePolicy = FeePolicy.SPLIT

    # H7: a declined weekly charge is tried again this often; after this many failures
    # an operator reviews the invoice.
    charge_retry_interval: timedelta = timedelta(days=1)
    failed_charges_before_review: int = 3

    # V1: each side's time to review the other after the contract closes (double-blind).
    reviews_window: timedelta = timedelta(days=14)
    # V2: the expert's time to allow the edit the client asked for; the reviewed
    # party's time to reply, from the close; the client's time to make an allowed edit
    # (the sources name none).
    review_edit_allow_window: timedelta = timedelta(days=14)
    review_reply_window: timedelta = timedelta(days=28)
    review_edit_window: timedelta = timedelta(days=14)

    # O1 (Elance): a contract holding escrow with no activity this long after its last
    # milestone date becomes dormant; None where contracts never do.
    dormant_after: timedelta | None = None
    # O3: the expert is told this long after the dormant date.
    dormant_expert_notice: timedelta = timedelta(days=7)
    # O4: the dormant escrow is settled this long after the dormant date; a release
    # request this old or older is released then, a younger one when it is this old.
    dormant_settlement: timedelta = timedelta(days=14)
    dormant_release_age: timedelta = timedelta(days=30)

    # P3: adding or changing a payout method holds payouts through it this long.
    payout_method_hold: timedelta = timedelta(days=3)
    # P4: wire transfers only for payouts above this amount, for this fee (cents, USD).
    wire_minimum: int = 250_000
    wire_fee: int = 5_000
    # P4: Payoneer only where PayPal is not served (ISO 3166 alpha-2). An illustrative
    # list; a deployment sets its own.
    paypal_unserved_countries: tuple[str, ...] = ("AF", "BD", "IR", "IQ", "KP", "PK", "SY", "SD", "CU")

    def arbitration_fee(self, disputed: int) -> int:
        """The whole fee for a dispute over `disputed` cents."""
        return max(self.arbitration_fee_min, disputed * self.arbitration_fee_basis_points // 10_000)


PRESETS: dict[str, Policy] = {
    "cadcrowd": Policy(name="cadcrowd"),
    "elance": Policy(
        name="elance",
        review_window=timedelta(days=30),
        overdue_after=timedelta(days=15),
        reminders_before_deadline=(timedelta(days=7), timedelta(days=3), timedelta(days=1)),
        dormant_after=timedelta(days=60),
    ),
    "freelancer": Policy(name="freelancer", fee_policy=FeePolicy.WINNER_REFUNDED),
    # Cad Crowd's rules with seconds and minutes for days, so that a case can be walked
    # by hand against a live stack (the README's payout walk): never for real money.
    "demo": Policy(
        name="demo",
        review_window=timedelta(minutes=10),
        fixed_release_hold=timedelta(seconds=30),
        refund_response_window=timedelta(minutes=5),
        dispute_response_window=timedelta(minutes=5),
        fee_payment_window=timedelta(minutes=5),
        payout_method_hold=timedelta(seconds=30),
    ),
}

DEFAULT_PRESET = "cadcrowd"


def preset(name: str) -> Policy:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown policy preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
