"""The one command-line entry point: ``eldercare <command>``.

Commands live in one module per area; importing this package registers them all on `app`.
"""

from __future__ import annotations

import importlib

import typer

from eldercare.cli._app import app
from eldercare.errors import EldercareError

# Importing a command module registers its commands; this order is the order of `--help`.
for _module in ("_services", "_up", "_simulate", "_operations", "_staff"):
    importlib.import_module(f"eldercare.cli.{_module}")

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except EldercareError as exc:
        typer.echo(f"eldercare: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
