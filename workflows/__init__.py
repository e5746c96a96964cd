"""One module per durable workflow. Deterministic code only: no I/O, no wall clock."""
