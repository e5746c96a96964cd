"""`python -m cli ...`, the same as `escrow ...`."""

from cli import main

raise SystemExit(main())
