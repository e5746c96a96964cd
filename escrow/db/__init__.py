"""The database layer: typed models, engine, the ledger and the read queries."""
