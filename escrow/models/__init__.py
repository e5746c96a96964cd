"""Models shared by every layer: workflow inputs, commands, views and ledger steps.

Commands carry the acting user so that the workflow, not the API, decides who may do
what; the API only proves who the caller is.
"""

from escrow.models.common import *  # noqa: F403
from escrow.models.contract import *  # noqa: F403
from escrow.models.dispute import *  # noqa: F403
from escrow.models.hourly import *  # noqa: F403
from escrow.models.ledger import *  # noqa: F403
from escrow.models.milestone import *  # noqa: F403
from escrow.models.payout import *  # noqa: F403
from escrow.models.refund import *  # noqa: F403
