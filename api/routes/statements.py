"""C3, C4: a contract's escrow statement, from the ledger: JSON, or with
`Accept: text/html` a page to read and print. Its parties and operators see it; anyone
else gets 404, as for every read of the contract."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Header
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api import workflow_calls
from api.deps import ClientDep, SessionsDep, visible
from api.routes import Id, resource_router
from escrow.db.statement import contract_statement, stored_contract
from escrow.models import ContractView
from escrow.statement import Statement
from escrow.statement_html import render

log = logging.getLogger(__name__)
router = resource_router("contracts")
HTML = "text/html"


async def _contract(client: ClientDep, sessions: SessionsDep, contract_id: str) -> ContractView:
    """The contract as the read model has it (written with its money); one that has not
    written its first step yet is asked directly."""
    stored = await run_in_threadpool(stored_contract, sessions, contract_id)
    return stored if stored is not None else await workflow_calls.contract(client, contract_id).state()


VisibleContract = Annotated[ContractView, visible("no contract {contract_id}", _contract, contract_id=Id)]


def wants_html(accept: str | None) -> bool:
    """Whether the caller prefers `text/html` to JSON: a browser does (`text/html, ...,
    */*;q=0.8`); no header, `*/*` or a tie answers JSON."""
    if not accept:
        return False
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        quality[media] = max(q, quality.get(media, 0.0))
    html = quality.get(HTML, 0.0)
    json = max(quality.get("application/json", 0.0), quality.get("application/*", 0.0), quality.get("*/*", 0.0))
    return html > 0 and html > json


@router.get(
    "/contracts/{contract_id}/statement",
    response_model=Statement,
    summary="The contract's escrow closing statement (C3, C4)",
    responses={
        200: {
            "description": "The statement: JSON, or with `Accept: text/html` a printable page",
            "content": {HTML: {"schema": {"type": "string"}}},
        }
    },
)
async def read_statement(
    contract: VisibleContract, sessions: SessionsDep, accept: Annotated[str | None, Header()] = None
) -> Response:
    """Every funding, release, refund, clawback, arbitration fee and dispute outcome of
    the contract, from the ledger, with every invoice and the day it clears (C4). The
    totals reconcile with the ledger to the cent: `in_escrow` is the balance of the
    contract's escrow accounts, and funded - released - refunded = in_escrow. Once the
    contract is closed (`final`), this is its closing statement (C3)."""
    statement = await run_in_threadpool(contract_statement, sessions, contract)
    if not statement.reconciled:
        log.error("the statement of contract %s does not reconcile with the ledger: %s", contract.id, statement.totals)
    if wants_html(accept):
        return HTMLResponse(render(statement, datetime.now(UTC)), headers={"Vary": "Accept"})
    return JSONResponse(statement.model_dump(mode="json"), headers={"Vary": "Accept"})
