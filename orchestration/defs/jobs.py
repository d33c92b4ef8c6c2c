"""Operators' jobs and their schedules: the nightly retention sweep, backup verification and
the anchoring of the audit log's head outside the ledger (C5.4-1).

The jobs call the engine (the ``steward`` resource) and report what it did on each asset's
page: observations for certificates, deadlines and holds, and a tombstone materialization for
each purged partition (docs/ui.md); a failure fails the run.

Each op first checks whoever launched the run (the person the proxy authenticated for a UI
launch, else the run's database user) against the access policy (``acting`` in
``launcher.py``, C5.4-1): a refusal fails the run naming the missing role.
"""

# No ``from __future__ import annotations`` here: Dagster reads the ops' ``context``
# annotation when they are defined.
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckEvaluation,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)
from pydantic import Field

from orchestration.defs.launcher import acting
from orchestration.defs.metadata import purged_versions, tombstone_metadata, version_metadata
from orchestration.defs.resources import STEWARD
from orchestration.defs.ui_events import state_evaluation
from orchestration.records import Certificate
from orchestration.steward import Steward
from orchestration.vocabulary import DISTRICT_ZONE, PurgeKind, asset_path

if TYPE_CHECKING:  # the ledger and the sweep (SQLAlchemy, pandas) load in a run (issue 13)
    from orchestration.retention.sweep import SweepReport


def newest_state(
    steward: Steward, certificate: Certificate, partition: str
) -> AssetMaterialization | None:
    """A partition after a purge, recorded as its newest materialization because Dagster
    cannot wipe one (docs/ui.md): the version rewritten without the expired rows, or else a
    tombstone; nothing when no version of it was ever shown (an orphaned landing file)."""
    from orchestration.ledger.lineage import version_lineage

    purged = purged_versions(certificate, partition)
    if not purged:
        return None
    key = AssetKey(asset_path(certificate.dataset))
    current = steward.store.latest(certificate.dataset, partition)
    if certificate.kind == PurgeKind.ROWS and current is not None and current.number not in purged:
        inputs = [edge.version for edge in version_lineage(steward.engine, current.id).edges]
        decl = steward.catalog.declaration(certificate.dataset)
        return AssetMaterialization(
            asset_key=key,
            partition=partition or None,
            description=f"rewritten without the rows past their deadline (certificate "
            f"{certificate.id})",
            metadata={
                **version_metadata(current, decl, inputs),
                "purge_certificate": certificate.id,
                "versions_purged": MetadataValue.json(purged),
            },
        )
    return AssetMaterialization(
        asset_key=key,
        partition=partition or None,
        description=f"purged: every version is a tombstone (certificate {certificate.id})",
        metadata=tombstone_metadata(certificate, partition),
    )


def plan_events(report: "SweepReport") -> Iterator[AssetObservation]:
    """Each partition's next deadline, and each partition a legal hold keeps past it."""
    for row in report.plan.deadlines:
        yield AssetObservation(
            asset_key=AssetKey(asset_path(row.dataset)),
            partition=row.partition or None,
            metadata={
                "retention_policy": row.policy,
                "next_deadline": row.deadline.at.isoformat() if row.deadline.at else "none",
                "deadline_basis": row.deadline.basis,
                "overdue_rows": row.overdue_rows if row.overdue_rows is not None else 0,
            },
        )
    for held in report.plan.deferred:
        yield AssetObservation(
            asset_key=AssetKey(asset_path(held.dataset)),
            partition=held.partition or None,
            metadata={
                "legal_hold": held.hold_reason,
                "held_past_deadline": held.deadline.isoformat(),
            },
        )


def certificate_events(
    steward: Steward, report: "SweepReport"
) -> Iterator[AssetObservation | AssetMaterialization]:
    """Each certificate on its dataset's page, then each purged partition's newest state."""
    from orchestration.retention.certificates import as_dict

    for certificate in report.certificates:
        if certificate.dataset not in steward.catalog.datasets:
            continue  # orphans of an undeclared landing folder: no asset to show them on
        yield AssetObservation(
            asset_key=AssetKey(asset_path(certificate.dataset)),
            metadata={"purge_certificate": MetadataValue.json(as_dict(certificate))},
        )
        if certificate.kind == PurgeKind.ORPHANS:
            continue  # the partition's versions were not purged: nothing to show
        for partition in certificate.partitions["partitions"]:
            newest = newest_state(steward, certificate, partition)
            if newest is not None:
                yield newest


def state_evaluations(steward: Steward, report: "SweepReport") -> Iterator[AssetCheckEvaluation]:
    """The ``governance`` check's result for each partition whose state changed without a
    decision to show it (docs/ui.md): each one purged (or rewritten without its expired rows)
    now, and each one whose waiver ran out in the last two days (two nightly sweeps' worth)."""
    from orchestration.ledger.quality import partitions_with_waivers_ending

    now = steward.clock.now()
    changed = {
        (certificate.dataset, partition)
        for certificate in report.certificates
        if certificate.dataset in steward.catalog.datasets and certificate.kind != PurgeKind.ORPHANS
        for partition in certificate.partitions["partitions"]
    }
    changed.update(partitions_with_waivers_ending(steward.engine, now - timedelta(days=2), now))
    return partition_evaluations(steward, sorted(changed))


def partition_evaluations(
    steward: Steward, partitions: Iterable[tuple[str, str]]
) -> Iterator[AssetCheckEvaluation]:
    """The ``governance`` check's result for each (dataset, partition), as the ledger says now;
    nothing for a partition no version of which was ever shown."""
    from orchestration.governance.partition_state import partition_status

    now = steward.clock.now()
    for dataset, partition in partitions:
        status = partition_status(steward.engine, dataset, partition, now)
        if status is not None:
            yield state_evaluation(dataset, partition, status)


DEMO_MODE_LINE = (
    " On a SQLite ledger this runs in unauthenticated demo mode: nobody is authenticated, and "
    "governance jobs are refused unless STEWARD_ALLOW_UNAUTHENTICATED=1 (C5.4-1)."
)


@op(
    description="Plan and carry out the retention sweep as of now (C5.2-11).",
    required_resource_keys={STEWARD},
    out={},  # it yields events, not outputs
)
def sweep_expired_personal_data(
    context: OpExecutionContext,
) -> Iterator[AssetObservation | AssetMaterialization]:
    from orchestration.ledger.requests import report_overdue

    steward = acting(context, getattr(context.resources, STEWARD), "sweep")
    report = steward.sweeper().run()  # a live sweep holding the lock: LockBusy fails the step
    for late in report_overdue(steward.engine, steward.clock.now(), steward.settings.actor):
        context.log.warning(f"subject request overdue (C5.2-6): incident {late.id}")
    if report.interrupted is not None:  # C4.1-3: recorded as an incident too
        previous = report.interrupted.detail["previous"]
        context.log.warning(
            f"took over the sweep lock of {previous['holder']} ({previous['why']}); "
            f"finished {len(report.resumed)} interrupted partition purge(s)"
        )
    for held in report.plan.deferred:
        context.log.warning(
            f"held past its deadline: {held.dataset} {held.partition} "
            f"(deadline {held.deadline.isoformat()}): {held.hold_reason}"
        )
    # Yielded events are stored as they come; logged ones when the op ends. So each partition's
    # state is recorded after its tombstone and reads as its newest evaluation (docs/ui.md).
    yield from plan_events(report)
    yield from certificate_events(steward, report)
    for evaluation in state_evaluations(steward, report):
        context.log_event(evaluation)
    context.log.info(
        f"{len(report.certificates)} purge certificate(s), {len(report.incidents)} incident(s)"
    )
    if report.incidents:
        incidents = [
            {"dataset": i.dataset, "kind": str(i.kind), **i.detail} for i in report.incidents
        ]
        raise Failure(
            description=f"{len(report.incidents)} purge(s) failed and were recorded as "
            "incidents; they are retried next night",
            metadata={"incidents": MetadataValue.json(incidents)},
        )


@op(
    description="Re-read every backup copy and check it (C5.4-3).", required_resource_keys={STEWARD}
)
def verify_backup_copies(context: OpExecutionContext) -> None:
    steward = acting(context, getattr(context.resources, STEWARD), "backup verify")
    checks = list(steward.backups.verify(steward.settings.actor))
    failed = [c for c in checks if not c.ok]
    context.log.info(f"{len(checks) - len(failed)} of {len(checks)} copies verified")
    if failed:
        problems = [
            {
                "dataset": c.dataset,
                "partition": c.partition,
                "version": c.version,
                "target": c.target,
                "problem": c.problem,
            }
            for c in failed
        ]
        raise Failure(
            description=f"{len(failed)} backup copies failed verification",
            metadata={"failed": MetadataValue.json(problems)},
        )


@op(
    description="Write the audit log's head (seq, hash, MAC, real time) to the write-once anchor "
    "location outside the ledger (C5.4-1).",
    required_resource_keys={STEWARD},
)
def anchor_audit_head(context: OpExecutionContext) -> None:
    from orchestration.ledger.anchors import anchor, anchor_store

    steward = acting(context, getattr(context.resources, STEWARD), "audit anchor")
    s = steward.settings
    store = anchor_store(s.audit_anchor_uri, s.s3_endpoint_url, s.audit_anchor_retain_days)
    made = anchor(steward.engine, store, actor=s.actor, at=steward.clock.now())
    if made is None:
        context.log.info("the audit log is empty: nothing anchored")
    else:
        context.log.info(f"anchored the heads of {len(made[0].chains)} audit chains to {made[1]}")


class PartitionStatesConfig(Config):
    """Which partitions' ``governance`` check to bring up to date with the ledger."""

    dataset: str = Field(description="The dataset key, e.g. rail_os/ic_gate_events.")
    partitions: list[str] = Field(
        default_factory=list,
        description="Days (YYYY-MM-DD) of a daily dataset; empty: every partition with versions.",
    )


@op(
    description="Record each partition's state as its governance check result: promoted, "
    "quarantined, waived, held or purged, as the ledger says now (C5.5-4, C5.2-11).",
    required_resource_keys={STEWARD},
)
def show_partition_states(context: OpExecutionContext, config: PartitionStatesConfig) -> None:
    from orchestration.ledger.version_reads import partitions

    steward = acting(context, getattr(context.resources, STEWARD))
    if config.dataset not in steward.catalog.datasets:
        raise Failure(
            description=f"dataset {config.dataset!r} is not declared (e.g. rail_os/ic_gate_events)",
            allow_retries=False,
        )
    days = config.partitions or partitions(steward.engine, config.dataset)
    for evaluation in partition_evaluations(steward, [(config.dataset, day) for day in days]):
        context.log_event(evaluation)


@job(
    name="governance_state",
    description="Bring the governance check of a dataset's partitions up to date: each "
    "decision (waive, revoke, hold, release) runs it for the partitions it touched.",
)
def governance_state() -> None:
    show_partition_states()


@job(
    name="retention_sweep",
    description="Purge expired personal data everywhere it lives, verify, and certify "
    "(C5.2-3, C5.2-11)." + DEMO_MODE_LINE,
)
def retention_sweep() -> None:
    sweep_expired_personal_data()


@job(name="backup_verification", description="Re-read and check every backup copy.")
def backup_verification() -> None:
    verify_backup_copies()


@job(name="audit_anchoring", description="Anchor the audit log's head outside the ledger.")
def audit_anchoring() -> None:
    anchor_audit_head()


@op(
    description="Write every incident for the consortium secretariat (C4.1-3, C5.7-2).",
    required_resource_keys={STEWARD},
)
def export_incidents_for_the_secretariat(context: OpExecutionContext) -> None:
    from orchestration.governance.incidents import export_incidents

    steward = acting(context, getattr(context.resources, STEWARD), "incidents")
    folder = steward.settings.home / "reports" / "incidents"
    path = export_incidents(steward.engine, folder, steward.clock.now())
    context.log.info(f"wrote {path}")


@job(
    name="incident_export",
    description="Export every incident as JSON for the consortium secretariat (C4.1-3)."
    + DEMO_MODE_LINE,
)
def incident_export() -> None:
    export_incidents_for_the_secretariat()


JOBS: list[JobDefinition] = [
    retention_sweep,
    backup_verification,
    audit_anchoring,
    incident_export,
    governance_state,
]
SCHEDULES = [
    ScheduleDefinition(
        name="nightly_retention_sweep",
        job=retention_sweep,
        cron_schedule="0 2 * * *",
        execution_timezone=DISTRICT_ZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every night at 02:00 Asia/Tokyo.",
    ),
    ScheduleDefinition(
        name="nightly_backup_verification",
        job=backup_verification,
        cron_schedule="0 3 * * *",
        execution_timezone=DISTRICT_ZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every night at 03:00 Asia/Tokyo, after the sweep.",
    ),
    ScheduleDefinition(
        name="nightly_audit_anchor",
        job=audit_anchoring,
        cron_schedule="0 4 * * *",
        execution_timezone=DISTRICT_ZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every night at 04:00 Asia/Tokyo, after the sweep and backup verification: "
        "the audit head, written where the ledger's writers cannot rewrite it (C5.4-1).",
    ),
    ScheduleDefinition(
        name="nightly_incident_export",
        job=incident_export,
        cron_schedule="30 4 * * *",
        execution_timezone=DISTRICT_ZONE,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Every night at 04:30 Asia/Tokyo: every incident as JSON under "
        "$STEWARD_HOME/reports/incidents/ for the consortium secretariat (C4.1-3, C5.7-2).",
    ),
]
