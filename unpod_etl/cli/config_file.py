"""`--config PATH` (or UNPOD_ETL_CONFIG): options of `sync`, `schedule` and `check` from a
TOML file, read with the standard library's tomllib.

The file fills click's `default_map`, which click consults after the command line and the
environment variable and before the built-in default: exactly the precedence wanted
(command line > environment > file > defaults). Keys are the options' long names with `_`
or `-` (`page_size`, `max-age`); top-level keys apply to every command that has the option,
a `[sync]`, `[schedule]` or `[check]` table to that command only (and wins over the top
level). `NAME_env = "VAR"` reads the value of NAME from the environment variable VAR, so a
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

COMMANDS = ("sync", "schedule", "check")
ENV_SUFFIX = "_env"


def option_names(command: click.Command) -> dict[str, str]:
    """Every key a file may use for the command's options -> the option's parameter name."""
    names: dict[str, str] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        names[param.name] = param.name
        for opt in param.opts:
            if opt.startswith("--"):
                names[opt[2:].replace("-", "_")] = param.name
    return names


def _resolve(key: str, value: Any, names: Mapping[str, str], where: str) -> tuple[str, Any]:
    plain = key.replace("-", "_")
    if plain in names:
        return names[plain], value
    if plain.endswith(ENV_SUFFIX) and plain[: -len(ENV_SUFFIX)] in names:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}{key} must name an environment variable")
        if value not in os.environ:
            raise ConfigError(f"{where}{key}: the environment variable {value} is not set")
        return names[plain[: -len(ENV_SUFFIX)]], os.environ[value]
    raise ConfigError(f"unknown key {where}{key!r}")


def load_default_map(path: Path, commands: Mapping[str, click.Command]) -> dict[str, Any]:
    """The default_map for the group: {command name: {parameter name: value}}."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    names = {name: option_names(cmd) for name, cmd in commands.items()}
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
        applies = [name for name in commands if _applies(key, names[name])]
        if not applies:
            raise ConfigError(f"unknown key {key!r}")
        for name in applies:
            param, resolved = _resolve(key, value, names[name], "")
            shared[name][param] = resolved
    return {name: {**shared[name], **specific[name]} for name in commands}


def _applies(key: str, names: Mapping[str, str]) -> bool:
    plain = key.replace("-", "_")
    return plain in names or (plain.endswith(ENV_SUFFIX) and plain[: -len(ENV_SUFFIX)] in names)


def _load(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is None:
        return
    group = ctx.command
    assert isinstance(group, click.Group)
    commands = {name: group.commands[name] for name in COMMANDS if name in group.commands}
    try:
        ctx.default_map = load_default_map(value, commands)
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
    help="TOML file with options of sync, schedule and check; the command line and the "
    "environment win over it [UNPOD_ETL_CONFIG].",
)
