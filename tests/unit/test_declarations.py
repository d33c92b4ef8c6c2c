"""Declarations: every load-time rule, all-or-nothing loading, the real catalog, JSON Schemas.

Each rule test copies the real project into ``tmp_path``, breaks one thing and checks that
:func:`load_catalog` refuses it with a problem naming the file, the field and (where the rule
comes from the guideline) the clause ID.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from support import edit_yaml, read_yaml, write_yaml

from orchestration.declarations.catalog import Catalog
from orchestration.declarations.loader import load_catalog
from orchestration.declarations.models import Classification, Zone
from orchestration.declarations.schema import SCHEMAS, render_schemas, write_schemas
from orchestration.errors import BadInput, DeclarationErrors, NotFound

PROJECT = Path(__file__).resolve().parents[2]

CAMERAS = "assets/rail_os/station_camera_detections.yaml"
GATES = "assets/rail_os/ic_gate_events.yaml"
PEOPLE_FLOW = "assets/city_os/people_flow_hourly.yaml"
OD_MATRIX = "assets/city_os/od_matrix_daily.yaml"
APP_USERS = "assets/member/app_users.yaml"
SHOP_SALES = "assets/member/shop_sales_daily.yaml"
PHOTOS = "assets/open/cultural_property_photos.yaml"
STATION_MASTER = "assets/open/station_master.yaml"
BUS = "assets/open/bus_ridership.yaml"
CAMERA_POLICY = "retention_policies/camera_detections_raw.yaml"
APP_POLICY = "retention_policies/app_accounts_closed.yaml"

REAL_KEYS = {
    "city_os/anonymized_trips",
    "city_os/od_matrix_daily",
    "city_os/people_flow_hourly",
    "member/app_users",
    "member/shop_sales_daily",
    "open/bus_ridership",
    "open/cultural_property_photos",
    "open/station_master",
    "rail_os/ic_gate_events",
    "rail_os/station_camera_detections",
}


# -- helpers ------------------------------------------------------------------------------------
def problems_of(root: Path, backup_targets: set[str] | None = None) -> list[str]:
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(root, backup_targets)
    problems = info.value.problems
    assert problems, "DeclarationErrors without problems"
    # The exception message carries every problem too (that is what the CLI prints).
    for p in problems:
        assert p in str(info.value)
    return problems


def assert_problem(problems: list[str], file: str, field: str | None, *fragments: str) -> str:
    """The one problem about ``file`` and ``field`` containing every fragment."""
    hits = [
        p
        for p in problems
        if p.startswith(f"{file}:")
        and (field is None or f"field {field}:" in p)
        and all(f in p for f in fragments)
    ]
    assert hits, f"no problem for {file} field {field} with {fragments}; got:\n" + "\n".join(
        problems
    )
    return hits[0]


def suite_file(dataset_file: str) -> str:
    """``assets/<zone>/<name>.yaml`` -> its quality suite ``quality_suites/<zone>.<name>.yaml``."""
    zone, name = Path(dataset_file).with_suffix("").parts[-2:]
    return f"quality_suites/{zone}.{name}.yaml"


def assert_only_in(problems: list[str], *files: str) -> None:
    """Every problem is about one of ``files``: a broken file does not implicate others.

    A dataset file that does not parse leaves its own quality suite without a dataset, so the
    suite file of each dataset file named is allowed too.
    """
    allowed = {*files, *(suite_file(f) for f in files if f.startswith("assets/"))}
    stray = [p for p in problems if not p.startswith(tuple(f"{f}:" for f in allowed))]
    assert not stray, stray


def add_derived(
    root: Path, base_file: str, key: str, upstream: list[str], transform: str, **fields: Any
) -> str:
    """Write a new derived declaration built from an existing one, with its own copy of the
    base's quality suite (one suite per dataset); returns the new file."""
    data = copy.deepcopy(read_yaml(root, base_file))
    suite = copy.deepcopy(read_yaml(root, suite_file(base_file)))
    data.update(key=key, upstream=upstream, transform=transform, **fields)
    if "upstream_purposes" not in fields:  # each upstream read for its first purpose (C5.2-7)
        data["upstream_purposes"] = {
            up: read_yaml(root, f"assets/{up}.yaml")["purposes"][0]
            for up in upstream
            if (root / f"assets/{up}.yaml").is_file()
        }
    data.pop("landing", None)
    if "retention_policy" not in fields:
        data.pop("retention_policy", None)
    rel = f"assets/{key}.yaml"
    suite.update(name=key.replace("/", "."), dataset=key)
    suite["expectations"] = [  # reference checks may only read this dataset's upstream
        e
        for e in suite["expectations"]
        if e["type"] != "expect_column_values_to_exist_in_dataset"
        or e["kwargs"]["dataset"] in upstream
    ]
    data["quality_suite"] = suite["name"]
    write_yaml(root, rel, data)
    write_yaml(root, suite_file(rel), suite)
    return rel


# -- the real project ---------------------------------------------------------------------------
def test_real_project_loads_with_ten_datasets(catalog: Catalog) -> None:
    assert set(catalog.datasets) == REAL_KEYS
    assert set(catalog.policies) == {
        "app_accounts_closed",
        "camera_detections_raw",
        "gate_events_pseudonymized",
    }


def test_real_project_has_one_quality_suite_per_dataset_c5_5_1(catalog: Catalog) -> None:
    """C5.5-1: every dataset has a quality suite of its own."""
    assert len(catalog.suites) == len(catalog.datasets)
    for key in catalog.datasets:
        declared = catalog.suite_of(key)
        assert declared.suite.dataset == key
        assert declared.path == PROJECT / "quality_suites" / f"{declared.suite.name}.yaml"


def test_real_project_covers_every_zone_and_classification(catalog: Catalog) -> None:
    decls = [d.declaration for d in catalog.datasets.values()]
    assert {d.zone for d in decls} == set(Zone)
    assert {d.classification for d in decls} == set(Classification)
    by_key = {d.key: d for d in decls}
    assert by_key["rail_os/station_camera_detections"].classification is Classification.PERSONAL
    assert by_key["member/app_users"].classification is Classification.PERSONAL
    assert by_key["rail_os/ic_gate_events"].classification is Classification.PSEUDONYMIZED
    assert by_key["city_os/anonymized_trips"].classification is Classification.ANONYMIZED
    assert by_key["city_os/od_matrix_daily"].classification is Classification.STATISTICAL
    assert by_key["member/shop_sales_daily"].classification is Classification.CONFIDENTIAL
    assert by_key["open/station_master"].classification is Classification.OPEN


def test_real_project_obeys_the_guideline_invariants(catalog: Catalog) -> None:
    """C5.2-5 / C3.3-1: City OS holds only statistical or anonymized data; C5.2-11: every
    personal dataset has a retention policy that serves it; C5.1-1: its provider confirmed."""
    for ds in catalog.datasets.values():
        d = ds.declaration
        if d.zone is Zone.CITY_OS:
            assert d.classification in {Classification.STATISTICAL, Classification.ANONYMIZED}
        if d.classification.holds_personal_data:
            assert d.retention_policy is not None, d.key
            assert d.classification in catalog.policies[d.retention_policy].classifications
            assert d.provider.consent_or_anonymization_confirmed, d.key


def test_real_catalog_records_file_revision_and_transform(catalog: Catalog) -> None:
    """C4.2-1: each dataset knows the file it came from and the revision (sha256) read."""
    for key, ds in catalog.datasets.items():
        assert ds.path == PROJECT / "assets" / f"{key}.yaml"
        assert ds.revision == hashlib.sha256(ds.path.read_bytes()).hexdigest()
        if ds.declaration.is_ingest:
            assert ds.transform is None
        else:
            assert callable(ds.transform)
            assert ds.transform.__name__ == ds.declaration.transform.split(":")[1]


def test_real_project_loads_without_backup_targets_check() -> None:
    assert set(load_catalog(PROJECT).datasets) == REAL_KEYS


def test_upstream_closure_nearest_first(catalog: Catalog) -> None:
    assert catalog.upstream_closure("city_os/od_matrix_daily") == [
        "rail_os/ic_gate_events",
        "open/station_master",
    ]
    assert catalog.upstream_closure("city_os/people_flow_hourly") == [
        "rail_os/station_camera_detections"
    ]
    assert catalog.upstream_closure("rail_os/ic_gate_events") == []


def test_downstream_closure(catalog: Catalog) -> None:
    assert catalog.downstream_of("rail_os/ic_gate_events") == [
        "city_os/anonymized_trips",
        "city_os/od_matrix_daily",
    ]
    assert catalog.downstream_closure("rail_os/ic_gate_events") == [
        "city_os/anonymized_trips",
        "city_os/od_matrix_daily",
    ]
    assert catalog.downstream_closure("open/station_master") == ["city_os/od_matrix_daily"]
    assert catalog.downstream_closure("rail_os/station_camera_detections") == [
        "city_os/people_flow_hourly"
    ]
    assert catalog.downstream_closure("city_os/od_matrix_daily") == []


def test_in_dependency_order_puts_upstream_first(catalog: Catalog) -> None:
    order = catalog.in_dependency_order()
    assert sorted(order) == sorted(REAL_KEYS)
    assert len(order) == len(set(order))
    for key in order:
        for up in catalog.declaration(key).upstream:
            assert order.index(up) < order.index(key), (up, key)


def test_unknown_dataset_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match=r"unknown dataset 'city_os/nope'") as info:
        catalog.get("city_os/nope")
    assert isinstance(info.value, BadInput)
    assert "city_os/people_flow_hourly" in str(info.value)  # lists what is declared


def test_copied_project_loads_cleanly(project: Path) -> None:
    """The baseline every rule test below breaks one thing of."""
    assert set(load_catalog(project, {"primary"}).datasets) == REAL_KEYS


# -- file-level problems ------------------------------------------------------------------------
def test_malformed_yaml_names_file_and_line(project: Path) -> None:
    (project / BUS).write_text(
        "key: open/bus_ridership\ndescription: buses\nowner: team:open-data\n  purposes: [a\n",
        encoding="utf-8",
    )
    problems = problems_of(project)
    p = assert_problem(problems, BUS, None, "malformed YAML")
    assert f"{BUS}: line 4 " in p
    assert_only_in(problems, BUS)


def test_malformed_yaml_unclosed_flow_sequence(project: Path) -> None:
    text = (project / PEOPLE_FLOW).read_text(encoding="utf-8")
    (project / PEOPLE_FLOW).write_text(
        text.replace("purposes:\n", "purposes: [people_flow_statistics\n", 1), encoding="utf-8"
    )
    problems = problems_of(project)
    p = assert_problem(problems, PEOPLE_FLOW, None, "malformed YAML")
    assert " line " in p
    assert_only_in(problems, PEOPLE_FLOW)


@pytest.mark.parametrize(
    ("document", "kind"),
    [("- a\n- list\n", "list"), ("", "NoneType")],
)
def test_document_that_is_not_a_mapping(project: Path, document: str, kind: str) -> None:
    (project / PHOTOS).write_text(document, encoding="utf-8")
    problems = problems_of(project)
    assert_problem(problems, PHOTOS, None, "expected a mapping", kind)
    assert_only_in(problems, PHOTOS)


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("classification", 5, "classification"),
        ("columns", "station_code", "columns"),
        ("description", 42, "description"),
        ("partitioning", {"type": "hourly", "start": "2026-11-01"}, "partitioning.type"),
    ],
)
def test_wrong_type_names_the_field(project: Path, field: str, value: Any, where: str) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__(field, value))
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, where)
    assert_only_in(problems, PEOPLE_FLOW)


def test_wrong_type_in_nested_field(project: Path) -> None:
    edit_yaml(
        project,
        CAMERAS,
        lambda d: d["provider"].__setitem__("consent_or_anonymization_confirmed", "perhaps"),
    )
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "provider.consent_or_anonymization_confirmed", "boolean")


def test_wrong_type_in_list_item(project: Path) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d["columns"][1].__setitem__("type", "decimal"))
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "columns.1.type")


def test_empty_purposes_refused_c5_2_1(project: Path) -> None:
    """C5.2-1: a dataset declares its purposes of use."""
    edit_yaml(project, APP_USERS, lambda d: d.__setitem__("purposes", []))
    assert_problem(problems_of(project), APP_USERS, "purposes")


def test_unknown_top_level_field_is_refused(project: Path) -> None:
    """extra=forbid: a misspelt field is an error, never silently ignored."""
    edit_yaml(project, BUS, lambda d: d.__setitem__("retention", "P7D"))
    problems = problems_of(project)
    assert_problem(problems, BUS, "retention", "Extra inputs are not permitted")
    assert_only_in(problems, BUS)


def test_misspelt_field_is_refused_and_the_dataset_not_loaded(project: Path) -> None:
    edit_yaml(
        project, CAMERAS, lambda d: d.__setitem__("retention_polcy", d.pop("retention_policy"))
    )
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "retention_polcy", "Extra inputs are not permitted")
    # The refused file is not half-loaded: its downstream dataset sees no such upstream.
    assert_problem(problems, PEOPLE_FLOW, "upstream.0", "rail_os/station_camera_detections")
    assert_only_in(problems, CAMERAS, PEOPLE_FLOW)


@pytest.mark.parametrize(
    ("file", "extra", "key"),
    [
        (BUS, "purposes: [advertising]\n", "purposes"),
        (CAMERAS, "classification: open\n", "classification"),
    ],
)
def test_duplicate_yaml_key_is_refused(project: Path, file: str, extra: str, key: str) -> None:
    """A reviewer reads the first ``purposes:``; a later duplicate key must not win silently
    (C5.2-1: the declared purposes are what was reviewed and published)."""
    text = (project / file).read_text(encoding="utf-8")
    (project / file).write_text(text + extra, encoding="utf-8")
    problems = problems_of(project)
    p = assert_problem(problems, file, None, "duplicate", key)
    assert f"{file}: line {len(text.splitlines()) + 1} " in p


def test_duplicate_nested_yaml_key_is_refused(project: Path) -> None:
    text = (project / SHOP_SALES).read_text(encoding="utf-8")
    text = text.replace(
        "  disclosure_scope: members\n",
        "  disclosure_scope: members\n  disclosure_scope: named_recipients\n",
    )
    (project / SHOP_SALES).write_text(text, encoding="utf-8")
    assert_problem(problems_of(project), SHOP_SALES, None, "duplicate", "disclosure_scope")


def test_unknown_nested_field_is_refused(project: Path) -> None:
    edit_yaml(project, SHOP_SALES, lambda d: d["provider"].__setitem__("contract", "x"))
    assert_problem(problems_of(project), SHOP_SALES, "provider.contract", "Extra inputs")


def test_unknown_field_in_policy_is_refused(project: Path) -> None:
    edit_yaml(project, CAMERA_POLICY, lambda d: d.__setitem__("keep_forever", True))
    assert_problem(problems_of(project), CAMERA_POLICY, "keep_forever", "Extra inputs")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("owner",), "owner"),
        (("classification",), "classification"),
        (("columns",), "columns"),
        (("provider", "contract_id"), "provider.contract_id"),
        (
            ("provider", "consent_or_anonymization_confirmed"),
            "provider.consent_or_anonymization_confirmed",
        ),
    ],
)
def test_missing_required_field(project: Path, path: tuple[str, ...], field: str) -> None:
    """C5.1-1, C5.7-1: a dataset without its owner, classification, columns, provider contract
    or consent confirmation does not load."""

    def drop(d: dict[str, Any]) -> None:
        for part in path[:-1]:
            d = d[part]
        del d[path[-1]]

    edit_yaml(project, OD_MATRIX, drop)
    problems = problems_of(project)
    assert_problem(problems, OD_MATRIX, field, "Field required")
    assert_only_in(problems, OD_MATRIX)


def test_key_must_match_file_name(project: Path) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__("key", "city_os/people_flow_daily"))
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "key", "city_os/people_flow_daily", "assets/city_os/")
    assert_only_in(problems, PEOPLE_FLOW)


def test_file_in_wrong_zone_folder(project: Path) -> None:
    (project / "assets/city_os/station_master.yaml").write_bytes(
        (project / STATION_MASTER).read_bytes()
    )
    (project / STATION_MASTER).unlink()
    problems = problems_of(project)
    assert_problem(
        problems, "assets/city_os/station_master.yaml", "key", "assets/open/station_master.yaml"
    )
    # station_master was not loaded, so the OD matrix now names an unknown upstream.
    assert_problem(problems, OD_MATRIX, "upstream.1", "open/station_master")


def test_unknown_zone_in_key(project: Path) -> None:
    data = read_yaml(project, BUS)
    data["key"] = "harbor/bus_ridership"
    write_yaml(project, "assets/harbor/bus_ridership.yaml", data)
    assert_problem(problems_of(project), "assets/harbor/bus_ridership.yaml", "key", "harbor")


def test_missing_assets_folder(project: Path) -> None:
    shutil.rmtree(project / "assets")
    problems = problems_of(project)
    assert any("assets" in p and "missing" in p for p in problems), problems


# -- references ---------------------------------------------------------------------------------
def test_unknown_upstream_reference(project: Path) -> None:
    edit_yaml(
        project, PEOPLE_FLOW, lambda d: d.__setitem__("upstream", ["rail_os/station_cameras"])
    )
    problems = problems_of(project)
    assert_problem(
        problems, PEOPLE_FLOW, "upstream.0", "unknown dataset", "rail_os/station_cameras"
    )
    assert_only_in(problems, PEOPLE_FLOW)


def test_unknown_retention_policy(project: Path) -> None:
    edit_yaml(project, CAMERAS, lambda d: d.__setitem__("retention_policy", "camera_raw_v2"))
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "retention_policy", "unknown policy", "camera_raw_v2")
    assert_only_in(problems, CAMERAS)


def test_unknown_quality_suite(project: Path) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__("quality_suite", "people_flow_checks"))
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "quality_suite", "quality_suites/people_flow_checks.yaml")
    # Its old suite file is now nobody's.
    assert_problem(problems, suite_file(PEOPLE_FLOW), "dataset", "city_os/people_flow_hourly")
    assert_only_in(problems, PEOPLE_FLOW)


def test_missing_quality_suite_file(project: Path) -> None:
    (project / suite_file(PEOPLE_FLOW)).unlink()
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "quality_suite", f"{suite_file(PEOPLE_FLOW)}")
    assert_only_in(problems, PEOPLE_FLOW)


def test_every_dataset_names_a_quality_suite_c5_5_1(project: Path) -> None:
    """C5.5-1: every dataset has a quality suite."""
    edit_yaml(project, BUS, lambda d: d.pop("quality_suite"))
    problems = problems_of(project)
    assert_problem(problems, BUS, "quality_suite", "C5.5-1")
    assert_only_in(problems, BUS)


def test_renamed_quality_suite_is_accepted(project: Path) -> None:
    old = project / suite_file(PEOPLE_FLOW)
    suite = read_yaml(project, suite_file(PEOPLE_FLOW))
    suite["name"] = "people_flow_checks"
    old.unlink()
    write_yaml(project, "quality_suites/people_flow_checks.yaml", suite)
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__("quality_suite", "people_flow_checks"))
    catalog = load_catalog(project, {"primary"})
    declared = catalog.suite_of("city_os/people_flow_hourly")
    assert declared.path == project / "quality_suites/people_flow_checks.yaml"
    assert declared.suite.name == "people_flow_checks"
    assert declared.revision == hashlib.sha256(declared.path.read_bytes()).hexdigest()


def test_quality_suite_file_name_must_match_its_name(project: Path) -> None:
    edit_yaml(project, suite_file(BUS), lambda d: d.__setitem__("name", "bus_checks"))
    problems = problems_of(project)
    assert_problem(problems, suite_file(BUS), "name", "bus_checks")


def test_quality_suite_names_an_undeclared_column(project: Path) -> None:
    def misspell(d: dict[str, Any]) -> None:
        entry = next(e for e in d["expectations"] if e["kwargs"].get("column") == "route_id")
        entry["kwargs"]["column"] = "route"

    edit_yaml(project, suite_file(BUS), misspell)
    problems = problems_of(project)
    assert_problem(problems, suite_file(BUS), None, "'route'")
    assert_only_in(problems, suite_file(BUS))


@pytest.mark.parametrize("dimension", ["accuracy", "completeness", "consistency"])
def test_quality_suite_covers_every_dimension_c5_5_1(project: Path, dimension: str) -> None:
    """C5.5-1: expectations are tagged accuracy, completeness or consistency, all present."""
    edit_yaml(
        project,
        suite_file(BUS),
        lambda d: d.__setitem__(
            "expectations", [e for e in d["expectations"] if e["meta"]["dimension"] != dimension]
        ),
    )
    problems = problems_of(project)
    assert_problem(problems, suite_file(BUS), "expectations", dimension, "C5.5-1")


def test_dataset_cannot_use_another_datasets_suite_c5_5_1(project: Path) -> None:
    """C5.5-1: each dataset's own suite checks its own columns; naming another dataset's
    suite (whose columns it lacks) is refused."""
    (project / suite_file(BUS)).unlink()
    edit_yaml(project, BUS, lambda d: d.__setitem__("quality_suite", "open.station_master"))
    problems = problems_of(project)
    assert_problem(problems, BUS, "quality_suite", "open.station_master", "C5.5-1")
    assert_only_in(problems, BUS)


def test_quality_suite_declared_twice(project: Path) -> None:
    (project / "quality_suites" / "archive").mkdir()
    shutil.copy(project / suite_file(BUS), project / "quality_suites" / "archive")
    problems = problems_of(project)
    assert any("open.bus_ridership" in p and "twice" in p for p in problems), problems


def test_unknown_backup_target(project: Path) -> None:
    """C5.4-3: every version is backed up to a configured target."""
    edit_yaml(project, BUS, lambda d: d.__setitem__("backup", {"target": "offsite"}))
    problems = problems_of(project, {"primary"})
    assert_problem(problems, BUS, "backup.target", "'offsite'", "primary")
    assert_only_in(problems, BUS)
    # Without a configured set (e.g. generating docs) targets are not checked.
    assert "open/bus_ridership" in load_catalog(project).datasets
    # With the target configured it loads.
    assert "open/bus_ridership" in load_catalog(project, {"primary", "offsite"}).datasets


def test_transform_module_cannot_be_imported(project: Path) -> None:
    edit_yaml(
        project,
        PEOPLE_FLOW,
        lambda d: d.__setitem__("transform", "assets.city_os.no_such_module:transform"),
    )
    problems = problems_of(project)
    assert_problem(
        problems, PEOPLE_FLOW, "transform", "cannot import", "assets.city_os.no_such_module"
    )
    assert_only_in(problems, PEOPLE_FLOW)


def test_transform_module_with_syntax_error(project: Path) -> None:
    """A transform that fails on import is a declaration problem, not a crash."""
    (project / "assets/city_os/broken_flow.py").write_text("def transform(:\n", encoding="utf-8")
    edit_yaml(
        project,
        PEOPLE_FLOW,
        lambda d: d.__setitem__("transform", "assets.city_os.broken_flow:transform"),
    )
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "transform", "assets.city_os.broken_flow", "SyntaxError")


def test_transform_function_missing(project: Path) -> None:
    edit_yaml(
        project,
        PEOPLE_FLOW,
        lambda d: d.__setitem__("transform", "assets.city_os.people_flow_hourly:no_such_function"),
    )
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "transform", "no function", "no_such_function")
    assert_only_in(problems, PEOPLE_FLOW)


def test_transform_not_in_module_function_form(project: Path) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__("transform", "people_flow_hourly"))
    assert_problem(problems_of(project), PEOPLE_FLOW, "transform", "module:function")


# -- how a dataset is produced ------------------------------------------------------------------
def test_derived_dataset_without_transform(project: Path) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.pop("transform"))
    problems = problems_of(project)
    assert_problem(
        problems, PEOPLE_FLOW, "transform", "derived dataset needs both upstream and transform"
    )
    assert_only_in(problems, PEOPLE_FLOW)


def test_derived_dataset_without_upstream(project: Path) -> None:
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.pop("upstream"))
    problems = problems_of(project)
    assert_problem(problems, PEOPLE_FLOW, "transform", "upstream")


def test_ingest_dataset_with_upstream(project: Path) -> None:
    edit_yaml(project, BUS, lambda d: d.__setitem__("upstream", ["open/station_master"]))
    problems = problems_of(project)
    assert_problem(problems, BUS, "landing", "ingest")
    assert_only_in(problems, BUS)


def test_daily_dataset_needs_a_start_date(project: Path) -> None:
    edit_yaml(project, BUS, lambda d: d["partitioning"].pop("start"))
    problems = problems_of(project)
    assert_problem(problems, BUS, "partitioning", "start")
    assert_only_in(problems, BUS)


def test_column_declared_twice(project: Path) -> None:
    edit_yaml(project, BUS, lambda d: d["columns"].append(dict(d["columns"][0])))
    assert_problem(problems_of(project), BUS, "columns", "'route_id'", "twice")


# -- lineage ------------------------------------------------------------------------------------
def test_lineage_cycle(project: Path) -> None:
    """od_matrix reads station_master; make station_master read od_matrix."""

    def read_od_matrix(d: dict[str, Any]) -> None:
        d.pop("landing")
        d["upstream"] = ["city_os/od_matrix_daily"]
        d["transform"] = "assets.city_os.od_matrix_daily:transform"

    edit_yaml(project, STATION_MASTER, read_od_matrix)
    problems = problems_of(project)
    cycle = [p for p in problems if "lineage cycle" in p]
    assert len(cycle) == 1, problems  # reported once, not once per member
    assert "field upstream:" in cycle[0]
    assert "city_os/od_matrix_daily" in cycle[0]
    assert "open/station_master" in cycle[0]
    assert cycle[0].startswith((f"{OD_MATRIX}:", f"{STATION_MASTER}:"))


def test_dataset_reading_itself_is_a_cycle(project: Path) -> None:
    edit_yaml(
        project,
        OD_MATRIX,
        lambda d: d["upstream"].append("city_os/od_matrix_daily"),
    )
    assert_problem(problems_of(project), OD_MATRIX, "upstream", "lineage cycle")


def test_city_os_cannot_feed_rail_os_c3_3_3(project: Path) -> None:
    """C3.3-3: data flows one way, Railway OS to City OS."""

    def read_city_os(d: dict[str, Any]) -> None:
        d.pop("landing")
        d["upstream"] = ["city_os/anonymized_trips"]
        d["transform"] = "assets.city_os.anonymized_trips:transform"

    edit_yaml(project, CAMERAS, read_city_os)
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "upstream.0", "city_os/anonymized_trips", "C3.3-3")
    assert_only_in(problems, CAMERAS)


def test_city_os_cannot_feed_rail_os_through_another_zone_c3_3_3(project: Path) -> None:
    """C3.3-3: no path through an intermediate zone leads back into Railway OS."""
    add_derived(
        project,
        OD_MATRIX,
        "member/od_relay",
        ["city_os/od_matrix_daily"],
        "assets.city_os.od_matrix_daily:transform",
    )

    def read_relay(d: dict[str, Any]) -> None:
        d.pop("landing")
        d["upstream"] = ["member/od_relay"]
        d["upstream_purposes"] = {"member/od_relay": "district_planning"}
        d["transform"] = "assets.city_os.od_matrix_daily:transform"

    edit_yaml(project, CAMERAS, read_relay)
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "upstream", "city_os/od_matrix_daily", "C3.3-3")
    assert_only_in(problems, CAMERAS)


@pytest.mark.parametrize("classification", ["personal", "pseudonymized"])
def test_city_os_never_holds_personal_data_c5_2_5(project: Path, classification: str) -> None:
    """C5.2-5: personal information is not stored in City OS."""
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__("classification", classification))
    problems = problems_of(project)
    p = assert_problem(problems, PEOPLE_FLOW, "classification", "C5.2-5")
    assert classification in p


@pytest.mark.parametrize("classification", ["open", "confidential"])
def test_city_os_from_personal_rail_os_must_be_statistical_c3_3_1(
    project: Path, classification: str
) -> None:
    """C3.3-1: personal Railway OS data reaches City OS only statistically processed or
    anonymized."""

    def reclassify(d: dict[str, Any]) -> None:
        d["classification"] = classification
        if classification == "confidential":
            d["confidential"] = {
                "permitted_purposes": d["purposes"],
                "disclosure_scope": "members",
            }

    edit_yaml(project, PEOPLE_FLOW, reclassify)
    problems = problems_of(project)
    assert_problem(
        problems, PEOPLE_FLOW, "classification", "rail_os/station_camera_detections", "C3.3-1"
    )
    assert_only_in(problems, PEOPLE_FLOW)


def test_city_os_from_personal_rail_os_through_another_zone_c3_3_1(project: Path) -> None:
    """C3.3-1 follows the whole upstream closure, not only direct edges."""
    add_derived(
        project,
        CAMERAS,
        "member/camera_copy",
        ["rail_os/station_camera_detections"],
        "assets.city_os.people_flow_hourly:transform",
        retention_policy="camera_detections_raw",
    )

    def open_from_copy(d: dict[str, Any]) -> None:
        d["classification"] = "open"
        d["upstream"] = ["member/camera_copy"]

    edit_yaml(project, PEOPLE_FLOW, open_from_copy)
    problems = problems_of(project)
    assert_problem(
        problems, PEOPLE_FLOW, "classification", "rail_os/station_camera_detections", "C3.3-1"
    )


def test_city_os_anonymized_from_personal_rail_os_is_allowed_c3_3_1(project: Path) -> None:
    def anonymized(d: dict[str, Any]) -> None:
        d["classification"] = "anonymized"
        d.pop("disclosure")  # counts and dimensions describe statistical tables

    edit_yaml(project, PEOPLE_FLOW, anonymized)
    catalog = load_catalog(project, {"primary"})
    decl = catalog.declaration("city_os/people_flow_hourly")
    assert decl.classification is Classification.ANONYMIZED


# -- personal data ------------------------------------------------------------------------------
@pytest.mark.parametrize("file", [CAMERAS, GATES, APP_USERS])
def test_personal_data_needs_a_retention_policy_c5_2_11(project: Path, file: str) -> None:
    edit_yaml(project, file, lambda d: d.pop("retention_policy"))
    problems = problems_of(project)
    assert_problem(problems, file, "retention_policy", "C5.2-11")
    assert_only_in(problems, file)


@pytest.mark.parametrize("file", [CAMERAS, GATES])
def test_personal_data_needs_confirmed_consent_c5_1_1(project: Path, file: str) -> None:
    edit_yaml(
        project,
        file,
        lambda d: d["provider"].__setitem__("consent_or_anonymization_confirmed", False),
    )
    problems = problems_of(project)
    assert_problem(problems, file, "provider.consent_or_anonymization_confirmed", "C5.1-1")
    assert_only_in(problems, file)


def test_non_personal_data_needs_no_consent_confirmation_c5_1_1(project: Path) -> None:
    def unconfirmed(d: dict[str, Any]) -> None:
        d["provider"]["consent_or_anonymization_confirmed"] = False

    edit_yaml(project, BUS, unconfirmed)
    provider = load_catalog(project, {"primary"}).declaration("open/bus_ridership").provider
    assert provider.consent_or_anonymization_confirmed is False


def test_declared_special_care_category_c5_2_4(project: Path) -> None:
    edit_yaml(project, APP_USERS, lambda d: d.update(special_care_categories=["medical_history"]))
    problems = problems_of(project)
    assert_problem(problems, APP_USERS, "special_care_categories", "C5.2-4")
    assert_only_in(problems, APP_USERS)


@pytest.mark.parametrize(
    "column",
    ["medical_history", "religion", "criminal_record"],
)
def test_special_care_column_name_c5_2_4(project: Path, column: str) -> None:
    """C5.2-4: a column named like special care-required information is never declared."""
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append({"name": column, "type": "string"}))
    problems = problems_of(project)
    index = len(read_yaml(project, APP_USERS)["columns"]) - 1
    assert_problem(problems, APP_USERS, f"columns.{index}.name", column, "C5.2-4")
    assert_only_in(problems, APP_USERS)


@pytest.mark.parametrize("column", ["病歴", "犯罪歴", "ｍｅｄｉｃａｌ_history"])
def test_special_care_column_name_in_japanese_or_full_width_c5_2_4(
    project: Path, column: str
) -> None:
    """C5.2-4 / appendix: 病歴 (medical history), 犯罪歴 (criminal record), and full-width
    Latin letters (folded by NFKC) are refused, naming the column and the clause."""
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append({"name": column, "type": "string"}))
    problems = problems_of(project)
    index = len(read_yaml(project, APP_USERS)["columns"]) - 1
    assert_problem(problems, APP_USERS, f"columns.{index}.name", column, "C5.2-4")
    assert_only_in(problems, APP_USERS)


def test_harmless_japanese_column_name_is_accepted(project: Path) -> None:
    edit_yaml(project, BUS, lambda d: d["columns"].append({"name": "停留所名", "type": "string"}))
    decl = load_catalog(project, {"primary"}).declaration("open/bus_ridership")
    assert decl.column("停留所名") is not None


@pytest.mark.parametrize("column", ["Route_name", "route name", "_route"])
def test_column_name_must_be_a_lower_case_identifier(project: Path, column: str) -> None:
    edit_yaml(project, BUS, lambda d: d["columns"].append({"name": column, "type": "string"}))
    index = len(read_yaml(project, BUS)["columns"]) - 1
    assert_problem(problems_of(project), BUS, f"columns.{index}.name")


@pytest.mark.parametrize("column", ["grace_period", "trace_id"])
def test_harmless_column_is_not_taken_for_special_care_c5_2_4(project: Path, column: str) -> None:
    """C5.2-4 terms match whole words: 'race' is not found inside 'grace' or 'trace'."""
    edit_yaml(project, BUS, lambda d: d["columns"].append({"name": column, "type": "string"}))
    assert "open/bus_ridership" in load_catalog(project, {"primary"}).datasets


@pytest.mark.parametrize("column", ["checkup_result", "diagnosed_condition", "arrested_on"])
def test_inflected_special_care_column_name_c5_2_4(project: Path, column: str) -> None:
    """C5.2-4 / appendix: results of health checkups, diagnoses and arrests are special care."""
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append({"name": column, "type": "string"}))
    problems = problems_of(project)
    assert_problem(problems, APP_USERS, None, column, "C5.2-4")


# -- confidential data and copyright ------------------------------------------------------------
def test_confidential_without_terms_c5_3_1(project: Path) -> None:
    edit_yaml(project, SHOP_SALES, lambda d: d.pop("confidential"))
    problems = problems_of(project)
    assert_problem(problems, SHOP_SALES, "confidential", "C5.3-1")
    assert_only_in(problems, SHOP_SALES)


def test_purposes_outside_permitted_purposes_c5_3_2(project: Path) -> None:
    edit_yaml(project, SHOP_SALES, lambda d: d["purposes"].append("targeted_advertising"))
    problems = problems_of(project)
    assert_problem(problems, SHOP_SALES, "purposes", "targeted_advertising", "C5.3-2")
    assert_only_in(problems, SHOP_SALES)


def test_confidential_terms_need_permitted_purposes_c5_3_1(project: Path) -> None:
    edit_yaml(project, SHOP_SALES, lambda d: d["confidential"].pop("disclosure_scope"))
    assert_problem(
        problems_of(project), SHOP_SALES, "confidential.disclosure_scope", "Field required"
    )


@pytest.mark.parametrize("license_", [None, ""])
def test_protected_work_needs_a_license_c5_6_1(project: Path, license_: str | None) -> None:
    def unlicense(d: dict[str, Any]) -> None:
        if license_ is None:
            d["copyright"].pop("license")
        else:
            d["copyright"]["license"] = license_

    edit_yaml(project, PHOTOS, unlicense)
    problems = problems_of(project)
    assert_problem(problems, PHOTOS, "copyright.license", "C5.6-1")
    assert_only_in(problems, PHOTOS)


def test_unprotected_work_needs_no_license_c5_6_1(project: Path) -> None:
    edit_yaml(project, PHOTOS, lambda d: d.__setitem__("copyright", {"protected": False}))
    assert load_catalog(project, {"primary"}).declaration("open/cultural_property_photos")


# -- retention policies -------------------------------------------------------------------------
def test_policy_that_does_not_serve_the_classification_c5_2_11(project: Path) -> None:
    edit_yaml(
        project, CAMERAS, lambda d: d.__setitem__("retention_policy", "gate_events_pseudonymized")
    )
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "retention_policy", "gate_events_pseudonymized", "personal")
    assert_only_in(problems, CAMERAS)


def test_policy_anchor_column_must_be_declared(project: Path) -> None:
    edit_yaml(project, APP_POLICY, lambda d: d["anchor"].__setitem__("column", "closed_at"))
    problems = problems_of(project)
    assert_problem(problems, APP_USERS, "retention_policy", "closed_at")
    assert_only_in(problems, APP_USERS)


@pytest.mark.parametrize(
    "anchor", [{"kind": "column"}, {"kind": "partition_end", "column": "detected_at"}]
)
def test_policy_anchor_column_iff_column_kind(project: Path, anchor: dict[str, str]) -> None:
    edit_yaml(project, CAMERA_POLICY, lambda d: d.__setitem__("anchor", anchor))
    assert_problem(problems_of(project), CAMERA_POLICY, "anchor", "column")


def test_policy_file_name_must_match_its_name(project: Path) -> None:
    edit_yaml(project, CAMERA_POLICY, lambda d: d.__setitem__("name", "camera_raw"))
    problems = problems_of(project)
    assert_problem(problems, CAMERA_POLICY, "name", "camera_raw", "file name")


@pytest.mark.parametrize(
    ("field", "value"),
    [("period", "7 days"), ("period", "PT"), ("grace", "1 week")],
)
def test_policy_with_invalid_iso_duration(project: Path, field: str, value: str) -> None:
    edit_yaml(project, CAMERA_POLICY, lambda d: d.__setitem__(field, value))
    problems = problems_of(project)
    assert_problem(problems, CAMERA_POLICY, field, "ISO 8601")
    # The camera dataset's policy did not load, so its reference is unknown too.
    assert_problem(problems, CAMERAS, "retention_policy", "camera_detections_raw")


def test_policy_with_calendar_duration_loads(project: Path) -> None:
    edit_yaml(project, CAMERA_POLICY, lambda d: d.update(period="P1Y6M", grace="PT12H"))
    policy = load_catalog(project, {"primary"}).policies["camera_detections_raw"]
    assert (policy.period, policy.grace) == ("P1Y6M", "PT12H")


def test_policy_declared_twice_is_refused_c5_2_11(project: Path) -> None:
    """C5.2-11: which retention period applies must never depend on file order."""
    data = read_yaml(project, CAMERA_POLICY)
    data["period"] = "P10Y"
    write_yaml(project, "retention_policies/archive/camera_detections_raw.yaml", data)
    problems = problems_of(project)
    assert any("camera_detections_raw" in p and "twice" in p for p in problems), problems


# -- all or nothing -----------------------------------------------------------------------------
def test_every_problem_of_every_file_at_once(project: Path) -> None:
    """Several broken files: one DeclarationErrors names them all; nothing is loaded."""
    (project / BUS).write_text("key: [open/bus_ridership\n", encoding="utf-8")
    edit_yaml(project, PEOPLE_FLOW, lambda d: d.__setitem__("classification", "personal"))
    edit_yaml(project, PHOTOS, lambda d: d["copyright"].pop("license"))
    edit_yaml(project, CAMERA_POLICY, lambda d: d.__setitem__("period", "a week"))
    edit_yaml(project, SHOP_SALES, lambda d: d.__setitem__("colour", "blue"))

    problems = problems_of(project, {"primary"})
    assert_problem(problems, BUS, None, "malformed YAML")
    assert_problem(problems, PEOPLE_FLOW, "classification", "C5.2-5")
    assert_problem(problems, PEOPLE_FLOW, "retention_policy", "C5.2-11")
    assert_problem(problems, PEOPLE_FLOW, "classification", "C3.3-1")
    assert_problem(problems, PHOTOS, "copyright.license", "C5.6-1")
    assert_problem(problems, CAMERA_POLICY, "period")
    assert_problem(problems, CAMERAS, "retention_policy", "camera_detections_raw")
    assert_problem(problems, SHOP_SALES, "colour")
    assert len(problems) == len(set(problems))
    assert_only_in(problems, BUS, PEOPLE_FLOW, PHOTOS, CAMERA_POLICY, CAMERAS, SHOP_SALES)


def test_declaration_errors_is_bad_input_with_exit_code_2(project: Path) -> None:
    edit_yaml(project, PHOTOS, lambda d: d["copyright"].pop("license"))
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(project)
    assert isinstance(info.value, BadInput)
    assert info.value.exit_code == 2
    assert "1 problem(s)" in str(info.value)


# -- JSON Schemas -------------------------------------------------------------------------------
def test_committed_schemas_match_the_models() -> None:
    """schemas/ is what editors validate against; regenerate with ``steward schema``."""
    folder = PROJECT / "schemas"
    rendered = render_schemas()
    assert set(rendered) == set(SCHEMAS)
    for name, text in rendered.items():
        committed = folder / name
        assert committed.is_file(), f"{committed} missing: run `steward schema`"
        assert committed.read_text(encoding="utf-8") == text, f"{name} is stale: `steward schema`"


def test_schemas_describe_the_declaration_fields(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(SCHEMAS)
    dataset = json.loads((tmp_path / "out" / "dataset.schema.json").read_text(encoding="utf-8"))
    assert {"key", "classification", "provider", "columns"} <= set(dataset["required"])
    assert dataset["additionalProperties"] is False  # extra=forbid reaches editors too
    policy = json.loads(
        (tmp_path / "out" / "retention_policy.schema.json").read_text(encoding="utf-8")
    )
    assert {"name", "period", "anchor"} <= set(policy["required"])


def test_every_declaration_file_points_at_an_existing_schema() -> None:
    for path in sorted((PROJECT / "assets").rglob("*.yaml")) + sorted(
        (PROJECT / "retention_policies").glob("*.yaml")
    ):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.parent == (PROJECT / "schemas").resolve(), path
        assert target.name in SCHEMAS, path


# -- what a retention policy counts from must exist for its dataset (C5.2-11) --------------------
def test_partition_end_anchor_needs_a_partitioned_dataset_c5_2_11(project: Path) -> None:
    edit_yaml(project, APP_POLICY, lambda d: d.__setitem__("anchor", {"kind": "partition_end"}))
    assert_problem(problems_of(project), APP_USERS, "retention_policy", "not partitioned")


def test_column_anchor_needs_a_timestamp_column_c5_2_11(project: Path) -> None:
    edit_yaml(project, APP_POLICY, lambda d: d["anchor"].__setitem__("column", "email"))
    assert_problem(problems_of(project), APP_USERS, "retention_policy", "not a timestamp")


def test_derivation_anchor_without_derived_data_or_cap_is_refused_c5_2_3(project: Path) -> None:
    """Nothing derived and no ``not_later_than``: the data would never be purged."""
    edit_yaml(project, CAMERA_POLICY, lambda d: d.pop("not_later_than"))
    (project / PEOPLE_FLOW).unlink()
    (project / "quality_suites" / "city_os.people_flow_hourly.yaml").unlink()
    problems = problems_of(project)
    assert_problem(problems, CAMERAS, "retention_policy", "C5.2-3", "never be purged")
    assert_only_in(problems, CAMERAS)
