"""ledger_post: one transfer in one statement on PostgreSQL

The ledger's five statements per transfer (create the accounts, check their currency,
insert the transfer, move each balance) become one call of a server-side function, so
a transfer costs one round trip and no statement compiled in Python. It makes the same
decisions in the same order as `escrow.db.ledger`'s portable path (which SQLite keeps),
and says which one it made rather than raising, so that Python raises the ledger's own
errors. Nothing on SQLite.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 09:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Accounts are created and their balances moved in the code point order of their names
# (COLLATE "C", as Python sorts), like the portable path: posts that meet on the same
# accounts lock them in one order and cannot deadlock. `p_overdraft` says whether the
# debited account may go below zero (`escrow.accounts.may_go_negative`, the one place
# that rule lives).
LEDGER_POST = """
CREATE OR REPLACE FUNCTION ledger_post(
    p_id text, p_debit text, p_credit text, p_amount bigint, p_currency text, p_kind text,
    p_available_at timestamptz, p_settles text, p_posted_at timestamptz, p_overdraft boolean,
    OUT outcome text, OUT account text, OUT holds text
) LANGUAGE plpgsql AS $$
DECLARE
    first_name text := least(p_debit COLLATE "C", p_credit COLLATE "C");
    second_name text := greatest(p_debit COLLATE "C", p_credit COLLATE "C");
    prior transfers%ROWTYPE;
    moving text;
BEGIN
    INSERT INTO accounts (name, currency, balance)
    VALUES (first_name, p_currency, 0), (second_name, p_currency, 0)
    ON CONFLICT (name) DO NOTHING;
    SELECT a.name, a.currency INTO account, holds FROM accounts a
    WHERE a.name IN (p_debit, p_credit) AND a.currency <> p_currency LIMIT 1;
    IF FOUND THEN
        outcome := 'currency';
        RETURN;
    END IF;
    account := NULL;
    holds := NULL;

    INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, available_at, settles, posted_at)
    VALUES (p_id, p_debit, p_credit, p_amount, p_currency, p_kind, p_available_at, p_settles, p_posted_at)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        SELECT * INTO prior FROM transfers t WHERE t.id = p_id;
        IF (prior.debit_account, prior.credit_account, prior.amount, prior.currency, prior.kind)
               = (p_debit, p_credit, p_amount, p_currency, p_kind)
           AND prior.available_at IS NOT DISTINCT FROM p_available_at
           AND prior.settles IS NOT DISTINCT FROM p_settles THEN
            outcome := 'repeat';
        ELSE
            outcome := 'conflict';
        END IF;
        RETURN;
    END IF;

    FOREACH moving IN ARRAY ARRAY[first_name, second_name] LOOP
        IF moving = p_debit THEN
            UPDATE accounts a SET balance = a.balance - p_amount
            WHERE a.name = moving AND (p_overdraft OR a.balance >= p_amount);
        ELSE
            UPDATE accounts a SET balance = a.balance + p_amount WHERE a.name = moving;
        END IF;
        IF NOT FOUND THEN
            outcome := 'insufficient';
            account := moving;
            RETURN;
        END IF;
    END LOOP;
    outcome := 'posted';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(LEDGER_POST)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS ledger_post(text, text, text, bigint, text, text, timestamptz, text, "
            "timestamptz, boolean)"
        )
