"""The HTTP API: authenticate, validate, then start, update or query a workflow.

Kept import-light so `python -m api.token` does not connect to anything.
"""
