"""Connecting to Temporal the same way from the worker, the API, the stack and tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from escrow import search_attributes
from escrow.errors import Refusal, refuse
from escrow.models.common import Command
from escrow.settings import Settings


class CommandPayloadConverter(PydanticPayloadConverter):
    """Pydantic JSON, and a command that fails its model is refused as `Invalid`.

    The API validates its bodies itself, but the Temporal Web UI and CLI send a
    command's JSON straight to the workflow. The SDK re-raises a FailureError from
    decoding unwrapped, so the update is rejected (nothing is written, nothing waits)
    with a non-retryable refusal the API would map to 422, instead of a raw pydantic
    error marked retryable. Anything else that fails to decode (a workflow input, a
    view) still fails the workflow task, to be retried once the code is fixed.
    """

    def from_payloads(self, payloads: Sequence[Payload], type_hints: list[type] | None = None) -> list[Any]:
        try:
            return super().from_payloads(payloads, type_hints)
        except ValidationError as err:
            if not any(isinstance(hint, type) and issubclass(hint, Command) for hint in type_hints or ()):
                raise
            raise refuse(Refusal.INVALID, describe(err)) from None


def describe(err: ValidationError) -> str:
    """`field: message; ...`, without pydantic's echo of the input."""
    return "; ".join(f"{'.'.join(str(part) for part in e['loc']) or 'command'}: {e['msg']}" for e in err.errors())


# Module level, like `pydantic_data_converter`: the worker hands its class to each
# workflow's sandbox, which builds its own instance.
data_converter = DataConverter(payload_converter_class=CommandPayloadConverter)


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter,
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register the custom search attributes this engine sets, where they are missing.

    The time-skipping test server has no list call, so a missing list answer means
    "try to add each" and an already-exists answer is success.
    """
    wanted = {
        key.name: IndexedValueType.ValueType(SearchAttributeIndexedValueType(key.indexed_value_type))
        for key in search_attributes.ALL
    }
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        known = set(listed.custom_attributes) | set(listed.system_attributes)
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()
    missing = {name: kind for name, kind in wanted.items() if name not in known}
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
