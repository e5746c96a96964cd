"""Alembic environment: migrates the database named by DATABASE_URL, or by the
connection a caller hands over in `config.attributes["connection"]` (tests, the stack)."""

from __future__ import annotations

import logging

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

from escrow import logs
from escrow.db.engine import make_engine
from escrow.db.models import Base
from escrow.settings import Settings

config = context.config
target_metadata = Base.metadata
log = logging.getLogger("escrow.migrate")
if config.config_file_name is not None:  # the `alembic` command, not a caller's upgrade()
    logs.configure(Settings().log_format)


def _say_applied(ctx: MigrationContext, step: MigrationInfo, **_: object) -> None:
    revision = step.up_revision
    log.info(
        "%s revision %s: %s",
        "applied" if step.is_upgrade else "reverted",
        step.up_revision_id,
        revision.doc if revision else "",
    )


def run_migrations(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        on_version_apply=_say_applied,
    )
    before = context.get_context().get_current_heads()
    with context.begin_transaction():
        context.run_migrations()
    after = context.get_context().get_current_heads()
    if after == before:
        log.info("database already at revision %s: nothing to apply", ", ".join(after) or "none")
    else:
        log.info("database now at revision %s", ", ".join(after))


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = make_engine(config.attributes.get("url") or Settings().database_url)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=Settings().database_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_online()
