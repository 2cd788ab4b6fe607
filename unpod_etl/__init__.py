"""unpod-etl: keep a SQL warehouse in step with the Unpod voice-agent platform.

The public Python interface, for orchestrators (Airflow, Dagster, Prefect) that run a sync
from their own process instead of the `unpod-etl` command:

    from unpod_etl import SyncConfig, run_sync

    result = run_sync(SyncConfig(api_url=..., token=..., org=..., database_url=...))
    result.outcome, result.exit_code, result.total("inserted")

Only the names in `__all__` are the stable interface (docs/orchestrators.md); everything
else is internal and may move. The names load on first use (PEP 562), so importing the
package stays as light as `unpod-etl --help` needs it to be.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "AbortError",
    "AgentResult",
    "ConfigError",
    "EtlError",
    "RunResult",
    "SyncConfig",
    "run_sync",
]

# name -> module that defines it
_EXPORTS = {
    "AbortError": "unpod_etl.core.errors",
    "ConfigError": "unpod_etl.core.errors",
    "EtlError": "unpod_etl.core.errors",
    "AgentResult": "unpod_etl.pipeline.results",
    "RunResult": "unpod_etl.pipeline.results",
    "SyncConfig": "unpod_etl.pipeline.sync",
    "run_sync": "unpod_etl.pipeline.sync",
}

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ loads them
    from unpod_etl.core.errors import AbortError, ConfigError, EtlError
    from unpod_etl.pipeline.results import AgentResult, RunResult
    from unpod_etl.pipeline.sync import SyncConfig, run_sync


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'unpod_etl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
