"""The warehouse: schema, engine and migrations, loaders, locks, run bookkeeping, read queries.

Every function here takes a connection (or an engine) from its caller and does not commit on
its own. May import: `unpod_etl.normalize` (the rows it writes), `unpod_etl.core`, SQLAlchemy,
Alembic. Never the API client: the warehouse never calls Unpod.
"""
