"""A click group whose heavier commands are imported only when they run.

`unpod-etl --help` lists every command with its one-line help; loading `schedule` and
`report` for that would import the sync pipeline, the HTTP client, SQLAlchemy and the report
(a few hundred milliseconds on every start). Lazy commands carry their one-line help here
instead; tests/cli/test_startup.py checks it matches the loaded command's own.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        # name -> ("package.module:attribute", one-line help)
        self.lazy: dict[str, tuple[str, str]] = dict(lazy or {})

    def invoke(self, ctx: click.Context) -> Any:
        # Ctrl-C in a short command (status, report, verify, ...): one line and 130 as a
        # shell expects, not click's "Aborted!" and exit 1. `sync` and `schedule` handle
        # SIGINT themselves (pipeline/interrupts.py) and record the run as interrupted.
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("interrupted (SIGINT)", err=True)
            ctx.exit(130)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            target, _ = self.lazy[cmd_name]
            module, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's own listing, except that a lazy command not loaded yet stays unloaded."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                # click's own shortening, on a stand-in that carries the help text only
                stand_in = click.Command(name, help=self.lazy[name][1])
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)
