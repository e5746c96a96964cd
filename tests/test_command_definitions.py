"""The API's typed door (escrow.commands) says what the workflows register: every update
it defines is one its workflow has, by the same name, taking the same command and
answering the same type. A renamed update or a changed type fails here, not in a
request in production."""

from __future__ import annotations

import pytest
from temporalio import workflow

from escrow import commands, ids
from escrow.models import MilestoneView, Release
from worker import WORKFLOWS

REGISTERED = {workflow._Definition.from_class(cls).name: workflow._Definition.from_class(cls) for cls in WORKFLOWS}


@pytest.mark.parametrize("definition", commands.DEFINITIONS, ids=lambda d: d.__name__)
def test_every_definition_names_a_registered_workflow_and_its_state_query(definition):
    assert definition.workflow in REGISTERED, f"no workflow {definition.workflow} is registered"
    registered = REGISTERED[definition.workflow]
    assert definition.state in registered.queries
    assert registered.queries[definition.state].ret_type is definition.view
    assert definition.updates(), "a definition with no updates"


@pytest.mark.parametrize(
    ("definition", "name"),
    [(d, name) for d in commands.DEFINITIONS for name in d.updates()],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_every_update_is_registered_with_the_same_types(definition, name):
    update = definition.updates()[name]
    assert update.name == name, "an attribute names another update than itself"
    registered = REGISTERED[definition.workflow].updates.get(update.name)
    assert registered is not None, f"{definition.workflow} has no update {update.name}"
    assert registered.arg_types == [update.arg]
    assert registered.ret_type is update.result


def test_a_renamed_update_would_fail():
    """The check above is able to fail."""
    renamed = commands.Update("release_money", Release, MilestoneView)
    assert renamed.name not in REGISTERED[commands.Milestone.workflow].updates


def test_workflow_ids_are_escrows():
    assert commands.Contract.workflow_id("c1") == ids.contract("c1")
    assert commands.Milestone.workflow_id("m1") == ids.milestone("m1")
    assert commands.Refund.workflow_id("r1") == ids.refund("r1")
    assert commands.Dispute.workflow_id("d1") == ids.dispute("d1")
    assert commands.Week.workflow_id("c1", "2026-W47") == ids.week("c1", "2026-W47")
    assert commands.owner(ids.milestone("m1")) is commands.Milestone
    assert commands.owner(ids.week("c1", "2026-W47")) is commands.Week
