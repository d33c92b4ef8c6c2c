"""Operators' jobs and their schedules: the nightly retention sweep, backup verification and
the anchoring of the audit log's head outside the ledger (C5.4-1).

The jobs call the engine (the ``steward`` resource) and report what it did on each asset's
page: observations for certificates, deadlines and holds, and a tombstone materialization for
each purged partition (docs/ui.md); a failure fails the run.

Each op first checks the run's database user against the access policy (``authorize``,
C5.4-1): a refusal fails the run naming the missing role.
"""

# No ``from __future__ import annotations`` here: Dagster reads the ops' ``context``
# annotation when they are defined.
from collections.abc import Iterator

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DefaultScheduleStatus,
    Failure,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from orchestration.access.guard import AccessRefused, access_for
from orchestration.defs.metadata import purged_versions, tombstone_metadata, version_metadata
from orchestration.defs.resources import STEWARD
from orchestration.ledger.lineage import version_lineage
from orchestration.ledger.requests import report_overdue
from orchestration.records import Certificate
from orchestration.retention.certificates import as_dict
from orchestration.retention.sweep import SweepReport
from orchestration.steward import Steward
from orchestration.vocabulary import DISTRICT_ZONE, PurgeKind, asset_path


def newest_state(
    steward: Steward, certificate: Certificate, partition: str
) -> AssetMaterialization | None:
    """A partition after a purge, recorded as its newest materialization because Dagster
    cannot wipe one (docs/ui.md): the version rewritten without the expired rows, or else a
    tombstone; nothing when no version of it was ever shown (an orphaned landing file)."""
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


def plan_events(report: SweepReport) -> Iterator[AssetObservation]:
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
    steward: Steward, report: SweepReport
) -> Iterator[AssetObservation | AssetMaterialization]:
    """Each certificate on its dataset's page, then each purged partition's newest state."""
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


DEMO_MODE_LINE = (
    " On a SQLite ledger this runs in unauthenticated demo mode: nobody is authenticated, and "
    "governance jobs are refused unless STEWARD_ALLOW_UNAUTHENTICATED=1 (C5.4-1)."
)


def authorize(steward: Steward, command: str) -> None:
    """Fail the run, naming the missing role, unless its database user may run ``command``
    (the same name as the ``steward`` command that does the same, C5.4-1)."""
    try:
        access_for(steward.settings, steward.engine).require(command)
    except AccessRefused as refused:
        raise Failure(description=str(refused), allow_retries=False) from None


@op(
    description="Plan and carry out the retention sweep as of now (C5.2-11).",
    required_resource_keys={STEWARD},
)
def sweep_expired_personal_data(context: OpExecutionContext) -> None:
    steward: Steward = getattr(context.resources, STEWARD)
    authorize(steward, "sweep")
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
    for event in (*plan_events(report), *certificate_events(steward, report)):
        context.log_event(event)
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
    steward: Steward = getattr(context.resources, STEWARD)
    authorize(steward, "backup verify")
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

    steward: Steward = getattr(context.resources, STEWARD)
    authorize(steward, "audit anchor")
    s = steward.settings
    store = anchor_store(s.audit_anchor_uri, s.s3_endpoint_url, s.audit_anchor_retain_days)
    made = anchor(steward.engine, store)
    if made is None:
        context.log.info("the audit log is empty: nothing anchored")
    else:
        context.log.info(f"anchored audit entry {made[0].seq} to {made[1]}")


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

    steward: Steward = getattr(context.resources, STEWARD)
    authorize(steward, "incidents")
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


JOBS: list[JobDefinition] = [retention_sweep, backup_verification, audit_anchoring, incident_export]
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
