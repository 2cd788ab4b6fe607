"""Orchestration: one run (`sync`), one agent's walk (`agent_sync`), results, the scheduler.

The only layer that knows the order of things and where the transactions begin and end.
May import: `unpod_etl.source`, `unpod_etl.warehouse`, `unpod_etl.normalize`, `unpod_etl.core`.
Never click, never the fake API.
"""
