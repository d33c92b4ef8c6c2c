"""The demo story on the embedded defaults.

Providers deliver a few days of files and every dataset is materialized through Dagster. A
provider re-delivers a corrected camera file, giving a second version with its own lineage.
The last day's IC-gate delivery arrives faulty: its version is quarantined, a later run of a
downstream dataset alone is refused by the store, and after a corrected delivery passes, the
downstream succeeds. Quality reports, backups and the audit log are checked at the end.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from orchestration.clock import DISTRICT_TZ, FixedClock, SystemClock
from orchestration.demo.providers import (
    ic_gates,
    upload_deliveries,
    write_deliveries,
    write_delivery,
)
from orchestration.demo.providers import write_faulty_gate_delivery as write_faulty_gates
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.lineage import LineageNode, version_lineage
from orchestration.provision.service import Order
from orchestration.quality.reports import build_report, write_report
from orchestration.retention.certificates import list_certificates, summary
from orchestration.settings import Settings
from orchestration.steward import Steward
from orchestration.vocabulary import op_name

if TYPE_CHECKING:  # Dagster is imported when the story runs, not when the CLI starts
    from dagster import DagsterInstance

    from orchestration.declarations.catalog import Catalog
    from orchestration.ingest.area import S3LandingPath
    from orchestration.records import Version

FIRST_DAY = date(2026, 11, 1)
CAMERAS = "rail_os/station_camera_detections"
GATES = "rail_os/ic_gate_events"
OD_MATRIX = "city_os/od_matrix_daily"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
SWEEP_AFTER_DAYS = 100  # past the camera (7 days) and gate-event (90 days) deadlines


def run_demo(settings: Settings, out: Console, *, reset: bool, days: int) -> None:
    """Play the story from its first delivery to the sweep; exit 1 if a check fails."""
    from dagster import DagsterInstance

    from orchestration.defs.instance import dagster_home

    if reset and settings.home.exists():
        shutil.rmtree(settings.home)
    os.environ["DAGSTER_HOME"] = str(dagster_home(settings))
    settings = story_settings(settings, FIRST_DAY + timedelta(days=days - 1))
    day_list = [FIRST_DAY + timedelta(days=i) for i in range(days)]
    story = Story(settings, out, Steward(settings), DagsterInstance.get(), day_list)
    for chapter in (
        story.declarations,
        story.deliveries,
        story.materialize_everything,
        story.quarantine,
        story.redelivery,
        story.lineage,
        story.verification,
        story.provision,
        story.erasure,
        story.sweep,
        story.conformance,
        story.ui,
    ):
        chapter()


@dataclass
class Story:
    """The demo district's state and its chapters, told in order to ``out``."""

    settings: Settings
    out: Console
    steward: Steward
    instance: DagsterInstance
    days: list[date]

    @property
    def catalog(self) -> Catalog:
        return self.steward.catalog

    @property
    def daily(self) -> list[str]:
        """The partitioned datasets, upstreams first."""
        order = self.catalog.in_dependency_order()
        return [k for k in order if self.catalog.declaration(k).is_partitioned]

    def materialize(self, keys: list[str], partition: str | None, what: str) -> bool:
        """One in-process Dagster run; says which steps failed and which were held back."""
        from orchestration.defs.build import materialize_datasets

        result = materialize_datasets(
            self.steward, keys, self.instance, partition, raise_on_error=False, log_level="CRITICAL"
        )
        state = "succeeded" if result.success else "FAILED"
        self.out.print(f"run {result.run_id[:8]} {state}: {what}")
        for event in result.get_step_failure_events():
            error = event.step_failure_data.error
            cause = error.cause.message if error and error.cause else error.message if error else ""
            first, *rest = [line.strip() for line in cause.strip().splitlines()] or [""]
            self.out.print(
                f"  step {event.step_key} failed: {first} {', '.join(filter(None, rest))}",
                markup=False,
                highlight=False,
            )
        ran = {e.step_key for e in result.get_step_success_events()}
        held = [k for k in keys if op_name(k) not in ran | result.get_failed_step_keys()]
        if held:
            self.out.print(f"  not run, behind a failed blocking check: {', '.join(held)}")
        return result.success

    @contextmanager
    def outbox(self) -> Iterator[Path]:
        """Where providers write a delivery: the landing folder itself, or, when the landing
        area is an S3 prefix (``STEWARD_LANDING_URI``), a temporary folder uploaded into it
        and removed, as a provider on another machine would deliver (no local copy is left)."""
        landing = self.steward.landing
        if isinstance(landing, Path):
            yield landing
            return
        with tempfile.TemporaryDirectory() as box:
            yield Path(box)
            upload_deliveries(Path(box), landing)

    def declarations(self) -> None:
        self.out.rule("1. Declarations")
        zones = sorted({d.declaration.zone.value for d in self.catalog.datasets.values()})
        self.out.print(
            f"{len(self.catalog.datasets)} datasets declared and valid, each with a quality "
            f"suite; zones: {zones}"
        )

    def deliveries(self) -> None:
        self.out.rule("2. Providers deliver files to the landing area")
        with self.outbox() as box:
            files = write_deliveries(box, self.days)
            write_faulty_gates(box, self.days[-1])
        self.out.print(
            f"{len(files)} provider files for {self.days[0]}..{self.days[-1]} in "
            f"{self.steward.landing}"
        )
        self.out.print(
            f"the IC-gate delivery for {self.days[-1]} arrives faulty (a gate-controller "
            "firmware bug)"
        )

    def materialize_everything(self) -> None:
        self.out.rule("3. Materialize every dataset through Dagster")
        daily = self.daily
        once = [k for k in self.catalog.in_dependency_order() if k not in daily]
        self.materialize(once, None, "unpartitioned datasets")
        for day in self.days:
            self.materialize(daily, day.isoformat(), f"daily datasets of {day}")

    def quarantine(self) -> None:
        self.out.rule("4. The faulty delivery is quarantined and blocks its readers (C5.5-4)")
        last, store = self.days[-1], self.steward.store
        faulty = store.latest(GATES, last.isoformat())
        assert faulty is not None
        self.out.print(
            f"{faulty.label}: {faulty.status} ({', '.join(store.failed_dimensions(faulty))})"
        )
        self.out.print(f"a later run of {OD_MATRIX} alone, for {last}:")
        self.materialize([OD_MATRIX], last.isoformat(), f"{OD_MATRIX} {last}")
        self.report(faulty)
        with self.outbox() as box:
            write_delivery(box, "ic_gates", last, ic_gates(7, last))
        self.out.print(
            "the operator corrects the delivery; the gate events and what is made from them "
            "run again:"
        )
        derived = [k for k in self.catalog.downstream_closure(GATES) if k in self.daily]
        self.materialize([GATES, *derived], last.isoformat(), f"{GATES} and {', '.join(derived)}")
        corrected = store.latest(GATES, last.isoformat())
        assert corrected is not None
        self.report(corrected)

    def redelivery(self) -> None:
        self.out.rule("5. A provider re-delivers a corrected camera file")
        first = self.days[0].isoformat()
        self.withdraw_double_counts(first)
        flows = self.flows
        self.materialize(
            [CAMERAS, *flows], first, f"{CAMERAS} {first}, re-delivered, and {', '.join(flows)}"
        )

    @property
    def flows(self) -> list[str]:
        """The daily datasets made from the camera detections."""
        return [k for k in self.catalog.downstream_closure(CAMERAS) if k in self.daily]

    def lineage(self) -> None:
        self.out.rule("6. Versions and exact lineage (C5.5-2)")
        first, last = self.days[0].isoformat(), self.days[-1].isoformat()
        for key, partition in ((self.flows[0], first), (OD_MATRIX, last)):
            history = self.steward.store.history(key, partition)
            table = Table(title=f"{key} partition {partition}")
            for col in ("version", "status", "rows", "content hash", "backups"):
                table.add_column(col)
            for v in history:
                table.add_row(
                    str(v.number),
                    v.status,
                    str(v.row_count),
                    v.content_hash[:12],
                    ", ".join(c.location for c in v.backups),
                )
            self.out.print(table)
            for v in history:
                self.out.print(lineage_tree(version_lineage(self.steward.engine, v.id)))

    def verification(self) -> None:
        self.out.rule("7. Backups and the audit log")
        checks = list(self.steward.backups.verify(self.settings.actor))
        good = sum(c.ok for c in checks)
        self.out.print(f"backup verify: {good} of {len(checks)} copies re-read and verified")
        with transaction(self.steward.engine) as session:
            report = audit.verify(session)
        chain = "intact" if report.ok else "BROKEN"
        self.out.print(f"audit verify: {report.entries} entries, chain {chain}")
        if good != len(checks) or not report.ok:
            raise SystemExit(1)

    def provision(self) -> None:
        """Two provisions and two refusals (design invariant 9)."""
        from orchestration.defs.ui_events import InstanceReporter
        from orchestration.provision.package import read_package, verify_package
        from orchestration.provision.service import ProvisionRefused
        from orchestration.provision.signing import load_signing_key, public_key_pem

        self.out.rule("8. Data leaves the district only through a provision (C5.2-12, C5.5-5)")
        last = self.days[-1].isoformat()
        provisioner = self.steward.provisioner(InstanceReporter(self.settings))
        public = public_key_pem(load_signing_key(self.settings.signing_key_path))
        for order in PROVISIONS:
            provision = provisioner.provide(self.on_day(order, last))
            intact = not verify_package(read_package(provision.location), public)
            self.out.print(
                f"provided {provision.dataset} {last} v{provision.versions[0].number} to "
                f"{provision.recipient} for {provision.purpose}: package "
                f"{provision.package_id[:8]} ({'signature verified' if intact else 'BROKEN'}) "
                f"-> {provision.location}",
                markup=False,
                highlight=False,
            )
            if not intact:
                raise SystemExit(1)
        for order in REFUSED:
            try:
                provisioner.provide(self.on_day(order, last))
            except ProvisionRefused as refused:
                self.out.print(str(refused), markup=False, highlight=False)
            else:
                raise SystemExit(f"{order.dataset} to {order.recipient} was not refused")
        self.out.print("`steward provisions --csv` exports the register")

    def erasure(self) -> None:
        """One app user and one card holder ask to be erased (C5.2-6); receipts, no values."""
        from orchestration.cli.subjects import receipt_lines

        self.out.rule("9. Two people ask to be erased, along lineage (C5.2-6)")
        requests = self.steward.subject_requests()
        landing = self.steward.landing
        users = sorted((landing / "app_users").glob("*.csv"))[-1]
        gates = sorted((landing / "ic_gates").glob("*.csv"))[0]
        people = (
            ("app_user_id", read_delivery(users)["user_id"].iloc[0]),
            ("ic_card_pseudonym", read_delivery(gates)["card_pseudonym"].iloc[0]),
        )
        for kind, identifier in people:
            request = requests.erase(requests.subject(kind, identifier))
            for line in receipt_lines(request.receipt):
                self.out.print(f"  {line}", markup=False, highlight=False)
            if request.receipt.get("failed"):
                raise SystemExit(1)
        self.out.print("`steward requests` lists every request with its receipt and due date")
        self.erasure_proof([identifier for _, identifier in people])

    def erasure_proof(self, identifiers: list[str]) -> None:
        """Neither person is left in any byte under the home, and no backup restores them
        (C5.2-6); names places only, never the identifiers."""
        from orchestration.demo.scan import places_holding
        from orchestration.errors import BadInput

        roots = [self.settings.home, self.settings.landing_dir, self.settings.dagster_home]
        found = places_holding(roots, identifiers, self.steward.store.keys)
        for place in found:
            self.out.print(f"  still holding an erased subject: {place}", highlight=False)
        self.out.print(
            f"byte scan of store, landing, backups, ledger, keys and DAGSTER_HOME (objects "
            f"opened with every key still held): {len(found)} file(s) hold either person"
        )
        try:
            self.steward.backups.restore("member/app_users", "", 1, self.settings.actor)
        except BadInput as refused:
            self.out.print(f"restore of the pre-erasure backup refused: {refused}", markup=False)
        else:
            self.out.print("restore of the pre-erasure backup SUCCEEDED")
            raise SystemExit(1)
        if found:
            raise SystemExit(1)

    def on_day(self, order: Order, day: str) -> Order:
        """The order for ``day`` of a daily dataset; an unpartitioned one has no days."""
        daily = self.catalog.declaration(order.dataset).is_partitioned
        return replace(order, partitions=(day,) if daily else ())

    def sweep(self) -> None:
        """The nightly sweep job, run in process against a steward whose clock is late."""
        from orchestration.defs.build import build_definitions, code_location_tags

        self.out.rule("10. The nightly sweep, as of a day past the retention deadlines (C5.2-11)")
        late_day = self.days[-1] + timedelta(days=SWEEP_AFTER_DAYS)
        as_of = datetime.combine(late_day, time(2), DISTRICT_TZ)
        late = Steward(replace(self.settings, clock=FixedClock(as_of)), self.catalog)
        for line in late.sweeper().plan().describe():
            self.out.print(f"  plan: {line}", markup=False, highlight=False)
        result = (
            build_definitions(late)
            .get_job_def("retention_sweep")
            .execute_in_process(
                instance=self.instance,
                raise_on_error=False,
                run_config=QUIET_LOGS,
                tags={
                    "steward/as_of": as_of.isoformat(),
                    "steward/actor": self.settings.actor,
                    **code_location_tags(),
                },
            )
        )
        certificates = list_certificates(self.steward.engine)
        for certificate in certificates:
            self.out.print(f"  {summary(certificate)}", markup=False, highlight=False)
        self.out.print(
            f"retention_sweep run {result.run_id[:8]} "
            f"{'succeeded' if result.success else 'FAILED'} as of {as_of.isoformat()}: "
            f"{len(certificates)} certificate(s); `steward certificates` exports them as JSON"
        )
        if not result.success:
            raise SystemExit(1)

    def conformance(self) -> None:
        """The committee's view of this district: each clause, its tests and its records."""
        from orchestration.conformance.registry import assess, load_registry
        from orchestration.conformance.render import write_report
        from orchestration.ledger.evidence import record_counts

        self.out.rule("11. The committee's conformance report (C4.2-1)")
        report = assess(
            load_registry(),
            self.settings.project_root / "tests",
            self.catalog,
            record_counts(self.steward.engine),
        )
        written = write_report(report, self.settings.home / "reports", self.steward.clock.now())
        counts = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in report.counts().items())
        self.out.print(f"{len(report.rows)} clauses: {counts}; records counted per clause")
        self.out.print(f"wrote {written[-1]} (`steward conformance --out DIR`)", highlight=False)

    def ui(self) -> None:
        self.out.rule("12. Open the operators' UI")
        self.out.print(f"STEWARD_HOME={self.settings.home} .venv/bin/steward ui    (or: make ui)")
        self.out.print(
            "then open http://127.0.0.1:3000 (asset groups: rail_os, city_os, member, open)"
        )

    def report(self, version: Version) -> None:
        """A bilingual quality report of exactly ``version`` (C5.5-5), under the home."""
        data = build_report(
            self.steward.engine,
            self.catalog.get(version.dataset),
            self.catalog.suite_of(version.dataset),
            version,
            self.steward.clock.now(),
        )
        _, html = write_report(data, self.settings.home / "reports")
        self.out.print(f"quality report for {version.label}: {data['overall']['status']} -> {html}")

    def withdraw_double_counts(self, day: str) -> None:
        """The camera operator withdraws double-counted detections (every tenth row)."""
        landing = self.catalog.declaration(CAMERAS).landing
        assert landing is not None
        path = self.steward.landing / landing.folder / f"{day}.csv"
        frame = read_delivery(path)
        path.write_bytes(frame[frame.index % 10 != 9].to_csv(index=False).encode())


PROVISIONS = (
    Order(OD_MATRIX, "loop_mobility_services", "mobility_service_planning"),
    Order("city_os/anonymized_trips", "urban_mobility_research", "mobility_research"),
    # Publishing open data is a provision to the public (C5.1-4).
    Order("city_os/people_flow_hourly", "open_data_portal", "public_crowding_information"),
)
# Confidential sales to a non-member (C5.3-3); personal app users without consent (C5.2-12).
REFUSED = (
    Order("member/shop_sales_daily", "urban_mobility_research", "mobility_research"),
    Order("member/app_users", "loop_mobility_services", "mobility_service_planning"),
)


def story_settings(settings: Settings, last: date) -> Settings:
    """The story plays on the morning after its last delivery, unless an instant was given
    (``--as-of``): whatever the day it runs, its camera files are then still within their
    7-day retention when the people-flow counts read them (C5.2-11). The demo runs in
    unauthenticated demo mode and says so: its governance actions are allowed (C5.4-1)."""
    settings = replace(settings, allow_unauthenticated=True)
    if not isinstance(settings.clock, SystemClock):
        return settings
    morning = datetime.combine(last + timedelta(days=1), time(9), DISTRICT_TZ)
    return replace(settings, clock=FixedClock(morning))


def read_delivery(path: Path | S3LandingPath) -> pd.DataFrame:
    """A delivery in the landing folder or the S3 landing prefix, every cell as text."""
    return pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str, keep_default_na=False)


def lineage_tree(node: LineageNode, tree: Tree | None = None) -> Tree:
    """A version and, beneath it, the versions it was made from (or made from it)."""
    v = node.version
    part = f" [{v.partition}]" if v.partition else ""
    label = f"{v.dataset}{part} v{v.number} ({v.status}, {v.content_hash[:12]})"
    branch = tree.add(label) if tree else Tree(label)
    for edge in node.edges:
        lineage_tree(edge, branch)
    return branch
