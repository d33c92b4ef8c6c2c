"""The ``steward`` command. Human output by default, ``--json`` for scripts, on every command.

Exit codes: 0 all good, 1 a failure was found (tampering, a bad backup, a failed run),
2 bad input (declarations, arguments, provider files, unknown names, a home with no ledger).
Arguments are checked by the shared types and checks of ``orchestration.cli.params`` before
anything is opened or recorded; human output shows times in district time (Asia/Tokyo).

Each command group lives in its own module (``datasets``, ``quality``, ``retention``,
``operations``) and is a thin call into a service; output goes through ``render``. The
global ``--as-of`` is also accepted after the commands that act or read as of a moment.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from orchestration.cli import (
    approvals,
    datasets,
    operations,
    packages,
    provision,
    quality,
    render,
    retention,
    subjects,
)
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--as-of", type=Instant(), help="Act as of this ISO 8601 instant.")
@click.pass_context
def cli(ctx: click.Context, as_of: datetime | None) -> None:
    """city-steward: governed, versioned, encrypted datasets for the Takanawa Gateway district."""
    ctx.obj = Context(as_of, reads_only=ctx.invoked_subcommand in READ_ONLY)


for _command in (
    datasets.check,
    datasets.schema,
    datasets.versions,
    datasets.lineage,
    quality.waive,
    quality.revoke,
    quality.report,
    retention.sweep,
    retention.certificates,
    retention.incidents,
    retention.hold,
    retention.release,
    retention.retire,
    approvals.approve,
    approvals.approvals,
    provision.provide,
    provision.provisions,
    packages.verify_package,
    packages.signing_key,
    subjects.subject,
    subjects.requests,
    operations.restore,
    operations.backup,
    operations.audit,
    operations.demo,
    operations.ui,
    operations.webserver,
    operations.conformance,
):
    cli.add_command(_command)


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
