"""One log format for the worker, the API, the stack and migrations: JSON lines (or
plain text for a terminal) that carry the ids a line is about, so an operator can
follow one request or one workflow through every process.

The ids come from where they are known: the API's request middleware sets
`current_request`; Temporal's workflow and activity loggers put the workflow's in the
record's `temporal_workflow` / `temporal_activity`; a line logged inside an activity
by any logger gets the activity's.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow


@dataclass(frozen=True)
class RequestContext:
    """The request being served: its id, and its ASGI scope, where the router puts the
    path parameters once it has matched a route."""

    request_id: str
    scope: Mapping[str, Any]

    @property
    def contract_id(self) -> str | None:
        return (self.scope.get("path_params") or {}).get("contract_id")


# Set by the API's request middleware for the request's task (and the threads it runs).
current_request: ContextVar[RequestContext | None] = ContextVar("escrow_current_request", default=None)

# Workflow ids that name their contract (escrow.ids); a milestone's does not (its
# read model does). A contract id may hold ":"; an ISO week never does.
_WHOLE_CONTRACT = ("contract:", "reviews:")
_WEEK = "hourly-week:"
IDS = ("request_id", "workflow_id", "run_id", "contract_id")


def context_ids(record: logging.LogRecord) -> dict[str, str]:
    """The ids a log record is about: its Temporal details (or, for any line logged
    inside an activity, the activity's), the request's, and an explicit `extra=`."""
    ids: dict[str, Any] = {}
    temporal = getattr(record, "temporal_workflow", None) or getattr(record, "temporal_activity", None)
    if isinstance(temporal, Mapping):
        ids["workflow_id"] = temporal.get("workflow_id")
        ids["run_id"] = temporal.get("run_id") or temporal.get("workflow_run_id")
    elif activity.in_activity():
        info = activity.info()
        ids["workflow_id"], ids["run_id"] = info.workflow_id, info.workflow_run_id
    ids["contract_id"] = contract_of(ids.get("workflow_id") or "")
    request = current_request.get()
    if request is not None:
        ids["request_id"] = request.request_id
        ids["contract_id"] = ids["contract_id"] or request.contract_id
    for name in IDS:
        value = getattr(record, name, None)
        if value is not None:
            ids[name] = value
    return {name: str(ids[name]) for name in IDS if ids.get(name)}


def contract_of(workflow_id: str) -> str | None:
    for prefix in _WHOLE_CONTRACT:
        if workflow_id.startswith(prefix):
            return workflow_id.removeprefix(prefix)
    if workflow_id.startswith(_WEEK):
        return workflow_id.removeprefix(_WEEK).rpartition(":")[0] or None
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts, level, logger, message, the ids it is about, and a
    traceback under `exc` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_ids(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """For a terminal: the usual line, its ids in brackets at the end."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        ids = context_ids(record)
        suffix = " [" + " ".join(f"{k}={v}" for k, v in ids.items()) + "]" if ids else ""
        return super().formatMessage(record) + suffix


FORMATTERS = {"json": JsonFormatter, "text": TextFormatter}


def configure(log_format: str, level: int = logging.INFO) -> bool:
    """Log to stderr in `log_format` ("json" or "text"), unless the process already
    logs somewhere (a test runner, a program embedding ours): like basicConfig, it
    leaves a configured root logger alone. True if it configured."""
    root = logging.getLogger()
    if root.handlers:
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(FORMATTERS[log_format]())
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers bring their own handlers and format; ours serve them instead.
    # Its access log repeats what api.metrics logs for each request, with fewer ids.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # Alembic's chatter ("Context impl ...") says nothing an operator needs.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The ids travel as fields; Temporal need not repeat them inside the message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    return True
