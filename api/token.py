"""Print a bearer token: `python -m api.token --sub alice --role client [--ttl 3600]`
(also `escrow token ...`).

Signs with ESCROW_JWT_SECRET, the secret the API checks against.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from pydantic import TypeAdapter, ValidationError

from api.auth import issue_token
from escrow.inputs import UserId
from escrow.models import Role
from escrow.settings import Settings


def _user_id(text: str) -> str:
    # The API refuses a token whose subject is no valid user id: don't mint one.
    try:
        return TypeAdapter(UserId).validate_python(text)
    except ValidationError as err:
        raise argparse.ArgumentTypeError(err.errors()[0]["msg"].removeprefix("Value error, ")) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sub", required=True, type=_user_id, help="the user id (1-64 letters, digits, ._@+:-)")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until expiry; 0 for none")


def mint(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Print the token `args` ask for; a bad `--ttl` or no secret is the parser's error."""
    if args.ttl < 0:
        parser.error("--ttl must be 0 or more")
    secret = Settings().jwt_secret
    if not secret:
        parser.error("ESCROW_JWT_SECRET is not set")
    ttl = timedelta(seconds=args.ttl) if args.ttl else None
    print(issue_token(secret, args.sub, Role(args.role), ttl))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api.token", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return mint(parser, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
