"""Small-cell suppression of statistical tables and its checks (C3.3-1, C5.1-4): a cell under
the minimum is suppressed, published totals force complementary suppression, and a table
whose suppressed cell could be worked out from its totals fails."""

from __future__ import annotations

import pandas as pd

from orchestration.disclosure.gate import MIN_CELL_COUNT, TOTALS, Controlled, table_checks
from orchestration.disclosure.rules import TableRule
from orchestration.disclosure.tables import findings, suppress
from orchestration.vocabulary import CheckStatus

OD = TableRule(
    counts=("trips",),
    dimensions=("origin", "destination"),
    totals=(("origin",), ("destination",)),
    min_cell_count=5,
)
NO_TOTALS = TableRule(("trips",), ("origin", "destination"), (), 5)


def _matrix(rows: list[tuple[str, str, int | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["origin", "destination", "trips"])
    return frame.astype({"origin": "string", "destination": "string", "trips": "Int64"})


def _status(table: pd.DataFrame, rule: TableRule, kind: str) -> str:
    return next(c.status for c in table_checks(table, rule) if c.type == kind)


def test_c3_3_1_a_one_trip_cell_is_suppressed_and_the_table_then_passes() -> None:
    table = _matrix([("A", "B", 1), ("A", "C", 40), ("B", "A", 30), ("B", "C", 0)])
    assert _status(table, NO_TOTALS, MIN_CELL_COUNT) == CheckStatus.FAILED  # not yet suppressed

    done = suppress(table, NO_TOTALS)
    assert (done.primary, done.complementary) == (1, 0)
    assert done.table["trips"].isna().tolist() == [True, False, False, False]
    assert done.table["trips"].iloc[1] == 40  # other cells unchanged
    assert done.table["trips"].iloc[3] == 0  # an empty pair shows nobody: published
    assert _status(done.table, NO_TOTALS, MIN_CELL_COUNT) == CheckStatus.PASSED
    assert findings(done.table, NO_TOTALS).suppressed == 1


def test_c3_3_1_cells_from_one_to_the_minimum_minus_one_are_suppressed() -> None:
    table = _matrix([("A", str(i), i) for i in range(0, 8)])
    done = suppress(table, NO_TOTALS)
    hidden = done.table["trips"].isna().tolist()
    assert hidden == [False, True, True, True, True, False, False, False]


def test_c5_1_4_published_totals_force_complementary_suppression() -> None:
    """A 2 hidden alone in origin A's row would be A's total minus the others: the smallest
    other cells of that row, and then of the columns they sit in, are hidden too."""
    table = _matrix(
        [
            ("A", "B", 2),
            ("A", "C", 30),
            ("A", "D", 25),
            ("B", "A", 40),
            ("B", "C", 50),
            ("B", "D", 60),
            ("C", "A", 70),
            ("C", "B", 35),
            ("C", "D", 45),
        ]
    )
    done = suppress(table, OD)
    assert done.primary == 1 and done.complementary >= 1
    found = findings(done.table, OD)
    assert found.recoverable_groups == 0
    assert found.published_below_minimum == 0
    checks = {c.type: c for c in table_checks(done.table, OD, Controlled(done.table, 1, 1))}
    assert checks[TOTALS].status == CheckStatus.PASSED
    assert checks[MIN_CELL_COUNT].detail["cells_suppressed"] == found.suppressed
    # Every row and every column of the matrix hides none or at least two cells.
    hidden = done.table.assign(hidden=done.table["trips"].isna())
    for keys in ("origin", "destination"):
        per_group = hidden.groupby(keys)["hidden"].sum()
        assert not (per_group == 1).any(), keys


def test_c5_1_4_the_hidden_cells_of_a_total_add_up_to_at_least_the_minimum() -> None:
    """Two hidden cells of 1 and 1 beside a published total still give both away (each is at
    least 1, together 2): cells are hidden until the hidden part reaches the minimum."""
    rule = TableRule(("trips",), ("origin", "destination"), (("origin",),), 5)
    table = _matrix([("A", "B", 1), ("A", "C", 1), ("A", "D", 9), ("A", "E", 12)])
    done = suppress(table, rule)
    assert done.table["trips"].isna().tolist() == [True, True, True, False]


def test_c5_1_4_a_table_whose_suppressed_cell_is_recoverable_from_its_totals_fails() -> None:
    """A version that hides one cell of a row whose total is published: total minus the
    published cells gives it back, so the version fails and is not promoted."""
    table = _matrix([("A", "B", None), ("A", "C", 30), ("B", "A", 40), ("B", "C", 50)])
    rule = TableRule(("trips",), ("origin", "destination"), (("origin",),), 5)
    assert _status(table, rule, MIN_CELL_COUNT) == CheckStatus.PASSED
    assert _status(table, rule, TOTALS) == CheckStatus.FAILED
    assert findings(table, rule).recoverable_groups == 1


def test_c5_1_4_a_total_over_a_single_small_cell_cannot_be_protected_and_fails() -> None:
    """Destination D is reached from A only: its published total is that one cell."""
    table = _matrix([("A", "B", 20), ("A", "D", 3), ("B", "A", 40), ("B", "C", 50)])
    done = suppress(table, OD)
    assert _status(done.table, OD, TOTALS) == CheckStatus.FAILED


def test_c5_1_4_the_grand_total_counts_as_a_published_total() -> None:
    rule = TableRule(("trips",), ("origin", "destination"), ((),), 5)
    table = _matrix([("A", "B", 2), ("A", "C", 30), ("B", "A", 40)])
    done = suppress(table, rule)
    assert int(done.table["trips"].isna().sum()) == 2
    assert _status(done.table, rule, TOTALS) == CheckStatus.PASSED


def test_c3_3_1_each_count_column_is_suppressed_on_its_own() -> None:
    rule = TableRule(("boardings", "alightings"), ("stop",), (), 5)
    table = pd.DataFrame(
        {"stop": ["S1", "S2"], "boardings": [3, 30], "alightings": [30, 4]}
    ).astype({"stop": "string", "boardings": "Int64", "alightings": "Int64"})
    done = suppress(table, rule)
    assert done.table["boardings"].isna().tolist() == [True, False]
    assert done.table["alightings"].isna().tolist() == [False, True]
    assert findings(done.table, rule).cells == 4


def test_c3_3_1_a_table_without_small_cells_is_left_as_it_is() -> None:
    table = _matrix([("A", "B", 10), ("A", "C", 30)])
    done = suppress(table, OD)
    assert not done.changed
    pd.testing.assert_frame_equal(done.table, table)
