"""No cell value in a quality result (invariant 1): GX's own error text is withheld, whatever the
dataset's classification. The same end to end through Dagster and the command line:
tests/integration/test_no_values_in_messages.py.
"""

from __future__ import annotations

import json

import pandas as pd
from support import canary

from orchestration.declarations.models import Classification
from orchestration.declarations.suites import ExpectationEntry, ExpectationMeta, SuiteFile
from orchestration.quality.evaluation import evaluate


# -- quality evaluation ---------------------------------------------------------------------------
def test_gx_error_quoting_cells_is_withheld_for_any_classification_invariant_1() -> None:
    """Invariant 1: GX's own error text can quote cells (a mean over text columns says "Could
    not convert string '<cells>' to numeric"); the check result keeps the exception's fact, not
    its text, even for statistical data, whose results reach recipients' reports."""
    secrets = [canary(), canary()]
    entries = [
        ExpectationEntry(
            type=kind,
            kwargs={"column": "people", **kwargs},
            meta=ExpectationMeta(dimension=dimension, description="People are counted."),
        )
        for kind, kwargs, dimension in (
            ("expect_column_mean_to_be_between", {"min_value": 0, "max_value": 9}, "accuracy"),
            ("expect_column_values_to_not_be_null", {}, "completeness"),
            ("expect_column_values_to_be_unique", {}, "consistency"),
        )
    ]
    suite = SuiteFile(name="city_os.flow", dataset="city_os/flow", expectations=entries)
    frame = pd.DataFrame({"people": [*secrets, "3"]})
    results = evaluate(suite, frame, Classification.STATISTICAL, lambda _key: frame)
    accuracy = next(r for r in results if r.dimension == "accuracy")
    (mean,) = accuracy.checks
    assert accuracy.status == "error" and mean.error and "withheld" in mean.error
    dumped = json.dumps([r.as_dict() for r in results], default=str)
    assert not [s for s in secrets if s in dumped]
