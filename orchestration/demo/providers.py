"""A seeded simulator of the district's data providers, writing their daily CSV deliveries.

Each provider delivers into ``<landing>/<folder>/<YYYY-MM-DD>.csv`` (see ``Landing`` in the
declarations): daily datasets one file per day, snapshot datasets (station master, app users,
cultural photos) one file named by the first simulated day.

CSV conventions, shared with ingest: UTF-8 without BOM, comma separated, a header row with the
declared columns in declared order, ``\\n`` line ends, minimal quoting; timestamps ISO 8601 with
the district offset (``2026-11-01T08:15:30+09:00``); booleans ``true`` / ``false``; a null is an
empty field.

Output is reproducible: every file depends only on ``seed``, its folder and its day (not on
which other days are written), so regenerating one day gives the same bytes. The values are
invented; all names, addresses and e-mail addresses come from Faker (``ja_JP``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from orchestration.vocabulary import DISTRICT_TZ

if TYPE_CHECKING:
    from faker import Faker

    from orchestration.ingest.area import LandingRoot

DISTRICT_OFFSET = "+09:00"  # the district zone has no daylight saving time.


@dataclass(frozen=True)
class Station:
    code: str
    name_ja: str
    name_en: str
    latitude: float
    longitude: float
    weight: float  # relative passenger volume in the simulation


# Yamanote Line stations around Takanawa Gateway (JY26), with their real station numbers.
STATIONS: tuple[Station, ...] = (
    Station("JY23", "五反田", "Gotanda", 35.626446, 139.723444, 1.2),
    Station("JY24", "大崎", "Osaki", 35.619700, 139.728553, 1.0),
    Station("JY25", "品川", "Shinagawa", 35.628471, 139.738760, 3.0),
    Station("JY26", "高輪ゲートウェイ", "Takanawa Gateway", 35.635531, 139.740670, 2.0),
    Station("JY27", "田町", "Tamachi", 35.645736, 139.747575, 1.5),
    Station("JY28", "浜松町", "Hamamatsucho", 35.655646, 139.756749, 1.5),
    Station("JY29", "新橋", "Shimbashi", 35.666195, 139.758587, 2.0),
    Station("JY30", "有楽町", "Yurakucho", 35.675069, 139.763328, 1.0),
)
LINE = "JY Yamanote Line"
# A few trips end outside the district: these stations are not in the station master.
OUTSIDE_STATIONS = ("JY01", "JY20")
CAMERA_STATIONS = ("JY25", "JY26", "JY27")

FOLDERS = {
    "station_cameras": "rail_os/station_camera_detections",
    "ic_gates": "rail_os/ic_gate_events",
    "station_master": "open/station_master",
    "app_users": "member/app_users",
    "shop_sales": "member/shop_sales_daily",
    "bus_ridership": "open/bus_ridership",
    "cultural_photos": "open/cultural_property_photos",
}
DAILY_FOLDERS = ("station_cameras", "ic_gates", "shop_sales", "bus_ridership")
SNAPSHOT_FOLDERS = ("station_master", "app_users", "cultural_photos")

# Share of the day's passengers starting in each hour 0..23 (Tokyo): morning and evening peaks,
# no service between 01:00 and 05:00.
_HOURLY_PROFILE = np.array(
    [0.5, 0, 0, 0, 0, 1, 3, 8, 10, 6, 4, 4, 5, 4, 4, 4, 5, 8, 9, 7, 5, 4, 3, 1.5], dtype=float
)
_AGE_BANDS = ("0-14", "15-29", "30-44", "45-64", "65+")
_AGE_WEIGHTS = (0.06, 0.27, 0.30, 0.27, 0.10)
_CARD_POOL = 2500
_SHOP_CATEGORIES = ("restaurant", "cafe", "fashion", "grocery", "books", "electronics", "beauty")
_BUS_ROUTES = {"TG01": 9, "TG02": 7, "SN93": 8}


def write_deliveries(landing_dir: Path, days: list[date], seed: int = 7) -> list[Path]:
    """Write every provider's deliveries for ``days``; return the files written, sorted."""
    if not days:
        return []
    days = sorted(days)
    written = [
        write_delivery(landing_dir, folder, days[0], build(seed, days[0]))
        for folder, build in _SNAPSHOTS.items()
    ]
    for day in days:
        written += [
            write_delivery(landing_dir, folder, day, build(seed, day))
            for folder, build in _DAILY.items()
        ]
    return sorted(written)


def write_delivery(landing_dir: Path, folder: str, day: date, frame: pd.DataFrame) -> Path:
    """Write ``frame`` as ``<landing_dir>/<folder>/<day>.csv`` in the delivery conventions."""
    path = Path(landing_dir) / folder / f"{day.isoformat()}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = pd.DataFrame(index=frame.index)
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            out[name] = _iso_district(column)
        elif pd.api.types.is_bool_dtype(column):
            out[name] = column.map({True: "true", False: "false"}).astype("object")
        else:
            out[name] = column
    tmp = path.with_name(f".{path.name}.tmp")
    out.to_csv(tmp, index=False, na_rep="", lineterminator="\n", encoding="utf-8")
    tmp.replace(path)  # a reader never sees a half-written delivery
    return path


def upload_deliveries(local: Path, landing: LandingRoot) -> list[str]:
    """Copy every delivery under the folder ``local`` into ``landing`` (an S3 prefix, as a
    provider on another machine would deliver); return the landing-relative names, sorted."""
    names = []
    for path in sorted(p for p in Path(local).rglob("*") if p.is_file()):
        name = path.relative_to(local).as_posix()
        (landing / name).write_bytes(path.read_bytes())
        names.append(name)
    return names


def station_cameras(seed: int, day: date) -> pd.DataFrame:
    """Camera detections: each person gets a track id and is seen 1-3 times by one camera."""
    rng = _rng(seed, "station_cameras", day)
    people = int(rng.integers(700, 900))
    station = rng.choice(CAMERA_STATIONS, size=people, p=_weights(CAMERA_STATIONS))
    number = rng.integers(1, 4, people)
    camera = np.array([f"{s}-CAM{n:02d}" for s, n in zip(station, number, strict=True)])
    seconds = _seconds_of_day(rng, people)
    tracks = [f"T{day:%Y%m%d}-{code:08x}" for code in rng.choice(2**32, people, replace=False)]
    direction = rng.choice(["in", "out"], size=people)
    age = rng.choice(_AGE_BANDS, size=people, p=_AGE_WEIGHTS)
    repeats = rng.integers(1, 4, size=people)
    idx = np.repeat(np.arange(people), repeats)
    offset = np.concatenate([np.arange(r) * rng.integers(1, 4) for r in repeats])
    frame = pd.DataFrame(
        {
            "detected_at": _at(day, np.minimum(seconds[idx] + offset, 86_399)),
            "station_code": station[idx],
            "camera_id": camera[idx],
            "track_id": np.array(tracks)[idx],
            "age_band": age[idx],
            "direction": direction[idx],
        }
    )
    return frame.sort_values(["detected_at", "camera_id", "track_id"]).reset_index(drop=True)


def ic_gates(seed: int, day: date) -> pd.DataFrame:
    """Gate taps: most cards enter, then exit at another station the same day; some return."""
    pool_rng = np.random.default_rng([seed, _stable("card_pool")])
    pool = np.array([f"P{code:016x}" for code in pool_rng.choice(2**62, _CARD_POOL, replace=False)])
    pool_fare = pool_rng.choice(["adult", "child"], size=_CARD_POOL, p=[0.92, 0.08])
    home = pool_rng.choice(len(STATIONS), size=_CARD_POOL, p=_weights())
    work = pool_rng.choice(len(STATIONS), size=_CARD_POOL, p=_weights())

    rng = _rng(seed, "ic_gates", day)
    riders = rng.choice(_CARD_POOL, size=int(rng.integers(1300, 1600)), replace=False)
    codes = [s.code for s in STATIONS]
    rows: list[tuple[int, str, str, str, str]] = []  # seconds, station, card, direction, fare

    def trip(card: int, start: int, origin: str, destination: str, complete: bool) -> None:
        rows.append((start, origin, pool[card], "entry", pool_fare[card]))
        if complete:
            arrive = min(start + int(rng.integers(240, 2400)), 86_399)
            rows.append((arrive, destination, pool[card], "exit", pool_fare[card]))

    for card in riders:
        origin, destination = codes[home[card]], codes[work[card]]
        if origin == destination or rng.random() < 0.25:  # not a commute today
            destination = str(rng.choice([c for c in codes if c != origin]))
        if rng.random() < 0.03:
            destination = str(rng.choice(OUTSIDE_STATIONS))
        start = int(_seconds_of_day(rng, 1, until=20)[0])
        trip(card, start, origin, destination, complete=rng.random() > 0.03)
        if rng.random() < 0.35 and destination in codes:  # the way back later that day
            back = start + int(rng.integers(3 * 3600, 10 * 3600))
            if back < 23 * 3600:
                trip(card, back, destination, origin, complete=True)
        earlier = start - int(rng.integers(1800, 7200))
        if rng.random() < 0.02 and earlier >= 5 * 3600:  # exit only: entered outside the district
            rows.append((earlier, origin, pool[card], "exit", pool_fare[card]))

    seconds, station, card, direction, fare = (list(col) for col in zip(*rows, strict=True))
    number = rng.integers(1, 13, len(rows))
    gate = [f"{s}-G{n:02d}" for s, n in zip(station, number, strict=True)]
    frame = pd.DataFrame(
        {
            "event_at": _at(day, np.array(seconds)),
            "station_code": station,
            "gate_id": gate,
            "card_pseudonym": card,
            "direction": direction,
            "fare_class": fare,
        }
    )
    return frame.sort_values(["event_at", "gate_id", "card_pseudonym"]).reset_index(drop=True)


def write_faulty_gate_delivery(landing_dir: Path, day: date) -> Path:
    """Rewrite ``day``'s ic_gates delivery as it arrives after a faulty gate-controller firmware
    update at Osaki (JY24); return the file.

    The faults: every tap at Osaki's gates carries the garbled station code ``JY2?`` (about 9%
    of the rows, so JY24 is missing from the day); about 2% of the card pseudonyms are cut to
    12 characters; and after a reboot the controllers re-send part of their buffer, so about 3%
    of the taps arrive twice. Columns and types are kept and no value is left empty, so the file
    still passes ingest; its quality suite fails in accuracy, completeness and consistency.

    The file is built from the clean delivery of the default seed (as ``write_deliveries``
    writes it), so calling this again gives the same bytes, and
    ``write_deliveries(landing_dir, [day])`` restores the clean file (it also writes the
    snapshot deliveries, named by its first day, as always).
    """
    faulty = ic_gates(7, day)
    rng = np.random.default_rng([_stable("faulty_ic_gates"), day.toordinal()])
    osaki = faulty["gate_id"].str.startswith("JY24-")
    faulty.loc[osaki, "station_code"] = "JY2?"
    cut = rng.random(len(faulty)) < 0.02
    faulty.loc[cut, "card_pseudonym"] = faulty.loc[cut, "card_pseudonym"].str[:12]
    resent = np.flatnonzero(rng.random(len(faulty)) < 0.03)
    faulty = pd.concat([faulty, faulty.iloc[resent]]).sort_index(kind="stable")
    return write_delivery(landing_dir, "ic_gates", day, faulty.reset_index(drop=True))


def station_master(seed: int, day: date) -> pd.DataFrame:
    """The published station list (fixed, no randomness)."""
    return pd.DataFrame(
        {
            "station_code": [s.code for s in STATIONS],
            "station_name_ja": [s.name_ja for s in STATIONS],
            "station_name_en": [s.name_en for s in STATIONS],
            "line": LINE,
            "latitude": [s.latitude for s in STATIONS],
            "longitude": [s.longitude for s in STATIONS],
        }
    )


def app_users(seed: int, day: date, users: int = 300) -> pd.DataFrame:
    """A snapshot of the district app's accounts; about one in ten is closed."""
    rng = _rng(seed, "app_users", day)
    fake = _faker(seed, "app_users", day)
    signup_from = datetime(2024, 4, 1, tzinfo=DISTRICT_TZ)
    snapshot = datetime.combine(day, datetime.min.time(), tzinfo=DISTRICT_TZ)
    consented = [
        signup_from + timedelta(seconds=int(s))
        for s in rng.integers(0, int((snapshot - signup_from).total_seconds()) - 86_400 * 60, users)
    ]
    closed: list[datetime | None] = [
        # Closed between 60 days and 1 day before the snapshot: some are already past retention.
        snapshot - timedelta(seconds=int(rng.integers(86_400, 86_400 * 60)))
        if rng.random() < 0.1
        else None
        for _ in range(users)
    ]
    frame = pd.DataFrame(
        {
            "user_id": [f"U{n:06d}" for n in range(1, users + 1)],
            "full_name": [fake.name() for _ in range(users)],
            "address": [fake.address().replace("\n", " ") for _ in range(users)],
            "email": [fake.unique.safe_email() for _ in range(users)],
            "birth_year": rng.integers(1945, 2011, size=users),
            "consent_marketing": rng.random(users) < 0.55,
            "consent_profiling": rng.random(users) < 0.35,
            "consented_at": pd.to_datetime(consented).tz_convert("UTC"),
            "account_closed_at": pd.to_datetime(closed, utc=True),
        }
    )
    return frame


def shop_sales(seed: int, day: date, shops: int = 60) -> pd.DataFrame:
    """One row per shop: the day's sales in yen and receipts; weekends are busier."""
    layout = np.random.default_rng([seed, _stable("shops")])
    category = layout.choice(_SHOP_CATEGORIES, size=shops)
    size = layout.lognormal(0.0, 0.4, size=shops)
    rng = _rng(seed, "shop_sales", day)
    busy = 1.3 if day.weekday() >= 5 else 1.0
    customers = rng.poisson(180 * size * busy)
    spend = np.where(np.isin(category, ["electronics", "fashion"]), 6500, 1800)
    sales = np.round(customers * spend * rng.lognormal(0.0, 0.15, size=shops), -1)
    return pd.DataFrame(
        {
            "shop_id": [f"S{n:03d}" for n in range(1, shops + 1)],
            "category": category,
            "sales_jpy": sales.astype("int64"),
            "customers": customers.astype("int64"),
        }
    )


def bus_ridership(seed: int, day: date) -> pd.DataFrame:
    """Boardings and alightings per route, stop and service hour (06:00-23:00)."""
    rng = _rng(seed, "bus_ridership", day)
    rows = []
    for route, stops in _BUS_ROUTES.items():
        for stop in range(1, stops + 1):
            for hour in range(6, 24):
                demand = 4 + 3 * _HOURLY_PROFILE[hour]
                rows.append(
                    (route, f"{route}-{stop:02d}", hour, *rng.poisson(demand, size=2).tolist())
                )
    return pd.DataFrame(
        rows, columns=["route_id", "stop_code", "hour", "boardings", "alightings"]
    ).astype({"hour": "int64", "boardings": "int64", "alightings": "int64"})


def cultural_photos(seed: int, day: date, photos: int = 30) -> pd.DataFrame:
    """The archive's catalogue of photographs of the district's cultural properties."""
    rng = _rng(seed, "cultural_photos", day)
    fake = _faker(seed, "cultural_photos", day)
    subjects = (
        "高輪築堤跡 第七橋梁",
        "高輪築堤跡 信号機土台",
        "高輪築堤跡 公園口付近",
        "泉岳寺 山門",
        "高輪大木戸跡",
        "東禅寺 仏殿",
        "品川宿 本陣跡",
    )
    titles = [f"{rng.choice(subjects)} ({n})" for n in range(1, photos + 1)]
    return pd.DataFrame(
        {
            "photo_id": [f"TLHA-{n:05d}" for n in range(1, photos + 1)],
            "title": titles,
            "photographer": [fake.name() for _ in range(photos)],
            "taken_year": rng.integers(1960, 2026, size=photos).astype("int64"),
            "image_uri": [
                f"https://archive.takanawa-history.example/photos/TLHA-{n:05d}.jpg"
                for n in range(1, photos + 1)
            ],
        }
    )


_Builder = Callable[[int, date], pd.DataFrame]
_DAILY: dict[str, _Builder] = {
    "station_cameras": station_cameras,
    "ic_gates": ic_gates,
    "shop_sales": shop_sales,
    "bus_ridership": bus_ridership,
}
_SNAPSHOTS: dict[str, _Builder] = {
    "station_master": station_master,
    "app_users": app_users,
    "cultural_photos": cultural_photos,
}


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _rng(seed: int, folder: str, day: date) -> np.random.Generator:
    """One independent stream per (seed, folder, day)."""
    return np.random.default_rng([seed, _stable(folder), day.toordinal()])


def _faker(seed: int, folder: str, day: date) -> Faker:
    from faker import Faker  # imported here: only the snapshot builders need it

    fake = Faker("ja_JP")
    fake.seed_instance(seed * 1_000_003 + _stable(folder) + day.toordinal())
    return fake


def _weights(codes: tuple[str, ...] | None = None) -> np.ndarray:
    chosen = [s for s in STATIONS if codes is None or s.code in codes]
    weights = np.array([s.weight for s in chosen])
    return weights / weights.sum()


def _seconds_of_day(rng: np.random.Generator, n: int, until: int = 24) -> np.ndarray:
    """Seconds after midnight, following the hourly profile (hours before ``until`` only)."""
    profile = _HOURLY_PROFILE.copy()
    profile[until:] = 0
    hours = rng.choice(24, size=n, p=profile / profile.sum())
    return hours * 3600 + rng.integers(0, 3600, size=n)


def _at(day: date, seconds: np.ndarray) -> pd.Series:
    """Tokyo-time instants ``seconds`` after the start of ``day``, as UTC."""
    start = pd.Timestamp(day.isoformat(), tz=DISTRICT_TZ)
    return pd.Series(start + pd.to_timedelta(seconds, unit="s")).dt.tz_convert("UTC")


def _iso_district(column: pd.Series) -> pd.Series:
    """ISO 8601 in district time, to the second, e.g. ``2026-11-01T08:15:30+09:00``."""
    values = pd.to_datetime(column, utc=True).dt.tz_convert(DISTRICT_TZ)
    text = values.dt.strftime("%Y-%m-%dT%H:%M:%S") + DISTRICT_OFFSET
    return text.where(values.notna(), None).astype("object")
