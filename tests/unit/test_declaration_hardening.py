"""Three holes in what a reviewed file lets through: YAML aliases and anchors (an alias bomb in a
declaration, suite or policy), special-care column names spelled with look-alike letters
(C5.2-4), and suites without a valid waiver limit (C5.5-4). Waivers held to that limit:
tests/integration/test_waiver_limits.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import assert_bad_input, edit_yaml, read_yaml

from orchestration.declarations.loader import load_catalog
from orchestration.declarations.rules import looks_special_care, reads_as
from orchestration.errors import DeclarationErrors

APP_USERS = "assets/member/app_users.yaml"
GATES_SUITE = "quality_suites/rail_os.ic_gate_events.yaml"
CAMERA_POLICY = "retention_policies/camera_detections_raw.yaml"

Run = Callable[..., tuple[int, str, str]]


def problems_of(root: Path) -> list[str]:
    with pytest.raises(DeclarationErrors) as info:
        load_catalog(root, {"primary"})
    return info.value.problems


# -- YAML aliases and anchors ---------------------------------------------------------------------
def billion_laughs(levels: int = 9) -> str:
    """Nine levels of nine aliases each: 9**9 (387 million) strings once expanded."""
    lines = ["# an alias bomb", 'lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("file", [APP_USERS, GATES_SUITE, CAMERA_POLICY])
def test_billion_laughs_file_is_refused_by_steward_check(
    file: str, project: Path, run_cli: Run, tmp_path: Path
) -> None:
    """A declaration, suite or policy holding an alias bomb is refused, naming the file and
    the line of the first anchor, before anything is expanded: ``steward check`` exits 2 at
    once instead of exhausting memory later."""
    (project / file).write_text(billion_laughs(), encoding="utf-8")
    started = time.monotonic()
    code, out, err = run_cli(
        ["check"], {"STEWARD_PROJECT_DIR": str(project), "STEWARD_HOME": str(tmp_path / "h")}
    )
    assert time.monotonic() - started < 30
    assert_bad_input(code, out, err, f"{file}: line 2: YAML anchors and aliases")


def test_anchor_without_alias_is_refused_too(project: Path) -> None:
    """A reviewer should read every value where it is used: an anchor alone is refused, on
    the line it is on, as is an alias to it further down."""
    text = (project / APP_USERS).read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("owner:"))
    lines[index] = lines[index].replace("owner: ", "owner: &team ")
    (project / APP_USERS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (problem,) = [p for p in problems_of(project) if p.startswith(APP_USERS)]
    assert problem.startswith(f"{APP_USERS}: line {index + 1}: YAML anchors and aliases")


def test_ampersand_and_asterisk_in_plain_text_are_not_anchors(project: Path) -> None:
    """Only real anchors and aliases are refused: '&' and '*' inside a quoted or plain value
    (a description, a regex) load as they are."""
    edit_yaml(project, APP_USERS, lambda d: d.update(description="Accounts & sign-ups (*all*)"))
    declared = load_catalog(project, {"primary"}).declaration("member/app_users")
    assert declared.description == "Accounts & sign-ups (*all*)"


# -- look-alike letters in special-care names (C5.2-4) -------------------------------------------
LOOK_ALIKES = {
    "mеdical_history": "medical_history",  # Cyrillic е (U+0435)
    "сriminal_record": "criminal_record",  # Cyrillic с (U+0441)
    "religiοn": "religion",  # Greek ο (U+03BF)
    "diagnοsis_code": "diagnosis_code",  # Greek ο
    "ｄｉａｇｎｏｓｉｓ": "diagnosis",  # full-width Latin (NFKC)
    "ｖｉｃｔｉｍ_flag": "victim_flag",  # full-width Latin, a whole-word term
}


@pytest.mark.parametrize("column", sorted(LOOK_ALIKES))
def test_special_care_name_in_look_alike_letters_is_refused_c5_2_4(
    column: str, project: Path
) -> None:
    """C5.2-4: a column name spelled with Cyrillic, Greek or full-width letters that reads as
    a special-care category is refused; the problem names the column as declared and what it
    reads as."""
    assert column != LOOK_ALIKES[column]  # the test name really holds other letters
    edit_yaml(project, APP_USERS, lambda d: d["columns"].append({"name": column, "type": "string"}))
    index = len(read_yaml(project, APP_USERS)["columns"]) - 1
    (problem,) = [p for p in problems_of(project) if p.startswith(APP_USERS)]
    assert f"field columns.{index}.name: {column!r}" in problem
    assert f"(it reads as {LOOK_ALIKES[column]!r})" in problem
    assert "looks like a special-care name" in problem and "C5.2-4" in problem


@pytest.mark.parametrize(
    ("column", "reading"),
    [
        ("rnedical_history", "rnedical_history"),  # ASCII r+n for m (UTS #39 skeleton)
        ("ｍｅｄｉｃａｌ", "medical"),
        ("μedical", "μedical"),  # Greek mu is not confusable with m: read as is
        ("⼈種", "人種"),  # a Kangxi radical for 人 (NFKC)
    ],
)
def test_reading_of_look_alike_names_c5_2_4(column: str, reading: str) -> None:
    """What a name reads as: NFKC, lower case, other-script letters by their UTS #39 prototype."""
    assert reads_as(column) == reading


@pytest.mark.parametrize(
    "column",
    ["rnedical_history", "ΙLLNESS", "МЕDICAL_HISTORY", "medi\u200bcal", "⼈種"],
)
def test_look_alike_spellings_are_special_care_c5_2_4(column: str) -> None:
    """Greek capital iota reads as i (not the skeleton's l), Cyrillic capitals as Latin ones,
    an invisible zero-width space is dropped, r+n reads as m."""
    assert looks_special_care(column)


@pytest.mark.parametrize(
    "column", ["station_code", "amount", "timestamp", "item_category", "trace_id", "μέτρο"]
)
def test_harmless_names_stay_harmless_after_folding_c5_2_4(column: str) -> None:
    assert not looks_special_care(column)


# -- waiver limits (C5.5-4) -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("meta", "fragment"),
    [
        ({}, "missing"),
        ({"max_waiver": "two weeks"}, "not an ISO 8601 duration"),
        ({"max_waiver": "P0D"}, "no length of time"),
    ],
)
def test_suite_must_declare_a_valid_waiver_limit_c5_5_4(
    meta: dict[str, str], fragment: str, project: Path, run_cli: Run, tmp_path: Path
) -> None:
    """C5.5-4: every suite declares the longest waiver (meta.max_waiver, an ISO 8601
    duration); ``steward check`` names the file and field of a missing or bad one."""
    edit_yaml(project, GATES_SUITE, lambda d: d.update(meta=meta))
    code, _, err = run_cli(
        ["check"], {"STEWARD_PROJECT_DIR": str(project), "STEWARD_HOME": str(tmp_path / "h")}
    )
    assert code == 2
    (line,) = [x for x in err.splitlines() if GATES_SUITE in x]
    assert "field meta.max_waiver:" in line and fragment in line and "C5.5-4" in line
