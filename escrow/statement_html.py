"""C3: the escrow closing statement as a page people read and print.

Pure: a `Statement` in, an HTML document out. Amounts are written with
`escrow.money.format_cents`, instants in UTC, and every text that came from a user or
an id is escaped; the page carries its own print stylesheet and loads nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape

from escrow.money import format_cents
from escrow.statement import LineKind, Statement, StatementLine

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
       max-width: 64rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.1rem; margin-top: 2rem; }
.meta { color: #555; margin: 0 0 1rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f4f4f4; font-weight: 600; }
td.amount, th.amount { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.when { white-space: nowrap; }
td.ref { font-family: ui-monospace, monospace; font-size: .8em; color: #555; word-break: break-all; }
tr.info td { color: #555; }
.ok { color: #17612b; }
.bad { color: #a4161a; font-weight: 600; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; color: #000; }
  th { background: none; border-bottom: 2px solid #000; }
  td, th { border-bottom: 1px solid #999; }
  td.ref { color: #000; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
  h2 { break-after: avoid; }
}
"""

KIND_LABELS = {
    LineKind.FUNDING: "Funded into escrow",
    LineKind.ESCROW_TRANSFER: "Moved between escrows",
    LineKind.CLAWBACK: "Taken back from the expert",
    LineKind.DISPUTE_OUTCOME: "Dispute resolved",
    LineKind.FEE: "Arbitration fee paid",
    LineKind.FEE_REFUND: "Arbitration fee refunded",
    LineKind.FEE_KEPT: "Arbitration fee kept by the platform",
    LineKind.RELEASE: "Released to the expert",
    LineKind.REFUND: "Refunded to the client",
    LineKind.INVOICE: "Invoice",
    LineKind.CLEARED: "Available to the expert",
}
# Lines that record a decision or a document rather than move escrow money.
INFORMATIONAL = {LineKind.DISPUTE_OUTCOME, LineKind.INVOICE, LineKind.CLEARED}
Money = Callable[[int], str]


def utc(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render(statement: Statement, generated_at: datetime | None = None) -> str:
    s = statement
    money = _money(s.currency)
    titles = {m.id: m.title for m in s.milestones}
    title = "Escrow closing statement" if s.final else "Escrow statement (contract not closed yet)"
    facts = [
        ("Contract", s.contract_id),
        ("Client", s.client_id),
        ("Expert", s.expert_id),
        ("Type", s.type),
        ("Status", s.status + (" (zero-pay)" if s.zero_pay else "")),
        ("Closed", utc(s.closed_at) if s.closed_at else "—"),
        ("Currency", s.currency),
    ]
    t = s.totals
    totals = [
        ("Funded into escrow", t.funded),
        ("Released to the expert (net of clawbacks)", t.released),
        ("Refunded to the client", t.refunded),
        ("Still in escrow", t.in_escrow),
        ("Arbitration fees paid", t.fees_paid),
        ("Arbitration fees refunded", t.fees_refunded),
        ("Arbitration fees kept by the platform", t.fees_kept),
        ("Arbitration fees, net", t.fees),
    ]
    check = (
        '<p class="ok">Reconciled with the ledger: funded − released − refunded = '
        f"{escape(money(t.funded - t.released - t.refunded))} = the escrow accounts' balance.</p>"
        if s.reconciled
        else '<p class="bad">This statement does not reconcile with the ledger.</p>'
    )
    rows = "\n".join(_row(line, titles, money) for line in s.lines) or (
        '<tr><td colspan="6">Nothing has moved through this contract\'s escrow.</td></tr>'
    )
    generated = f" · generated {escape(utc(generated_at))}" if generated_at else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — contract {escape(s.contract_id)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">All amounts in {escape(s.currency)}; all times in UTC{generated}.</p>
<dl class="facts">
{"".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)}
</dl>
<h2>Totals</h2>
<table class="totals">
<tbody>
{"".join(f'<tr><th scope="row">{escape(k)}</th><td class="amount">{escape(money(v))}</td></tr>' for k, v in totals)}
</tbody>
</table>
{check}
<h2>Every movement</h2>
<table class="lines">
<thead><tr><th>When</th><th>What</th><th>For</th><th class="amount">Amount</th>\
<th class="amount">Escrow</th><th>Reference</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _money(currency: str) -> Money:
    def money(amount: int) -> str:
        return format_cents(amount, currency)

    return money


def _row(line: StatementLine, titles: dict[str, str], money: Money) -> str:
    change = money(line.escrow_change) if line.escrow_change else ""
    if line.escrow_change > 0:
        change = "+" + change
    reference = line.transfer_id or line.invoice_id or line.dispute_id or ""
    css = ' class="info"' if line.kind in INFORMATIONAL else ""
    return (
        f'<tr{css}><td class="when">{escape(utc(line.at))}</td>'
        f"<td>{escape(describe(line, money, titles))}</td>"
        f"<td>{escape(where(line, titles))}</td>"
        f'<td class="amount">{escape(money(line.amount))}</td>'
        f'<td class="amount">{escape(change)}</td>'
        f'<td class="ref">{escape(reference)}</td></tr>'
    )


def where(line: StatementLine, titles: dict[str, str]) -> str:
    return owner(line.milestone_id, line.week, titles)


def owner(milestone_id: str | None, week: str | None, titles: dict[str, str]) -> str:
    if milestone_id is not None:
        title = titles.get(milestone_id)
        return f"milestone “{title}”" if title else f"milestone {milestone_id}"
    if week is not None:
        return f"week {week}"
    return ""


def describe(line: StatementLine, money: Money, titles: dict[str, str]) -> str:
    label = KIND_LABELS[line.kind]
    if line.kind == LineKind.RELEASE:
        return f"{label}, available {utc(line.clears_at)}" if line.clears_at else label
    if line.kind in (LineKind.FEE, LineKind.FEE_REFUND, LineKind.FEE_KEPT) and line.party:
        return f"{label} ({line.party})"
    if line.kind == LineKind.ESCROW_TRANSFER and line.source:
        mine = line.source in titles
        return f"{label}, from {owner(line.source if mine else None, None if mine else line.source, titles)}"
    if line.kind == LineKind.DISPUTE_OUTCOME:
        how = f" by {line.resolution}" if line.resolution else ""
        split = f"{money(line.amount_to_client or 0)} to the client, {money(line.amount_to_expert or 0)} to the expert"
        return f"{label}{how}: {split}"
    if line.kind == LineKind.INVOICE:
        kind = (line.invoice_kind or "").replace("_", "-")
        clears = f"clears {utc(line.clears_at)}" if line.clears_at else "clears when the money is released"
        return f"{label} ({kind}), {clears}"
    return label
