"""unpod-etl: keep a SQL warehouse in step with the Unpod voice-agent platform."""

__version__ = "0.1.0"
