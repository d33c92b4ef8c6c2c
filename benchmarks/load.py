"""Benchmark: loading N declared datasets through city-steward against the same asset graph
written directly with Dagster, for 1,000 and 5,000 datasets.

Run: .venv/bin/python benchmarks/load.py [--datasets 1000 5000] [--repeats 3]

For each N a synthetic project is generated in a temporary folder: ``assets/<zone>/<name>.yaml``
declarations (ingest datasets with a landing folder, derived datasets with 1-3 upstream datasets
and a transform in one small module, ``assets/bench_transforms.py``), ``retention_policies/``,
one quality suite per dataset under ``quality_suites/`` and ``workspace.yaml``. The graph obeys
the load-time rules: City OS holds only statistical or anonymized data, personal and
pseudonymized data has a retention policy, confirmed consent and subject identifiers, every
derivation names the purpose it reads each upstream for, and no path leads from City OS into
Railway OS. The same graph is also written as JSON for the plain-Dagster side.

Each measurement runs in a fresh interpreter (``python -c``), timed inside it with
``time.perf_counter`` from before the first import (so importing Dagster and ``orchestration``
counts, starting the interpreter does not):

* city-steward: the code location's own path (``orchestration.defs.definitions``): the catalog
  (``code_location_catalog``: from the validated-catalog cache, transforms not
  imported, then ``gc.freeze()``), ``code_location_definitions`` (``assemble``, then
  ``gc.freeze()`` again) and ``defs.resolve_asset_graph()``. Each round
  first measures a load without the cache (it validates every file and writes the cache, as
  after any edit), then one reading it; the program fails if pandas, SQLAlchemy or Alembic
  was imported;
* plain Dagster: read the JSON, one ``@asset`` per dataset with the same key, group, upstream
  inputs, partitions, description, owner, kinds, tags, metadata, automation condition and the
  same check specs (each quality dimension, disclosure, detection and governance, with their
  blocking flags, read once, untimed, from city-steward's definitions), then
  ``Definitions(assets=...)`` and ``resolve_asset_graph()``.

Both graphs are fingerprinted (keys, groups, parents, partitioning, check keys and blocking) and
must match. Each side runs ``--repeats`` times and the median is reported. The target is a
city-steward time at most 1.3x the plain-Dagster time; above it, city-steward is profiled with
cProfile at the largest N and the hot spots are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TARGET_RATIO = 1.3
PROJECT_DEFAULTS = (
    Path(__file__).resolve().parent.parent / "retention_policies/district_defaults.yaml"
)
PARTITION_START = "2026-11-01"
DOMAIN_SIZE = 25  # datasets per domain: lineage stays mostly inside one domain
INGEST_PER_DOMAIN = 6
CROSS_DOMAIN_EDGE = 0.15  # share of upstream picks taken from any earlier dataset
TOPICS = (
    "gate_events", "camera_counts", "platform_load", "train_delays", "shop_sales",
    "app_sessions", "bus_ridership", "parking_use", "energy_use", "footfall",
    "event_visits", "bike_share", "weather_obs", "signage_views", "elevator_use",
)  # fmt: skip
METRICS = (
    ("passengers", "integer"), ("entries", "integer"), ("exits", "integer"),
    ("sales_yen", "integer"), ("dwell_seconds", "float"), ("occupancy_rate", "float"),
    ("trips", "integer"), ("visits", "integer"), ("delay_minutes", "float"),
    ("temperature_c", "float"), ("is_holiday", "boolean"), ("line_code", "string"),
)  # fmt: skip
PROVIDERS = (
    ("Takanawa Loop Railway Co.", "member", "TGW-DSA-2026-001"),
    ("Gateway Retail Partners", "member", "TGW-DSA-2026-014"),
    ("Minato Bus Lines", "non-member", "TGW-EXT-2026-003"),
    ("District Energy Services", "member", "TGW-DSA-2026-022"),
    ("Open Data Office", "non-member", "TGW-OPEN-2026-001"),
)
POLICIES: dict[str, dict[str, Any]] = {
    "personal_accounts": {
        "classifications": ["personal"],
        "period": "P1Y",
        "anchor": {"kind": "acquisition"},
        "grace": "P30D",
    },
    "pseudonymized_daily": {
        "classifications": ["pseudonymized"],
        "period": "P90D",
        "anchor": {"kind": "partition_end"},
    },
    "pseudonymized_snapshot": {
        "classifications": ["pseudonymized"],
        "period": "P180D",
        "anchor": {"kind": "acquisition"},
    },
    "personal_events": {
        "classifications": ["personal", "pseudonymized"],
        "period": "P30D",
        "anchor": {"kind": "column", "column": "event_at"},
        "not_later_than": "P60D",
    },
    "statistical_archive": {
        "classifications": ["statistical", "anonymized"],
        "period": "P10Y",
        "anchor": {"kind": "acquisition"},
    },
}
TRANSFORMS_MODULE = '''"""Transforms of the synthetic benchmark project: each returns one input."""

from __future__ import annotations


def first_input(inputs, partition):
    return next(iter(inputs.values()))


def merge_inputs(inputs, partition):
    return next(iter(inputs.values()))


def aggregate(inputs, partition):
    return next(iter(inputs.values()))
'''
TRANSFORMS = ("first_input", "merge_inputs", "aggregate")


# -- the synthetic project ----------------------------------------------------------------------
@dataclass
class Dataset:
    key: str
    zone: str
    classification: str
    ingest: bool
    partitioned: bool
    upstream: list[str] = field(default_factory=list)
    columns: list[tuple[str, str, str]] = field(default_factory=list)  # name, type, role

    @property
    def name(self) -> str:
        return self.key.split("/")[1]

    @property
    def suite(self) -> str:
        return self.key.replace("/", ".")


def make_graph(n: int, seed: int) -> list[Dataset]:
    """Domains of 25 datasets: 6 ingest, 19 derived from earlier ones (mostly the same domain).

    Railway OS datasets are made only from Railway OS datasets, so no path leads from City OS
    into Railway OS (C3.3-3); City OS is only statistical or anonymized (C5.2-5, C3.3-1).
    Classification follows lineage: nothing is derived from confidential data (its provider
    has released nothing, C5.3-2) or from personal data (which would need purposes per
    upstream, C5.2-7, and disclosure blocks, C3.3-1): those are delivered and kept, and the
    derived graph grows from the other ingest datasets.
    """
    rng = random.Random(seed)
    out: list[Dataset] = []
    confidential: set[str] = set()  # confidential, so never an upstream here
    raw_personal: set[str] = set()  # reaches personal data without disclosure control
    for i in range(n):
        domain_start = i - i % DOMAIN_SIZE
        name = f"{TOPICS[(i // DOMAIN_SIZE) % len(TOPICS)]}_{i:05d}"
        partitioned = rng.random() < 0.5
        if i - domain_start < INGEST_PER_DOMAIN:
            zone = rng.choices(("rail_os", "member", "open"), (35, 30, 35))[0]
            classification = {
                "rail_os": lambda: rng.choices(
                    ("pseudonymized", "personal", "statistical", "confidential"), (40, 15, 25, 20)
                )[0],
                "member": lambda: rng.choices(
                    ("personal", "confidential", "statistical"), (30, 30, 40)
                )[0],
                "open": lambda: "open",
            }[zone]()
            dataset = Dataset(f"{zone}/{name}", zone, classification, True, partitioned)
        else:
            dataset = _derived(rng, out[domain_start:], out, name, partitioned, confidential,
                               raw_personal)  # fmt: skip
        if dataset.classification == "confidential":
            confidential.add(dataset.key)
        if dataset.classification in ("personal", "pseudonymized"):
            raw_personal.add(dataset.key)
        out.append(dataset)
    for d in out:
        d.columns = [("station_code", "string", "plain"), ("event_at", "timestamp", "plain")]
        if d.classification in ("personal", "pseudonymized"):
            d.columns += [("subject_id", "string", "subject_identifier")]
            d.columns += [("fare_class", "string", "quasi_identifier")]
        metrics = rng.sample(METRICS, rng.randint(2, 5))
        if not any(t in ("integer", "float") for _, t in metrics):
            metrics.append(METRICS[0])  # the suite checks the range of one numeric measure
        d.columns += [(m, t, "plain") for m, t in metrics]
    return out


def _derived(
    rng: random.Random,
    local: list[Dataset],
    everything: list[Dataset],
    name: str,
    partitioned: bool,
    confidential: set[str],
    raw_personal: set[str],
) -> Dataset:
    """One derived dataset whose classification its upstream datasets allow."""
    zone = rng.choices(("rail_os", "city_os", "member", "open"), (20, 40, 20, 20))[0]

    def usable(pool: list[Dataset]) -> list[Dataset]:
        banned = confidential | raw_personal
        rail_only = zone == "rail_os"
        return [d for d in pool if d.key not in banned and (d.zone == "rail_os" or not rail_only)]

    if not usable(local):
        zone = "city_os"
    pool_local, pool_any = usable(local), usable(everything)
    if not pool_local:  # only confidential or personal data nearby: read from anywhere
        pool_local = pool_any
    upstream: list[str] = []
    for _ in range(rng.choice((1, 1, 2, 2, 3))):
        pool = pool_any if rng.random() < CROSS_DOMAIN_EDGE else pool_local
        pick = rng.choice(pool).key
        if pick not in upstream:
            upstream.append(pick)
    classification = {
        "rail_os": lambda: "statistical",
        "city_os": lambda: rng.choices(("statistical", "anonymized"), (70, 30))[0],
        "member": lambda: rng.choices(("statistical", "confidential"), (60, 40))[0],
        "open": lambda: "open",
    }[zone]()
    return Dataset(f"{zone}/{name}", zone, classification, False, partitioned, upstream)


def declaration(
    d: Dataset, rng: random.Random, purposes_of: dict[str, list[str]]
) -> dict[str, Any]:
    provider_name, membership, contract = rng.choice(PROVIDERS)
    personal = d.classification in ("personal", "pseudonymized")
    basis = {"personal": "consent", "pseudonymized": "notice", "open": "public"}.get(
        d.classification, "contract"
    )
    purposes = rng.sample(
        ["district_planning", "crowding_information", "service_improvement", "statistics"],
        rng.randint(1, 3),
    )
    doc: dict[str, Any] = {
        "key": d.key,
        "description": (
            f"Synthetic {d.classification} dataset {d.name} of the {d.zone} zone, "
            + ("delivered by its provider every day. " if d.ingest else "derived upstream. ")
            + "It records per station and time the measures listed below, for the purposes "
            "declared here, and is kept as long as its retention policy allows (C5.2-11)."
        ),
        "owner": f"team:{d.zone.replace('_', '-')}-data",
        "provider": {
            "name": provider_name,
            "membership": membership,
            "contract_id": contract,
            "acquisition_basis": basis,
            "consent_or_anonymization_confirmed": personal or rng.random() < 0.9,
            "contact": "data-office@example.org",
        },
        "classification": d.classification,
        "purposes": purposes,
        "columns": [
            {"name": name, "type": type_, "role": role, "description": f"The {name} of a row."}
            for name, type_, role in d.columns
        ],
    }
    if personal:
        doc["subject_identifiers"] = [
            {"column": "subject_id", "kind": "app_user_id", "description": "The account."}
        ]
    if d.ingest:
        doc["landing"] = {"folder": d.name}
    else:
        doc["upstream"] = list(d.upstream)
        # each upstream read for one of its own purposes (C5.2-7)
        doc["upstream_purposes"] = {up: purposes_of[up][0] for up in d.upstream}
        doc["transform"] = f"assets.bench_transforms:{rng.choice(TRANSFORMS)}"
    if d.partitioned:
        doc["partitioning"] = {"type": "daily", "start": PARTITION_START}
    doc["quality_suite"] = d.suite
    if d.classification == "personal":
        doc["retention_policy"] = rng.choice(("personal_accounts", "personal_events"))
    elif d.classification == "pseudonymized":
        doc["retention_policy"] = (
            "pseudonymized_daily" if d.partitioned else "pseudonymized_snapshot"
        )
    elif d.classification in ("statistical", "anonymized") and rng.random() < 0.2:
        doc["retention_policy"] = "statistical_archive"
    doc["backup"] = {"target": "primary"}
    if d.classification == "confidential":
        doc["confidential"] = {
            "permitted_purposes": [*purposes, "billing"],
            "disclosure_scope": "members",
        }
    if d.classification == "open" and rng.random() < 0.3:
        doc["copyright"] = {
            "protected": True,
            "holder": provider_name,
            "license": "CC BY 4.0",
            "permitted_uses": ["display", "analysis"],
        }
    return doc


def expectation(type_: str, kwargs: dict[str, Any], dim: str, text: str) -> dict[str, Any]:
    return {
        "type": type_,
        "kwargs": kwargs,
        "severity": "critical",
        "meta": {"dimension": dim, "description": text, "description_ja": f"{text}（日本語）"},
    }


def suite(d: Dataset) -> dict[str, Any]:
    metric = next(name for name, type_, _ in d.columns[2:] if type_ in ("integer", "float"))
    consistency = (
        expectation(
            "expect_column_values_to_exist_in_dataset",
            {
                "columns": ["station_code"],
                "dataset": d.upstream[0],
                "dataset_columns": ["station_code"],
            },
            "consistency",
            f"Every station also appears in {d.upstream[0]}.",
        )
        if d.upstream
        else expectation(
            "expect_compound_columns_to_be_unique",
            {"column_list": ["station_code", "event_at"]},
            "consistency",
            "Each station and time has one row.",
        )
    )
    return {
        "name": d.suite,
        "dataset": d.key,
        "meta": {"max_waiver": "P14D"},
        "expectations": [
            expectation(
                "expect_column_values_to_match_regex",
                {"column": "station_code", "regex": r"^JY\d{2}$"},
                "accuracy",
                "Every station code is a Yamanote Line station number such as JY26.",
            ),
            expectation(
                "expect_column_values_to_be_between",
                {"column": metric, "min_value": 0},
                "accuracy",
                f"Every {metric} is zero or more.",
            ),
            expectation(
                "expect_column_values_to_not_be_null",
                {"column": "station_code"},
                "completeness",
                "Every row names its station.",
            ),
            expectation(
                "expect_table_row_count_to_be_between",
                {"min_value": 1, "max_value": 1_000_000},
                "completeness",
                "A delivery holds at least one row.",
            ),
            consistency,
        ],
    }


def write_project(root: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """Write the project under ``root``; return the graph as the plain-Dagster side reads it."""
    rng = random.Random(seed + 1)
    graph = make_graph(n, seed)
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "__init__.py").write_text('"""Synthetic benchmark project."""\n')
    (root / "assets" / "bench_transforms.py").write_text(TRANSFORMS_MODULE)
    (root / "retention_policies").mkdir()
    (root / "quality_suites").mkdir()
    (root / "workspace.yaml").write_text(
        "load_from:\n  - python_module:\n      module_name: orchestration.defs.definitions\n"
        "      attribute: defs\n      location_name: bench\n      working_directory: .\n"
    )
    # The real district's defaults (orphan grace, disclosure thresholds), copied as they are.
    shutil.copy(PROJECT_DEFAULTS, root / "retention_policies" / PROJECT_DEFAULTS.name)
    for name, body in POLICIES.items():
        policy = {"name": name, "description": f"Synthetic policy {name}.", **body}
        (root / "retention_policies" / f"{name}.yaml").write_text(dump(policy))
    specs = []
    purposes_of: dict[str, list[str]] = {}
    for d in graph:
        doc = declaration(d, rng, purposes_of)
        purposes_of[d.key] = doc["purposes"]
        raw = dump(doc)
        path = root / "assets" / d.zone / f"{d.name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(raw, encoding="utf-8")
        (root / "quality_suites" / f"{d.suite}.yaml").write_text(dump(suite(d)), encoding="utf-8")
        specs.append(plain_spec(doc, hashlib.sha256(raw.encode()).hexdigest()))
    return specs


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def plain_spec(doc: dict[str, Any], revision: str) -> dict[str, Any]:
    """What a hand-written Dagster project needs of one dataset, as plain JSON."""
    zone = doc["key"].split("/")[0]
    p = doc["provider"]
    metadata: dict[str, Any] = {
        "zone": zone,
        "classification": doc["classification"],
        "purposes": doc["purposes"],
        "provider": {k: v for k, v in p.items() if k != "contact"},
        "retention_policy": doc.get("retention_policy") or "none (not personal data)",
        "backup_target": doc["backup"]["target"],
        "quality_suite": doc["quality_suite"],
        "declared_columns": [[c["name"], c["type"], f"role: {c['role']}"] for c in doc["columns"]],
        "declaration_revision": revision,
    }
    if "copyright" in doc:
        metadata["copyright"] = doc["copyright"]
    if "confidential" in doc:
        metadata["confidential_terms"] = doc["confidential"]
    return {
        "key": doc["key"].split("/"),
        "group": zone,
        "description": doc["description"],
        "owner": doc["owner"],
        "ingest": "landing" in doc,
        "upstream": [k.split("/") for k in doc.get("upstream", [])],
        "partitioned": "partitioning" in doc,
        "tags": {"classification": doc["classification"]},
        "metadata": metadata,
    }


# -- the measured programs, each run in a fresh interpreter -------------------------------------
FINGERPRINT = """
def _fingerprint(graph):
    import hashlib, json
    rows = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        rows.append([
            key.to_user_string(), node.group_name, node.is_partitioned,
            sorted(k.to_user_string() for k in node.parent_entity_keys),
            sorted([c.name, graph.get_check_spec(c).blocking] for c in node.check_keys),
        ])
    return len(rows), hashlib.sha256(json.dumps(rows).encode()).hexdigest()
"""

# Both measured programs start their clocks and the garbage-collector timer the same way.
TIMERS = """
import time, gc
_t0, _c0 = time.perf_counter(), time.process_time()
_gc = [0.0, 0.0]  # seconds in the cyclic garbage collector, start of the current collection


def _gc_timer(phase, info):
    if phase == "start":
        _gc[1] = time.perf_counter()
    else:
        _gc[0] += time.perf_counter() - _gc[1]


gc.callbacks.append(_gc_timer)
"""

STEWARD_PROGRAM = (
    TIMERS
    + """
import dagster
from orchestration.defs.definitions import code_location_catalog, code_location_definitions
from orchestration.settings import Settings
_t1 = time.perf_counter()
catalog = code_location_catalog(Settings.from_env())
_t2 = time.perf_counter()
defs = code_location_definitions(catalog)
_t3 = time.perf_counter()
graph = defs.resolve_asset_graph()
_t4, _c4 = time.perf_counter(), time.process_time()
import json, os, sys
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"pandas", "sqlalchemy", "alembic"})
assert not heavy, f"the code location imported {heavy}"
FINGERPRINT
n, fp = _fingerprint(graph)
print(json.dumps({"total": _t4 - _t0, "cpu": _c4 - _c0, "gc": _gc[0],
                  "import": _t1 - _t0, "catalog": _t2 - _t1,
                  "definitions": _t3 - _t2, "resolve": _t4 - _t3, "assets": n, "fp": fp}))
""".replace("FINGERPRINT", FINGERPRINT)
)

PLAIN_PROGRAM = (
    TIMERS
    + """
import json, sys
from dagster import (AssetCheckSpec, AssetIn, AssetKey, AutomationCondition,
                     DailyPartitionsDefinition, Definitions, IOManager, IOManagerDefinition,
                     MetadataValue, TableColumn, TableSchema, asset)
_t1 = time.perf_counter()
with open(sys.argv[1], encoding="utf-8") as f:
    specs = json.load(f)
daily = DailyPartitionsDefinition(start_date="PARTITION_START", timezone="Asia/Tokyo")
follow_upstream = (
    AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()
)

def metadata(m):
    out = dict(m)
    out["declared_columns"] = MetadataValue.table_schema(TableSchema(
        columns=[TableColumn(n, t, description=d) for n, t, d in m["declared_columns"]]))
    for k in ("purposes", "provider", "copyright", "confidential_terms"):
        if k in m:
            out[k] = MetadataValue.json(m[k])
    return out

def make(spec):
    key = AssetKey(spec["key"])
    @asset(
        key=key,
        group_name=spec["group"],
        description=spec["description"],
        owners=[spec["owner"]],
        kinds={"parquet", "csv" if spec["ingest"] else "python"},
        metadata=metadata(spec["metadata"]),
        tags=spec["tags"],
        ins={"__".join(up): AssetIn(key=AssetKey(up)) for up in spec["upstream"]},
        partitions_def=daily if spec["partitioned"] else None,
        check_specs=[AssetCheckSpec(name, asset=key, blocking=blocking, description=doc)
                     for name, blocking, doc in spec["checks"]],
        automation_condition=None if spec["ingest"] else follow_upstream,
        io_manager_key="store",
    )
    def _materialize(context, **inputs):
        return None
    return _materialize

class Store(IOManager):
    def handle_output(self, context, obj):
        pass

    def load_input(self, context):
        return None

defs = Definitions(
    assets=[make(spec) for spec in specs],
    resources={"store": IOManagerDefinition.hardcoded_io_manager(Store())},
)
_t3 = time.perf_counter()
graph = defs.resolve_asset_graph()
_t4, _c4 = time.perf_counter(), time.process_time()
FINGERPRINT
n, fp = _fingerprint(graph)
print(json.dumps({"total": _t4 - _t0, "cpu": _c4 - _c0, "gc": _gc[0],
                  "import": _t1 - _t0, "catalog": 0.0,
                  "definitions": _t3 - _t1, "resolve": _t4 - _t3, "assets": n, "fp": fp}))
""".replace("FINGERPRINT", FINGERPRINT).replace("PARTITION_START", PARTITION_START)
)

# Untimed: the checks city-steward's definitions give each dataset (quality dimensions,
# disclosure, detection, governance), handed to the plain side so both build the same graph.
CHECKS_PROGRAM = """
import json
from orchestration.defs.definitions import defs
graph = defs().resolve_asset_graph()
print(json.dumps({
    key.to_user_string(): [
        [c.name, graph.get_check_spec(c).blocking, graph.get_check_spec(c).description or ""]
        for c in sorted(graph.get(key).check_keys, key=lambda c: c.name)
    ]
    for key in graph.get_all_asset_keys()
}))
"""

PROFILE_PROGRAM = """
import cProfile, sys
profiler = cProfile.Profile()
profiler.enable()
import dagster
from orchestration.defs.definitions import defs
graph = defs().resolve_asset_graph()
profiler.disable()
profiler.dump_stats(sys.argv[1])
"""


def run(program: str, project: Path, home: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_PROJECT_DIR=str(project), STEWARD_HOME=str(home))
    env.update(STEWARD_CACHE_DIR=str(home.parent / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"measurement failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}


def walls(runs: list[dict[str, Any]]) -> str:
    return " ".join(f"{r['total']:.2f}" for r in runs)


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The median of each timing over the runs."""
    phases = ("total", "cpu", "gc", "import", "catalog", "definitions", "resolve")
    return {phase: statistics.median(r[phase] for r in runs) for phase in phases}


# -- profiling ------------------------------------------------------------------------------------
HOT_SPOTS = (
    ("importlib._bootstrap>", "_find_and_load"),
    ("orchestration/declarations/loader.py", "load_catalog"),
    ("orchestration/declarations/loader.py", "_yaml_files"),
    ("orchestration/declarations/loader.py", "_parse"),
    ("yaml/__init__.py", "load"),
    ("orchestration/declarations/loader.py", "construct_mapping"),
    ("pydantic/main.py", "model_validate"),
    ("orchestration/declarations/rules.py", "check_rules"),
    ("orchestration/declarations/rules.py", "looks_special_care"),
    ("orchestration/declarations/rules.py", "_cycles"),
    ("orchestration/declarations/rules.py", "_city_os_reaching_personal_rail_os"),
    ("orchestration/declarations/rules.py", "_city_os_reaching_rail_os_indirectly"),
    ("orchestration/declarations/rules.py", "_ancestors"),
    ("orchestration/declarations/suites.py", "suite_problems"),
    ("orchestration/declarations/loader.py", "_resolve_transform"),
    ("orchestration/defs/build.py", "build_definitions"),
    ("orchestration/defs/build.py", "assemble"),
    ("orchestration/defs/assets.py", "build_assets"),
    ("orchestration/defs/assets.py", "build_asset"),
    ("orchestration/defs/metadata.py", "declaration_metadata"),
    ("dagster/_core/definitions/decorators/asset_decorator.py", "inner"),
    ("dagster/_core/definitions/definitions_class.py", "__init__"),
    ("dagster/_core/definitions/definitions_class.py", "resolve_asset_graph"),
)


def profile(project: Path, home: Path, out: Path, top: int) -> None:
    import_costs(project, home)
    run(PROFILE_PROGRAM, project, home, str(out))
    stats = pstats.Stats(str(out))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\ncProfile of city-steward (profiled wall {total:.2f} s; cProfile inflates pure")
    print("Python code, such as the YAML parser, more than C code):")
    print(f"{'cumulative s':>13} {'tottime s':>10} {'calls':>9}  function")
    found = {}
    for suffix, name in HOT_SPOTS:
        for func_key, (_, calls, tottime, cum, _) in raw.items():
            path, _, func = func_key
            if func == name and path.replace(os.sep, "/").endswith(suffix):
                found[name] = func_key
                print(f"{cum:>13.2f} {tottime:>10.2f} {calls:>9}  {label(func_key)}")
    for name in ("load_catalog", "_parse", "build_definitions", "build_asset"):
        if name in found:
            print(f"\n  where {label(found[name])} spends its time (callees, cumulative s):")
            for callee, cum, calls in callees(raw, found[name])[:8]:
                print(f"{cum:>13.2f} {'':>10} {calls:>9}  {label(callee)}")
    print(f"\ntop {top} by own time (tottime):")
    rows = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for func_key, (_, calls, tottime, cum, _) in rows:
        print(f"{cum:>13.2f} {tottime:>10.2f} {calls:>9}  {label(func_key)}")


IMPORTS_PROGRAM = """
import dagster
from orchestration.defs.definitions import defs
"""


def import_costs(project: Path, home: Path, top: int = 10) -> None:
    """``-X importtime``: what city-steward imports on top of Dagster, by cumulative time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORTS_PROGRAM],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    total, rows, after_dagster, dagster_s = 0.0, [], False, 0.0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, raw_name = line.removeprefix("import time:").split("|")
        name = raw_name[1:].rstrip()  # nested imports are indented two spaces per level
        seconds = int(cumulative) / 1e6
        if after_dagster and not name.startswith(" "):
            total += seconds
        if after_dagster and "." not in name and name.strip() != "orchestration":
            rows.append((seconds, name.strip()))  # a package imported for the first time
        if name == "dagster":
            dagster_s, after_dagster = seconds, True
    print(f"\nimports (-X importtime, one run): dagster {dagster_s:.2f} s, then orchestration")
    print(f"{total:.2f} s, in which these packages are imported first (cumulative, nested):")
    for seconds, name in sorted(rows, reverse=True)[:top]:
        print(f"{seconds:>13.2f} {'':>10} {'':>9}  {name}")


def callees(raw: dict[Any, Any], caller: Any) -> list[tuple[Any, float, int]]:
    """The functions ``caller`` calls directly, with the cumulative time of those calls."""
    out = [
        (func_key, callers[caller][3], callers[caller][1])
        for func_key, (_, _, _, _, callers) in raw.items()
        if caller in callers
    ]
    return sorted(out, key=lambda row: row[1], reverse=True)


def label(func_key: Any) -> str:
    path, line, func = func_key
    where = "/".join(Path(path).parts[-2:]) if path != "~" else "<built-in>"
    return f"{where}:{line} {func}"


# -- main -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile city-steward at the largest N: auto = only above the target ratio",
    )
    parser.add_argument("--top", type=int, default=25, help="rows of the own-time profile")
    args = parser.parse_args()

    import dagster  # only for its version; the measured imports happen in the subprocesses

    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, dagster {dagster.__version__}"
    )
    print(f"median of {args.repeats} fresh interpreters each; target ratio <= {TARGET_RATIO}")
    results = []
    with tempfile.TemporaryDirectory(prefix="steward-load-") as tmp:
        for n in args.datasets:
            base = Path(tmp) / f"n{n}"
            project, home = base / "project", base / "home"
            specs = write_project(project, n, args.seed)
            home.mkdir(parents=True)
            checks = run(CHECKS_PROGRAM, project, home)
            for spec in specs:
                spec["checks"] = checks["/".join(spec["key"])]
            graph_json = base / "graph.json"
            graph_json.write_text(json.dumps(specs), encoding="utf-8")
            steward_runs, first_runs, plain_runs = [], [], []
            for _ in range(args.repeats):  # interleaved, so drift hits both sides alike
                shutil.rmtree(base / "cache", ignore_errors=True)
                first_runs.append(run(STEWARD_PROGRAM, project, home))  # validates, caches
                steward_runs.append(run(STEWARD_PROGRAM, project, home))  # reads the cache
                plain_runs.append(run(PLAIN_PROGRAM, project, home, str(graph_json)))
            for r in steward_runs + first_runs + plain_runs:
                if (r["assets"], r["fp"]) != (n, plain_runs[0]["fp"]):
                    raise SystemExit(f"the two asset graphs differ for {n} datasets: {r}")
            s, p, f = medians(steward_runs), medians(plain_runs), medians(first_runs)
            size = sum(f.stat().st_size for f in project.rglob("*.yaml"))
            results.append((n, s, p, base, f))
            print(
                f"  {n} datasets ({size / 1e6:.1f} MB of YAML), same graph on both sides; "
                f"wall s per run: city-steward {walls(steward_runs)}, first load (no cache) "
                f"{walls(first_runs)}, plain {walls(plain_runs)}"
            )
        print()
        print(
            f"{'datasets':>8} {'city-steward s':>15} {'plain Dagster s':>16} {'ratio':>6}"
            f" {'CPU ratio':>10} {'first load s':>13} {'first-load ratio':>17}"
        )
        for n, s, p, _, f in results:
            print(
                f"{n:>8} {s['total']:>15.2f} {p['total']:>16.2f} {s['total'] / p['total']:>6.2f}"
                f" {s['cpu'] / p['cpu']:>10.2f} {f['total']:>13.2f}"
                f" {f['total'] / p['total']:>17.2f}"
            )
        print("(city-steward reads its validated-catalog cache; a first load validates and")
        print(" writes it, as after any edit of a declaration, suite, policy or recipient)")
        print("\nmedian seconds per phase")
        print(
            f"{'datasets':>8} {'side':>13} {'imports':>8} {'catalog':>8} {'definitions':>12}"
            f" {'resolve':>8}   {'GC in total':>11}"
        )
        for n, s, p, _, f in results:
            for side, r in (("city-steward", s), ("first load", f), ("plain Dagster", p)):
                print(
                    f"{n:>8} {side:>13} {r['import']:>8.2f} {r['catalog']:>8.2f}"
                    f" {r['definitions']:>12.2f} {r['resolve']:>8.2f}   {r['gc']:>11.2f}"
                )
        worst = max(s["total"] / p["total"] for _, s, p, _, _ in results)
        print(f"worst ratio {worst:.2f}: {'within' if worst <= TARGET_RATIO else 'ABOVE'} target")
        if args.profile == "always" or (args.profile == "auto" and worst > TARGET_RATIO):
            n, _, _, base, _ = results[-1]
            print(f"\nprofiling city-steward at {n} datasets")
            profile(base / "project", base / "home", base / "steward.prof", args.top)


if __name__ == "__main__":
    main()
