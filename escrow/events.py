"""Events: every step the engine records, as a marketplace backend reads it from the
feed (`GET /v1/events`) or receives it by webhook.

An event is the step's audit event (one owner per fact): its id, its time and its
data are the audit event's. Its public `type` is the decision's kind, except where
the kind alone does not say who acted: a deadline that answered for a silent party
gets a type of its own, as that is what a marketplace must tell its users.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

# (type, what happened, the SPEC rule whose notification it is). The README's table
# and the OpenAPI document are written from this list.
SILENCE_TYPES = {
    ("refund.approved", None): "refund.approved_by_silence",
    ("refund.declined", None): "refund.declined_by_silence",
}
DISPUTE_DEFAULTED = "dispute.lost_by_silence"

EVENT_TYPES: dict[str, tuple[str, str]] = {
    "contract.created": ("a contract was opened", "C1"),
    "contract.milestone_added": ("a milestone was added to the contract", "M8"),
    "contract.closing": ("the contract is closing; open milestones settle", "C1"),
    "contract.closed": ("the contract closed", "C1, C2"),
    "contract.dormant": ("the contract went dormant", "O1"),
    "contract.dormant_expert_notified": ("the expert was told a dormant contract will settle", "O3"),
    "contract.dormant_settled": ("a dormant contract's escrow was settled", "O4"),
    "contract.active_again": ("a dormant contract is active again", "O5"),
    "contract.payment_method_changed": ("the client's payment method changed", "H2"),
    "contract.week_opened": ("an hourly contract opened a billing week", "H1"),
    "milestone.created": ("a milestone was proposed or created", "M1"),
    "milestone.accepted": ("a proposed milestone was accepted", "M1"),
    "milestone.declined": ("a proposed milestone was declined", "M1"),
    "milestone.change_proposed": ("a change of a milestone was proposed", "M8"),
    "milestone.change_accepted": ("a change of a milestone was accepted", "M8"),
    "milestone.change_declined": ("a change of a milestone was declined", "M8"),
    "milestone.cancelled": ("an unfunded milestone was removed", "M8"),
    "milestone.funding_pending": ("funding waits for the card's authentication", "M2"),
    "milestone.funded": ("the milestone's escrow was funded", "M2"),
    "milestone.submitted": ("the expert submitted work; the review window opened", "M3"),
    "milestone.submission_voided": ("a submission was withdrawn", "M3"),
    "milestone.revision_requested": ("the client asked for a revision", "M7"),
    "milestone.reminder": ("a reminder to both parties before the review window ends", "M5"),
    "milestone.released": ("the client released escrow to the expert", "M4, M6"),
    "milestone.auto_released": ("the review window ended in silence: escrow released", "M4"),
    "milestone.hold_released": ("released money cleared its hold and became available", "M9, P2"),
    "milestone.overdue": ("the milestone passed its due date", "M5"),
    "milestone.remainder_applied": ("a partial release's remainder was settled", "M6"),
    "milestone.refund_requested": ("the client asked for a refund", "R1"),
    "milestone.refund_approved": ("a refund was paid from the escrow", "R3"),
    "milestone.refund_declined": ("a refund request was declined", "R4"),
    "milestone.refund_not_escalated": ("a declined refund was not escalated in time", "R4"),
    "milestone.refund_unpaid": ("an approved refund found no money to take", "M10"),
    "milestone.dispute_opened": ("a dispute froze the escrow", "D1"),
    "milestone.dispute_resolved": ("a dispute's outcome was paid from the escrow", "D3, D5, D7"),
    "milestone.released_on_close": ("escrow released as the contract closed", "C1"),
    "milestone.refunded_on_close": ("escrow refunded as the contract closed", "C1"),
    "milestone.dormant_release_scheduled": ("a dormant milestone's release was scheduled", "O4"),
    "milestone.released_dormant": ("a dormant milestone's escrow was released", "O4"),
    "milestone.refunded_dormant": ("a dormant milestone's escrow was refunded", "O4"),
    "refund.requested": ("the expert was asked to answer a refund request", "R1"),
    "refund.expert_approved": ("the expert approved; an operator must approve too", "M10"),
    "refund.approved": ("the refund request was approved", "R3"),
    "refund.approved_by_silence": ("the expert did not answer in time: the refund is approved", "R2"),
    "refund.declined": ("the refund request was declined", "R4"),
    "refund.declined_by_silence": ("released money: silence declined the refund", "M10"),
    "dispute.filed": ("a dispute was filed; the respondent must answer", "D1"),
    "dispute.responded": ("the respondent answered the dispute", "D2"),
    "dispute.offer_made": ("a settlement offer was made", "D3"),
    "dispute.recommended": ("the mediator recommended a split", "D3"),
    "dispute.recommendation_accepted": ("a party accepted the recommendation", "D3"),
    "dispute.recommendation_rejected": ("a party rejected the recommendation", "D3"),
    "dispute.fee_paid": ("a party paid the arbitration fee", "D4"),
    "dispute.arbitration_started": ("both fees are paid: arbitration began", "D5"),
    "dispute.evidence_submitted": ("evidence was submitted", "D4"),
    "dispute.verdict_overdue": ("operators are reminded of a late verdict", "D5"),
    "dispute.resolved": ("the dispute was resolved by agreement or verdict", "D3, D5, D6"),
    DISPUTE_DEFAULTED: ("a party did not act by the deadline and lost the dispute", "D7 (D2, D4)"),
    "week.opened": ("a billing week opened", "H1"),
    "week.time_logged": ("the expert logged time", "H1"),
    "week.time_edited": ("a time entry was changed", "H3"),
    "week.time_deleted": ("a time entry was deleted", "H3"),
    "week.billed": ("the week was billed", "H2"),
    "week.charged": ("the client's card was charged for the week", "H2"),
    "week.charge_failed": ("the card charge for the week failed", "H7"),
    "week.charge_recovered": ("a failed week charge was paid", "H7"),
    "week.invoice_retry_ordered": ("an operator's invoice review ordered a charge now", "H7"),
    "week.invoice_review_closed": ("an operator closed the invoice review; daily retries go on", "H7"),
    "week.client_review": ("the client's review of the week's hours began", "H4"),
    "week.hours_disputed": ("the client disputed hours", "H4, H5"),
    "week.dispute_resolved": ("the week's disputed hours were settled", "H5"),
    "week.security_hold": ("the week's money is on its security hold", "H6"),
    "week.held_for_expert": ("the week's money is held for the expert", "H6"),
    "week.funds_available": ("the week's earnings became available", "H6, P1"),
    "week.overcharge_returned": ("an overcharge was returned to the client", "H5"),
    "week.completed": ("the billing week completed", "H6"),
    "reviews.opened": ("the parties may review each other", "V1"),
    "review.posted": ("a review was posted", "V1"),
    "review.replied": ("a review was answered", "V2"),
    "review.edit_requested": ("an edit of a review was requested", "V2"),
    "review.edit_allowed": ("an edit of a review was allowed", "V2"),
    "review.edited": ("a review was edited", "V2"),
    "reviews.window_closed": ("the review window closed", "V1"),
    "reviews.ended": ("reviews ended", "V1"),
    "contract.on_hold": ("a failed charge put the contract on hold", "H7"),
    "contract.reactivated": ("the failed charge was paid: the contract is active again", "H7"),
    "payment.made": ("a manual payment was made", "P2"),
    "payment.available": ("a manual payment became available", "P5"),
    "payout.requested": ("a payout was requested; its money is reserved", "P4"),
    "payout.paid": ("a payout was paid", "P4"),
    "payout.failed": ("a payout failed; its money is available again", "P4"),
}

WORKFLOW_SUBJECTS = {"hourly-week": "week", "reviews": "contract"}

CURSOR = re.compile(r"^(\d{1,20})\.(\d{1,20})$")
URL_MAX = 2000


class Event(BaseModel):
    """One entry of the feed, and the body of a webhook."""

    id: str
    type: str
    at: str
    subject: dict[str, str | None]
    data: dict[str, Any]


def event_type(kind: str, actor_id: str | None, data: dict[str, Any]) -> str:
    """The public type of a step: its kind, or what silence did."""
    if kind == "dispute.resolved" and data.get("resolution") == "default":
        return DISPUTE_DEFAULTED
    return SILENCE_TYPES.get((kind, actor_id), kind)


def subject(workflow_id: str, contract_id: str | None) -> dict[str, str | None]:
    """What an event is about, from the workflow that recorded it: `milestone:m1` is
    milestone m1; a contract's own workflow is its own contract."""
    prefix, _, rest = workflow_id.partition(":")
    kind = WORKFLOW_SUBJECTS.get(prefix, prefix)
    if prefix == "reviews":
        return {"type": kind, "id": rest, "contract_id": rest}
    if prefix == "contract":
        return {"type": kind, "id": rest, "contract_id": rest}
    return {"type": kind, "id": rest, "contract_id": contract_id}


def contract_of(workflow_id: str, contract_id: str | None) -> str | None:
    return subject(workflow_id, contract_id)["contract_id"]


def cursor(txid: int, position: int) -> str:
    return f"{txid}.{position}"


def parse_cursor(value: str) -> tuple[int, int] | None:
    """(txid, position), or None if `value` is not a cursor this feed handed out."""
    match = CURSOR.match(value)
    return (int(match[1]), int(match[2])) if match else None


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None. Only http(s) with a host."""
    if len(url) > URL_MAX:
        return f"a webhook URL is at most {URL_MAX} characters"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "a webhook URL has no spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that isn't a number in range
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https"):
        return "a webhook URL is http or https"
    if not parts.hostname:
        return "a webhook URL names a host"
    return None


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
