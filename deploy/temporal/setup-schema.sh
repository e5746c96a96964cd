#!/bin/sh
# One-shot, before the Temporal server starts: create Temporal's two PostgreSQL
# databases and bring their schemas up to date. Re-runnable on every `up`, as
# Temporal's own auto-setup runs the same three steps on every start.
set -eu
SCHEMA=/etc/temporal/schema/postgresql/v12

sql() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
        -u "$POSTGRES_USER" "$@"
}

until nc -z "$POSTGRES_SEEDS" "${DB_PORT:-5432}"; do sleep 1; done

for pair in temporal:temporal temporal_visibility:visibility; do
    db=${pair%%:*}
    dir=${pair#*:}
    sql --db "$db" create
    sql --db "$db" setup-schema -v 0.0
    sql --db "$db" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "Temporal schema is up to date"
