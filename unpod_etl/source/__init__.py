"""Talking to Unpod: the HTTP client, its retry policy, and page skimming.

May import: `unpod_etl.core`, `unpod_etl.normalize` (pure helpers), requests, tenacity,
msgspec/orjson. Never SQLAlchemy or the warehouse: the source knows nothing of where rows go.
"""
