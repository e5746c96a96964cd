"""Connection settings, read from the environment (names fixed by API.md)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from escrow.policy import DEFAULT_PRESET, Policy, preset

# The SDK's default; a cached milestone costs the worker about 170 KB (benchmarks/memory.py).
DEFAULT_WORKER_CACHE = 1000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(populate_by_name=True, extra="ignore")

    database_url: str = Field("sqlite:///var/escrow.db", validation_alias="DATABASE_URL")
    temporal_address: str = Field("localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    task_queue: str = Field("escrow", validation_alias="ESCROW_TASK_QUEUE")
    policy_name: str = Field(DEFAULT_PRESET, validation_alias="ESCROW_POLICY")
    jwt_secret: str | None = Field(None, validation_alias="ESCROW_JWT_SECRET")
    payment_gateway: str = Field("sandbox", validation_alias="ESCROW_PAYMENT_GATEWAY")
    # A bearer token the API's /metrics asks scrapers for; unset: /metrics is open.
    metrics_token: str | None = Field(None, validation_alias="ESCROW_METRICS_TOKEN")
    # The worker's Prometheus endpoint (host:port, serving /metrics); empty: none.
    worker_metrics_address: str = Field("127.0.0.1:9464", validation_alias="ESCROW_WORKER_METRICS_ADDRESS")
    log_format: Literal["json", "text"] = Field("json", validation_alias="ESCROW_LOG_FORMAT")
    # Workflows the worker keeps in memory; one evicted replays its history on its next
    # task (benchmarks/scale.py).
    worker_cache: int = Field(DEFAULT_WORKER_CACHE, ge=1, validation_alias="ESCROW_WORKER_CACHE")

    @property
    def policy(self) -> Policy:
        return preset(self.policy_name)


@lru_cache
def get_settings() -> Settings:
    return Settings()
