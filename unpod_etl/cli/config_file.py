"""`--config PATH` (or UNPOD_ETL_CONFIG): options of `sync`, `schedule`, `check` and `webhook`
from a TOML file, read with the standard library's tomllib (and the group's own `log_format`
and `verbose`, at the top level).

The file fills click's `default_map`, which click consults after the command line and the
environment variable and before the built-in default: exactly the precedence wanted
(command line > environment > file > defaults). Keys are the options' long names with `_`
or `-` (`page_size`, `max-age`); top-level keys apply to every command that has the option,
a `[sync]`, `[schedule]`, `[check]` or `[webhook]` table to that command only (and wins over
the top level). `NAME_env = "VAR"` reads the value of NAME from the environment variable VAR, so a
token or a database password need not be written into the file. An unknown key, table or
variable is a usage error naming it (exit 2).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from unpod_etl.core.errors import ConfigError

COMMANDS = ("sync", "schedule", "check", "webhook")
ENV_SUFFIX = "_env"


def option_names(command: click.Command) -> dict[str, click.Option]:
    """Every key a file may use for the command's options -> the option."""
    names: dict[str, click.Option] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None or not param.expose_value:
            continue  # --help, --version and --config itself have no value to default
        names[param.name] = param
        for opt in param.opts:
            if opt.startswith("--"):
                names[opt[2:].replace("-", "_")] = param
    return names


def _option_for(key: str, names: Mapping[str, click.Option]) -> tuple[click.Option, bool] | None:
    """(the option, whether the key names an environment variable) or None."""
    plain = key.replace("-", "_")
    if plain in names:
        return names[plain], False
    if plain.endswith(ENV_SUFFIX) and plain[: -len(ENV_SUFFIX)] in names:
        return names[plain[: -len(ENV_SUFFIX)]], True
    return None


Options = Mapping[str, click.Option]


def _resolve(key: str, value: Any, names: Options, where: str) -> tuple[str, Any]:
    found = _option_for(key, names)
    if found is None:
        raise ConfigError(f"unknown key {where}{key!r}")
    option, from_env = found
    if from_env:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}{key} must name an environment variable")
        if value not in os.environ:
            raise ConfigError(f"{where}{key}: the environment variable {value} is not set")
        value = os.environ[value]
    if option.multiple and isinstance(value, str):
        value = [value]  # `agent = "x"` means one agent, not one per letter
    assert option.name is not None
    return option.name, value


def load_default_map(
    path: Path, commands: Mapping[str, click.Command], group: click.Command | None = None
) -> dict[str, Any]:
    """The default_map for the group: {command name: {parameter name: value}}, plus the
    group's own options (`log_format`, `verbose`) at the top level."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    names = {name: option_names(cmd) for name, cmd in commands.items()}
    own = option_names(group) if group is not None else {}
    top: dict[str, Any] = {}
    shared: dict[str, dict[str, Any]] = {name: {} for name in commands}
    specific: dict[str, dict[str, Any]] = {name: {} for name in commands}
    for key, value in doc.items():
        if isinstance(value, dict):
            if key not in commands:
                raise ConfigError(f"unknown table [{key}] (known: {', '.join(commands)})")
            for sub_key, sub_value in value.items():
                param, resolved = _resolve(sub_key, sub_value, names[key], f"[{key}] ")
                specific[key][param] = resolved
            continue
        if _option_for(key, own) is not None:
            param, resolved = _resolve(key, value, own, "")
            top[param] = resolved
            continue
        applies = [name for name in commands if _option_for(key, names[name]) is not None]
        if not applies:
            raise ConfigError(f"unknown key {key!r}")
        for name in applies:
            param, resolved = _resolve(key, value, names[name], "")
            shared[name][param] = resolved
    return {**top, **{name: {**shared[name], **specific[name]} for name in commands}}


def _load(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is None:
        return
    group = ctx.command
    assert isinstance(group, click.Group)
    # get_command, not .commands: `schedule` and `check` load on first use (cli/lazy.py)
    found = {name: group.get_command(ctx, name) for name in COMMANDS}
    commands = {name: command for name, command in found.items() if command is not None}
    try:
        ctx.default_map = load_default_map(value, commands, group)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)


config_file_option = click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="UNPOD_ETL_CONFIG",
    expose_value=False,
    is_eager=True,
    callback=_load,
    help="TOML file with options of sync, schedule, check and webhook; the command line and "
    "the environment win over it [UNPOD_ETL_CONFIG].",
)
