"""Provider deliveries: only declared columns are acquired (C5.2-2); a bad file fails with the
file and column named, never a value, and nothing is staged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration.errors import ProviderFileError
from orchestration.steward import Steward

pytestmark = pytest.mark.production_profile

CAMERA = "rail_os/station_camera_detections"
USERS = "member/app_users"
DAY = "2026-11-01"


def camera_file(steward: Steward) -> Path:
    return steward.settings.landing_dir / "station_cameras" / f"{DAY}.csv"


def rewrite(path: Path, change) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    frame = change(pd.read_csv(path, dtype=str, keep_default_na=False))
    frame.to_csv(path, index=False)
    return frame


def assert_nothing_staged(steward: Steward, dataset: str) -> None:
    assert steward.store.history(dataset) == []
    store = steward.settings.home / "store"
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_missing_column_is_refused(steward: Steward) -> None:
    rewrite(camera_file(steward), lambda f: f.drop(columns=["camera_id"]))
    with pytest.raises(ProviderFileError, match=r"station_cameras/2026-11-01.csv.*camera_id"):
        steward.produce(CAMERA, DAY)
    assert_nothing_staged(steward, CAMERA)


def test_extra_column_is_refused_as_unneeded_data_c5_2_2(steward: Steward) -> None:
    """C5.2-2: a provider sending more than was declared is refused, not silently stored. The
    undeclared header is counted and located, not quoted: it may be a value (invariant 1)."""
    rewrite(camera_file(steward), lambda f: f.assign(face_image_uri="s3://x"))
    with pytest.raises(ProviderFileError) as caught:
        steward.produce(CAMERA, DAY)
    message = str(caught.value)
    assert "station_cameras/2026-11-01.csv" in message
    assert "1 undeclared column(s) at position(s) [7] of 7" in message
    assert "C5.2-2" in message and "face_image_uri" not in message
    assert_nothing_staged(steward, CAMERA)


def test_wrong_type_names_column_and_row_but_not_the_value(steward: Steward) -> None:
    path = steward.settings.landing_dir / "app_users" / "2026-11-01.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    secret = frame.loc[3, "full_name"]
    frame.loc[3, "birth_year"] = secret  # a personal value in the wrong column
    frame.to_csv(path, index=False)
    with pytest.raises(ProviderFileError) as caught:
        steward.produce(USERS)
    message = str(caught.value)
    assert "app_users/2026-11-01.csv" in message
    assert "'birth_year' is not integer in 1 cell(s), first at row(s) [4]" in message
    assert secret not in message
    assert_nothing_staged(steward, USERS)


def test_undeclared_empty_value_is_refused(steward: Steward) -> None:
    def blank(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[[0, 9], "station_code"] = ""
        return frame

    rewrite(camera_file(steward), blank)
    with pytest.raises(ProviderFileError, match=r"'station_code' is empty at row\(s\) \[1, 10\]"):
        steward.produce(CAMERA, DAY)


def test_declared_nullable_column_may_be_empty(steward: Steward) -> None:
    version = steward.produce(USERS)  # account_closed_at is empty for open accounts
    frame = steward.store.read(version, reader="test", actor="test:pytest")
    assert frame["account_closed_at"].isna().any()
    assert str(frame["account_closed_at"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (
            b"detected_at,station_code,camera_id,track_id,age_band,direction\n",
            "has a header but no rows",
        ),
    ],
)
def test_empty_delivery_is_refused(steward: Steward, content: bytes, expected: str) -> None:
    camera_file(steward).write_bytes(content)
    with pytest.raises(ProviderFileError, match=expected):
        steward.produce(CAMERA, DAY)
    assert_nothing_staged(steward, CAMERA)


def test_missing_delivery_names_the_expected_file(steward: Steward) -> None:
    with pytest.raises(ProviderFileError, match=r"station_cameras/2026-11-09.csv is missing"):
        steward.produce(CAMERA, "2026-11-09")


def test_unpartitioned_dataset_reads_the_newest_delivery(steward: Steward) -> None:
    folder = steward.settings.landing_dir / "app_users"
    first = folder / "2026-11-01.csv"
    newer = pd.read_csv(first, dtype=str, keep_default_na=False).head(10)
    newer.to_csv(folder / "2026-11-04.csv", index=False)
    version = steward.produce(USERS)
    assert version.row_count == 10
    assert list(version.sources) == ["app_users/2026-11-04.csv"]
