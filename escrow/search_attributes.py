"""Typed search attributes every workflow sets, so operators can find cases in the
Temporal Web UI (e.g. `EscrowState = "submitted" AND DeadlineAt < "2026-12-01"`)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CONTRACT_ID = SearchAttributeKey.for_keyword("ContractId")
CLIENT_ID = SearchAttributeKey.for_keyword("ClientId")
EXPERT_ID = SearchAttributeKey.for_keyword("ExpertId")
ESCROW_STATE = SearchAttributeKey.for_keyword("EscrowState")
AMOUNT_CENTS = SearchAttributeKey.for_int("AmountCents")
DEADLINE_AT = SearchAttributeKey.for_datetime("DeadlineAt")
# Disputes: 1–4 while open, so "DisputeStage = 3" lists every case waiting on a fee.
DISPUTE_STAGE = SearchAttributeKey.for_int("DisputeStage")

ALL = (CONTRACT_ID, CLIENT_ID, EXPERT_ID, ESCROW_STATE, AMOUNT_CENTS, DEADLINE_AT, DISPUTE_STAGE)
