"""Activities: the only code that writes the database. Each is idempotent, so a retry
after a crash writes nothing twice."""
