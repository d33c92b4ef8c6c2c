"""One Dagster asset per declared dataset, grouped by zone.

The asset body does the work in plain sight: it reads its upstream versions through the
store, computes, commits through the quality gate, and returns the version's materialization
(metadata, data version) with one blocking check result per dimension. Upstreams are
``deps``, so lineage stays in the graph while no dataset value passes through Dagster.
"""

import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    BetaWarning,
    DailyPartitionsDefinition,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    PreviewWarning,
    asset,
)

from orchestration.declarations.catalog import Catalog, DeclaredDataset
from orchestration.declarations.suites import Dimension
from orchestration.defs.launcher import acting
from orchestration.defs.metadata import declaration_metadata, version_metadata
from orchestration.defs.resources import STEWARD
from orchestration.defs.ui_events import GOVERNANCE_CHECK, GOVERNANCE_DOC, state_evaluation
from orchestration.detection.plan import DETECTION, DETECTION_DOC, plan
from orchestration.disclosure.rules import DISCLOSURE, MissingDefaults, rule_for
from orchestration.records import QualityResult, Version
from orchestration.steward import Steward
from orchestration.vocabulary import DISTRICT_ZONE, NO_PARTITION, CheckStatus, asset_path

if TYPE_CHECKING:  # the ledger (SQLAlchemy) is imported by a run, not by loading (issue 13)
    from sqlalchemy import Engine

# Declarative automation: a derived dataset follows its upstream, but only once every blocking
# check of its upstream passed (C5.5-4, second layer). One object, shared by every asset.
FOLLOW_UPSTREAM_ONCE_CHECKED = (
    AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
)
# A dimension that passed, or only warned, does not block.
NOT_BLOCKING = {CheckStatus.PASSED, CheckStatus.WARNING}
NOT_FAILED = {CheckStatus.PASSED, CheckStatus.NOT_EVALUATED}

# ``data_version`` is marked beta; the content hash is the data version we want.
warnings.filterwarnings("ignore", category=BetaWarning, message=".*data_version.*")
# Partitioned checks are a preview; they let each check result carry its partition in the UI.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def.*")

DIMENSION_DOC = {
    Dimension.ACCURACY: "Values are right: ranges, sets, formats, reference values (C5.5-1).",
    Dimension.COMPLETENESS: "Nothing is missing: required values, rows, stations, hours (C5.5-1).",
    Dimension.CONSISTENCY: "Values agree: keys, pair rules, other datasets (C5.5-1).",
}
DISCLOSURE_DOC = (
    "Nobody can be singled out: small cells suppressed and not recoverable from published "
    "totals, or k-anonymity and l-diversity reached (C3.3-1, C5.1-4)."
)


def daily_partitions(dataset: DeclaredDataset) -> DailyPartitionsDefinition | None:
    """Days in the district's time zone from the declared start, if partitioned."""
    decl = dataset.declaration
    if not (decl.is_partitioned and decl.partitioning.start):
        return None
    return DailyPartitionsDefinition(
        start_date=datetime.combine(decl.partitioning.start, datetime.min.time()),
        timezone=DISTRICT_ZONE,
    )


def build_asset(dataset: DeclaredDataset, disclosure_checked: bool = False) -> AssetsDefinition:
    """The asset of one declared dataset; it runs against the ``steward`` resource. A
    disclosure-checked dataset (statistical or anonymized, made from personal data) has one
    more blocking check, ``disclosure`` (C3.3-1, C5.1-4)."""
    decl = dataset.declaration
    partitions = daily_partitions(dataset)
    key = AssetKey(asset_path(decl.key))
    checks = [(dim.value, DIMENSION_DOC[dim]) for dim in Dimension]
    if disclosure_checked:
        checks.append((DISCLOSURE, DISCLOSURE_DOC))
    if plan(decl):  # value detection at ingest (C5.2-4, C5.2-5)
        checks.append((DETECTION, DETECTION_DOC))

    @asset(
        key=key,
        group_name=decl.zone.value,
        description=decl.description,
        owners=[decl.owner],
        kinds={"parquet", "csv" if decl.is_ingest else "python"},
        metadata=declaration_metadata(decl, dataset.revision),
        tags={"classification": decl.classification.value},
        deps=[AssetKey(asset_path(up)) for up in decl.upstream],
        partitions_def=partitions,
        required_resource_keys={STEWARD},
        check_specs=[
            AssetCheckSpec(
                name,
                asset=key,
                blocking=True,
                description=doc,
                partitions_def=partitions,
            )
            for name, doc in checks
        ]
        + [
            AssetCheckSpec(
                GOVERNANCE_CHECK,
                asset=key,
                blocking=False,
                description=GOVERNANCE_DOC,
                partitions_def=partitions,
            )
        ],
        automation_condition=None if decl.is_ingest else FOLLOW_UPSTREAM_ONCE_CHECKED,
    )
    def _materialize(context: AssetExecutionContext) -> MaterializeResult:
        return materialize_version(context, dataset)

    return _materialize


def materialize_version(
    context: AssetExecutionContext, dataset: DeclaredDataset
) -> MaterializeResult:
    """Load the upstream versions, compute and commit one partition: the new version (with the
    exact versions it was made from, C5.5-2) and its quality results, as Dagster shows them."""
    steward = acting(context, getattr(context.resources, STEWARD))
    # The run's own load of the declaration, with its transform imported: the code location
    # loads the definitions without importing transforms (pandas), issue 13.
    dataset = steward.catalog.get(dataset.key)
    producer = steward.producer
    partition = context.partition_key if context.has_partition_key else NO_PARTITION
    upstreams = producer.load_upstreams(dataset, partition, context.run_id)
    produced = producer.compute(dataset, partition, upstreams.frames)
    version = producer.commit(dataset, partition, produced, upstreams.versions, context.run_id)
    return MaterializeResult(
        metadata=version_metadata(version, dataset.declaration, upstreams.versions),
        data_version=DataVersion(version.content_hash),
        check_results=[
            *check_results(steward.engine, version),
            governance_result(steward, version),
        ],
    )


def governance_result(steward: Steward, version: Version) -> AssetCheckResult:
    """The partition's state right after this version was committed (docs/ui.md)."""
    from orchestration.governance.partition_state import partition_status

    status = partition_status(
        steward.engine, version.dataset, version.partition, steward.clock.now()
    )
    if status is None:  # the version just committed is promoted or quarantined: never here
        raise RuntimeError(f"{version.label} has no state in the ledger")
    evaluation = state_evaluation(version.dataset, version.partition, status)
    return AssetCheckResult(
        check_name=GOVERNANCE_CHECK,
        passed=evaluation.passed,
        severity=evaluation.severity,
        description=evaluation.description,
        metadata=evaluation.metadata,
    )


def check_results(engine: "Engine", version: Version) -> Sequence[AssetCheckResult]:
    """One blocking result per dimension of ``version``, as the ledger recorded them."""
    from orchestration.ledger.quality import results_for

    return [check_result(result, version) for result in results_for(engine, version.id)]


def check_result(result: QualityResult, version: Version) -> AssetCheckResult:
    """One dimension's result: counts only, never a value (invariant 1)."""
    not_passed = [
        {
            "check": c["type"],
            "columns": c["columns"],
            "status": c["status"],
            "unexpected_count": c["unexpected_count"],
        }
        for c in result.checks["checks"]
        if c["status"] not in NOT_FAILED
    ]
    metadata = {
        "status": result.status,
        "version": version.number,
        "partition": version.partition or "none",
        "expectations_evaluated": result.evaluated,
        "expectations_passed": result.passed,
        "conforming_percent": result.conforming_percent,
        "not_passed": MetadataValue.json(not_passed),
    }
    if result.dimension == DISCLOSURE:  # counts only: cells suppressed, k, l (C3.3-1)
        metadata["disclosure"] = MetadataValue.json(
            {c["type"]: c.get("detail") or {} for c in result.checks["checks"]}
        )
    if result.dimension == DETECTION:  # counts only: rows scanned, rows hit (C5.2-4, C5.2-5)
        metadata["detection"] = MetadataValue.json(
            {c["type"]: c.get("detail") or {} for c in result.checks["checks"]}
        )
    return AssetCheckResult(
        check_name=result.dimension,
        passed=result.status in NOT_BLOCKING,
        severity=AssetCheckSeverity.ERROR,
        description=f"{result.status}: {result.passed} of {result.evaluated} expectations "
        f"passed on version {version.number}",
        metadata=metadata,
    )


def build_assets(catalog: Catalog) -> list[AssetsDefinition]:
    """Every declared dataset's asset."""
    checked = disclosure_checked(catalog)
    return [build_asset(catalog.get(k), disclosure_checked=k in checked) for k in catalog.datasets]


def disclosure_checked(catalog: Catalog) -> set[str]:
    """The datasets with a blocking ``disclosure`` check (C3.3-1, C5.1-4): as
    ``disclosure.gate.gate_for`` decides, without importing the gate (pandas) to load the
    definitions. Missing district defaults still mean a check, one that fails."""
    decls = {k: d.declaration for k, d in catalog.datasets.items()}
    defaults = catalog.district.disclosure if catalog.district is not None else None
    checked = set()
    for key in decls:
        try:
            if rule_for(key, decls, defaults) is not None:
                checked.add(key)
        except MissingDefaults:
            checked.add(key)
    return checked
