"""The ``steward`` command. Human output by default, ``--json`` for scripts, on every command.

Exit codes: 0 all good, 1 a failure was found (tampering, a bad backup, a failed run),
2 bad input (declarations, arguments, provider files, unknown names, a home with no ledger).
Arguments are checked by the shared types and checks of ``orchestration.cli.params`` before
anything is opened or recorded; human output shows times in district time (Asia/Tokyo).

Each command group lives in its own module (``datasets``, ``quality``, ``retention``,
``operations``), imported when one of its commands runs (``COMMANDS``), and is a thin call
into a service; output goes through ``render``. The
global ``--as-of`` is also accepted after the commands that act or read as of a moment.
"""

from __future__ import annotations

import sys
from datetime import datetime
from importlib import import_module
from typing import Any

import click

from orchestration.cli import render
from orchestration.cli.context import Context
from orchestration.cli.params import Instant
from orchestration.errors import StewardError

# Commands that only read the ledger: they start without transform modules, pandas or Dagster.
READ_ONLY = frozenset(
    {
        "versions",
        "lineage",
        "certificates",
        "incidents",
        "audit",
        "provisions",
        "verify-package",
        "approvals",
    }
)


COMMANDS = {
    "check": "datasets:check",
    "schema": "datasets:schema",
    "versions": "datasets:versions",
    "lineage": "datasets:lineage",
    "waive": "quality:waive",
    "revoke": "quality:revoke",
    "report": "quality:report",
    "sweep": "retention:sweep",
    "certificates": "retention:certificates",
    "incidents": "retention:incidents",
    "hold": "retention:hold",
    "release": "retention:release",
    "retire": "retention:retire",
    "approve": "approvals:approve",
    "approvals": "approvals:approvals",
    "provide": "provision:provide",
    "provisions": "provision:provisions",
    "verify-package": "packages:verify_package",
    "signing-key": "packages:signing_key",
    "subject": "subjects:subject",
    "requests": "subjects:requests",
    "restore": "operations:restore",
    "backup": "operations:backup",
    "audit": "operations:audit",
    "demo": "operations:demo",
    "ui": "operations:ui",
    "webserver": "operations:webserver",
    "conformance": "operations:conformance",
}
"""Each command and where it is defined (module of ``orchestration.cli``: attribute)."""


class LazyGroup(click.Group):
    """The command group that imports a command's module only when that command is asked for:
    a command starts without the others' imports (issue 13). ``commands`` loads them all, for
    whatever lists them (help, the access policy's check of its command names, tests)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        for name in self._lazy:
            self._load(name)
        return self._loaded

    @commands.setter
    def commands(self, given: dict[str, click.Command]) -> None:
        self._loaded = given

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._loaded, *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name) if cmd_name in self._lazy else self._loaded.get(cmd_name)

    def _load(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, _, attr = self._lazy[name].partition(":")
            self._loaded[name] = getattr(import_module(f"orchestration.cli.{module}"), attr)
        return self._loaded[name]


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--as-of", type=Instant(), help="Act as of this ISO 8601 instant.")
@click.pass_context
def cli(ctx: click.Context, as_of: datetime | None) -> None:
    """city-steward: governed, versioned, encrypted datasets for the Takanawa Gateway district."""
    ctx.obj = Context(as_of, reads_only=ctx.invoked_subcommand in READ_ONLY)


def main() -> None:
    """The console script: one line per error on stderr, exit 2 for bad input, no traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        render.problem("aborted")
        sys.exit(1)
    except click.ClickException as exc:
        # One line naming the argument (a bad value's message carries its own example); the
        # usage block would bury it.
        usage = isinstance(exc, click.UsageError) and not isinstance(exc, click.BadParameter)
        more = f" (see `{exc.ctx.command_path} --help`)" if usage and exc.ctx else ""
        render.problem(f"error: {exc.format_message()}{more}")
        sys.exit(2)
    except StewardError as exc:
        render.problem(f"error: {exc}")
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
