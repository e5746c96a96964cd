"""`escrow token`: a bearer token for a user, signed with ESCROW_JWT_SECRET (api/token.py)."""

from __future__ import annotations

import argparse

from api import token


def add(topics: argparse._SubParsersAction) -> None:
    parser = topics.add_parser("token", help="print a bearer token signed with ESCROW_JWT_SECRET")
    token.add_arguments(parser)
    parser.set_defaults(run=lambda args: token.mint(parser, args))
