"""Typed search attributes every workflow sets, so operators can find cases in the
Temporal Web UI (e.g. `EscrowState = "submitted" AND DeadlineAt < "2026-12-01"`)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from escrow.models import DisputeView, HourlyWeekView, MilestoneView, RefundView

CONTRACT_ID = SearchAttributeKey.for_keyword("ContractId")
CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")
EXPERT_ID = SearchAttributeKey.for_keyword("ExpertId")
ESCROW_STATE = SearchAttributeKey.for_keyword("EscrowState")
AMOUNT_CENTS = SearchAttributeKey.for_int("AmountCents")
DEADLINE_AT = SearchAttributeKey.for_datetime("DeadlineAt")
# Disputes: 1–4 while open, so "DisputeStage = 3" lists every case waiting on a fee.
DISPUTE_STAGE = SearchAttributeKey.for_int("DisputeStage")

# Who must act next (escrow.case_text.WaitingOn): "client", "expert", "parties",
# "operator", "gateway" or "nobody".
WAITING_ON = SearchAttributeKey.for_keyword("WaitingOn")

ALL = (CONTRACT_ID, CLIENT_ID, EXPERT_ID, ESCROW_STATE, AMOUNT_CENTS, DEADLINE_AT, DISPUTE_STAGE, WAITING_ON)


def parties(contract_id: str, client_id: str, expert_id: str) -> list[SearchAttributeUpdate]:
    return [CONTRACT_ID.value_set(contract_id), CLIENT_ID.value_set(client_id), EXPERT_ID.value_set(expert_id)]


def case(
    view: MilestoneView | HourlyWeekView | RefundView | DisputeView, state: str, amount: int
) -> list[SearchAttributeUpdate]:
    """What operators find a case by (money some workflow holds or decides on): its
    parties, its state, the money at stake and its next deadline, unset once there is
    none so that a passed one no longer matches."""
    deadline = DEADLINE_AT.value_set(view.deadline_at) if view.deadline_at else DEADLINE_AT.value_unset()
    return [
        *parties(view.contract_id, view.client_id, view.expert_id),
        ESCROW_STATE.value_set(state),
        AMOUNT_CENTS.value_set(amount),
        deadline,
    ]
