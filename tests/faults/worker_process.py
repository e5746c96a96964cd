"""`python worker.py`, connected without a sticky workflow cache: what the fault suite
runs and kills.

A real Temporal server hands a dead worker's sticky task back to the shared queue after
a few seconds; the time-skipping test server never does (and has no
ResetStickyTaskQueue), so after a SIGKILL every cached workflow would wait forever.
Only the client differs from worker.py's (the engine's own connect() plus the plugin);
worker.main() does the rest.
"""

from __future__ import annotations

from temporalio.client import Client

import worker
from escrow import temporal
from escrow.settings import Settings
from tests.crashing_worker import NoStickyCache


async def connect(settings: Settings) -> Client:
    config = (await temporal.connect(settings)).config()
    config["plugins"] = [*config.get("plugins", []), NoStickyCache()]
    return Client(**config)


if __name__ == "__main__":
    worker.connect = connect
    worker.main()
