"""Unit tests of the prediction log on real SQLite files in temporary folders."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.config import Settings
from fakescope.errors import StoreError
from fakescope.store import (
    CURRENT_SCHEMA_VERSION,
    PREDICTION_COLUMNS,
    REJECTION_COLUMNS,
    PredictionStore,
    feature_names,
)
from fakescope.verdicts import Prediction, Rejection

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def make_prediction(i: int = 0, version: str = "v1", **changes: object) -> Prediction:
    fields: dict = dict(
        verdict="fake",
        fake_probability=0.75,
        scores={"Fake": 0.75, "Real": 0.25},
        model_name="demo",
        model_version=version,
        latency_ms=12.5 + i,
        sha256=f"{i:064x}",
        features={
            "width": 640.0,
            "height": 480.0,
            "brightness": 0.5 + i / 1000,
            "jpeg_quality": None,
        },
        name=f"img{i}.png",
    )
    fields.update(changes)
    return Prediction(**fields)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "predictions.db"


@pytest.fixture
def store(db_path: Path) -> PredictionStore:
    with PredictionStore(f"sqlite:///{db_path}") as opened:
        yield opened


def test_store_prediction_round_trip_keeps_every_field(store: PredictionStore) -> None:
    store.record_prediction(make_prediction(3), source="cli", recorded_at=T0)

    frame = store.predictions()

    assert list(frame.columns[: len(PREDICTION_COLUMNS)]) == list(PREDICTION_COLUMNS)
    row = frame.iloc[0]
    assert row["recorded_at"] == pd.Timestamp("2025-03-01 12:00:00", tz="UTC")
    assert str(frame["recorded_at"].dt.tz) == "UTC"
    assert (row["source"], row["model_name"], row["model_version"]) == ("cli", "demo", "v1")
    assert row["verdict"] == "fake"
    assert row["fake_probability"] == 0.75
    assert row["confidence"] == 0.75
    assert row["latency_ms"] == 15.5
    assert row["sha256"] == f"{3:064x}"
    assert row["input_name"] == "img3.png"
    assert row["scores"] == {"Fake": 0.75, "Real": 0.25}
    assert row["width"] == 640.0 and row["height"] == 480.0
    assert row["brightness"] == pytest.approx(0.503)
    assert np.isnan(row["jpeg_quality"])
    assert store.count() == 1


def test_store_feature_columns_follow_feature_names_even_when_empty(
    store: PredictionStore,
) -> None:
    frame = store.predictions()

    assert frame.empty
    assert list(frame.columns) == list(PREDICTION_COLUMNS) + list(feature_names())
    assert all(frame[name].dtype == "float64" for name in feature_names())


def test_store_unknown_features_become_extra_columns_and_nan_is_missing(
    store: PredictionStore,
) -> None:
    store.record_prediction(
        make_prediction(features={"width": float("nan"), "noise": 2.0}), source="cli"
    )
    store.record_prediction(make_prediction(features={"width": float("inf")}), source="cli")

    frame = store.predictions()

    assert frame.columns[-1] == "noise"
    assert frame["noise"].tolist()[0] == 2.0 and np.isnan(frame["noise"].tolist()[1])
    assert frame["width"].isna().all()


def test_store_aware_time_is_converted_to_utc(store: PredictionStore) -> None:
    paris = timezone(timedelta(hours=2))
    store.record_prediction(
        make_prediction(), source="cli", recorded_at=datetime(2025, 3, 1, 14, 0, tzinfo=paris)
    )
    store.record_prediction(make_prediction(), source="cli", recorded_at=datetime(2025, 3, 1, 13))

    times = store.predictions()["recorded_at"].tolist()

    assert times == [
        pd.Timestamp("2025-03-01 12:00", tz="UTC"),
        pd.Timestamp("2025-03-01 13:00", tz="UTC"),
    ]


def test_store_default_time_is_now_utc(store: PredictionStore) -> None:
    before = datetime.now(timezone.utc)
    store.record_prediction(make_prediction(), source="dashboard")
    after = datetime.now(timezone.utc)

    recorded = store.predictions()["recorded_at"].iloc[0]

    assert before - timedelta(seconds=1) <= recorded <= after + timedelta(seconds=1)


def test_store_batch_with_a_bad_prediction_writes_nothing(store: PredictionStore) -> None:
    batch = [make_prediction(0), make_prediction(1, fake_probability=1.5), make_prediction(2)]

    with pytest.raises(StoreError, match=r"fake_probability must be a number in \[0, 1\]"):
        store.record_predictions(batch, source="cli")

    assert store.count() == 0


def test_store_batch_insert_keeps_order(store: PredictionStore) -> None:
    store.record_predictions([make_prediction(i) for i in range(5)], source="simulate")

    frame = store.predictions()

    assert frame["sha256"].tolist() == [f"{i:064x}" for i in range(5)]
    assert set(frame["source"]) == {"simulate"}


def test_store_rejects_a_non_prediction(store: PredictionStore) -> None:
    with pytest.raises(StoreError, match="takes a fakescope.verdicts.Prediction, got dict"):
        store.record_prediction({"verdict": "fake"}, source="cli")  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["", "   ", "x" * 65, None])
def test_store_bad_source_is_refused(store: PredictionStore, source: object) -> None:
    with pytest.raises(StoreError, match="source must be a short non-empty name"):
        store.record_prediction(make_prediction(), source=source)  # type: ignore[arg-type]


def test_store_non_numeric_feature_is_refused(store: PredictionStore) -> None:
    with pytest.raises(StoreError, match="feature 'width' must be a number or None, got 'big'"):
        store.record_prediction(make_prediction(features={"width": "big"}), source="cli")


def test_store_rejection_round_trip(store: PredictionStore) -> None:
    rejection = Rejection("corrupt", "not an image; accepted: JPEG, PNG", "bad.jpg", "ab" * 32)
    store.record_rejection(
        rejection, source="dashboard", model_name="demo", model_version="v2", recorded_at=T0
    )
    store.record_rejection(Rejection("empty", "empty file"), source="cli", recorded_at=T0)

    frame = store.rejections()

    assert list(frame.columns) == list(REJECTION_COLUMNS)
    first = frame.iloc[0]
    assert first["recorded_at"] == pd.Timestamp(T0)
    assert (first["source"], first["model_name"], first["model_version"]) == (
        "dashboard",
        "demo",
        "v2",
    )
    assert (first["reason"], first["message"]) == ("corrupt", "not an image; accepted: JPEG, PNG")
    assert (first["input_name"], first["sha256"]) == ("bad.jpg", "ab" * 32)
    assert frame["model_version"].isna().tolist() == [False, True]
    assert store.count_rejections() == 2
    assert store.count() == 0


def test_store_filters_by_time_version_source_and_limit(store: PredictionStore) -> None:
    for i in range(6):
        store.record_prediction(
            make_prediction(i, version="v1" if i < 3 else "v2"),
            source="cli" if i % 2 else "dashboard",
            recorded_at=T0 + timedelta(minutes=i),
        )

    def shas(frame: pd.DataFrame) -> list[int]:
        return [int(s, 16) for s in frame["sha256"]]

    assert shas(store.predictions(since=T0 + timedelta(minutes=2))) == [2, 3, 4, 5]
    assert shas(store.predictions(until=T0 + timedelta(minutes=2))) == [0, 1]
    assert shas(store.predictions(model_version="v2")) == [3, 4, 5]
    assert shas(store.predictions(source="cli")) == [1, 3, 5]
    assert shas(store.predictions(limit=2)) == [4, 5]
    assert shas(store.predictions(model_version="v1", limit=2)) == [1, 2]
    assert store.predictions(limit=0).empty


def test_store_bad_limit_is_refused(store: PredictionStore) -> None:
    with pytest.raises(StoreError, match="limit must be a whole number >= 0"):
        store.predictions(limit=-1)


def test_store_model_versions_in_order_of_first_prediction(store: PredictionStore) -> None:
    store.record_prediction(make_prediction(version="v2"), source="cli", recorded_at=T0)
    store.record_prediction(
        make_prediction(version="v1"), source="cli", recorded_at=T0 + timedelta(hours=1)
    )
    store.record_prediction(
        make_prediction(version="v2"), source="cli", recorded_at=T0 + timedelta(hours=2)
    )

    assert store.model_versions() == ["v2", "v1"]


def test_store_prune_keeps_the_newest_rows(db_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{db_path}", retention_max_rows=3, prune_every=1000)
    # Inserted out of time order: retention follows recorded_at, not insertion order.
    for i in (4, 0, 3, 1, 2):
        store.record_prediction(make_prediction(i), source="cli", recorded_at=T0 + timedelta(i))
    store.record_rejection(Rejection("empty", "e"), source="cli", recorded_at=T0)

    removed = store.prune()

    assert removed == 2
    assert [int(s, 16) for s in store.predictions()["sha256"]] == [2, 3, 4]
    assert store.count_rejections() == 1


def test_store_prune_by_age(db_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{db_path}", retention_days=7, prune_every=1000)
    now = datetime.now(timezone.utc)
    store.record_prediction(make_prediction(0), source="cli", recorded_at=now - timedelta(days=8))
    store.record_prediction(make_prediction(1), source="cli", recorded_at=now - timedelta(days=6))
    store.record_rejection(Rejection("empty", "e"), source="cli", recorded_at=now - timedelta(9))

    assert store.prune() == 2
    assert [int(s, 16) for s in store.predictions()["sha256"]] == [1]
    assert store.count_rejections() == 0


def test_store_prunes_automatically_every_n_inserts(db_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{db_path}", retention_max_rows=4, prune_every=5)
    for i in range(4):
        store.record_prediction(make_prediction(i), source="cli")
    store.record_prediction(make_prediction(4), source="cli")
    assert store.count() == 4  # fifth insert triggered a prune
    store.record_predictions([make_prediction(i) for i in range(5, 8)], source="cli")
    assert store.count() == 7  # not due yet: caps are soft between prunes


def test_store_without_caps_never_prunes(store: PredictionStore) -> None:
    store.record_predictions([make_prediction(i) for i in range(3)], source="cli")

    assert store.prune() == 0
    assert store.count() == 3


def test_store_negative_retention_is_refused(db_path: Path) -> None:
    with pytest.raises(StoreError, match="0 \\(no cap\\) or positive"):
        PredictionStore(f"sqlite:///{db_path}", retention_days=-1)


def test_store_from_settings_creates_the_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "deep" / "data"
    settings = Settings(data_dir=data_dir, retention_max_rows=10, retention_days=3)

    store = PredictionStore.from_settings(settings)
    store.record_prediction(make_prediction(), source="cli")

    assert (data_dir / "predictions.db").is_file()
    assert (store.retention_max_rows, store.retention_days) == (10, 3)


def test_store_sqlite_file_is_in_wal_mode(store: PredictionStore, db_path: Path) -> None:
    store.record_prediction(make_prediction(), source="cli")

    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_in_memory_works(tmp_path: Path) -> None:
    store = PredictionStore("sqlite://")
    store.record_prediction(make_prediction(), source="cli")

    assert store.count() == 1
    assert store.schema_version() == CURRENT_SCHEMA_VERSION


def test_store_new_database_has_current_schema_version(store: PredictionStore) -> None:
    assert store.schema_version() == CURRENT_SCHEMA_VERSION == 3


V1_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DATETIME NOT NULL);
INSERT INTO schema_version VALUES (1, '2024-06-01 00:00:00.000000');
CREATE TABLE predictions (
    id INTEGER NOT NULL PRIMARY KEY,
    recorded_at DATETIME NOT NULL,
    model_name TEXT NOT NULL,
    model_version VARCHAR(200) NOT NULL,
    verdict VARCHAR(16) NOT NULL,
    fake_probability FLOAT NOT NULL,
    latency_ms FLOAT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    input_name TEXT,
    features TEXT NOT NULL,
    scores TEXT NOT NULL
);
INSERT INTO predictions VALUES (1, '2024-06-01 10:00:00.000000', 'demo', 'v0', 'real', 0.1,
    20.0, 'aa', 'a.jpg', '{"width": 100.0, "brightness": 0.2}', '{"Real": 0.9, "Fake": 0.1}');
INSERT INTO predictions VALUES (2, '2024-06-01 11:00:00.000000', 'demo', 'v0', 'fake', 0.9,
    30.0, 'bb', NULL, '{"width": 200.0}', '{"Real": 0.1, "Fake": 0.9}');
"""


def test_store_migrates_a_v1_database_keeping_every_row(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.executescript(V1_SCHEMA)

    store = PredictionStore(f"sqlite:///{db_path}")

    assert store.schema_version() == 3
    frame = store.predictions()
    assert frame["id"].tolist() == [1, 2]
    assert frame["source"].tolist() == ["unknown", "unknown"]
    assert frame["sha256"].tolist() == ["aa", "bb"]
    assert frame["width"].tolist() == [100.0, 200.0]
    assert frame["recorded_at"].iloc[1] == pd.Timestamp("2024-06-01 11:00", tz="UTC")
    store.record_prediction(make_prediction(), source="cli")
    store.record_rejection(Rejection("empty", "e"), source="cli")
    assert (store.count(), store.count_rejections()) == (3, 1)
    with sqlite3.connect(db_path) as raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [1, 2, 3]


def test_store_migrates_a_v1_database_without_version_table(db_path: Path) -> None:
    legacy = V1_SCHEMA.replace(
        "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DATETIME NOT NULL);\n"
        "INSERT INTO schema_version VALUES (1, '2024-06-01 00:00:00.000000');\n",
        "",
    )
    with sqlite3.connect(db_path) as raw:
        raw.executescript(legacy)

    store = PredictionStore(f"sqlite:///{db_path}")

    assert store.schema_version() == 3
    assert store.count() == 2


def test_store_reopening_does_not_migrate_again(db_path: Path) -> None:
    PredictionStore(f"sqlite:///{db_path}").record_prediction(make_prediction(), source="cli")
    reopened = PredictionStore(f"sqlite:///{db_path}")

    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    assert reopened.count() == 1


def test_store_newer_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    PredictionStore(f"sqlite:///{db_path}").record_prediction(make_prediction(), source="cli")
    with sqlite3.connect(db_path) as raw:
        raw.execute("INSERT INTO schema_version VALUES (4, '2030-01-01 00:00:00')")

    with pytest.raises(StoreError, match="schema version 4, newer than .* understands \\(3\\)"):
        PredictionStore(f"sqlite:///{db_path}")

    with sqlite3.connect(db_path) as raw:
        assert raw.execute("SELECT count(*) FROM predictions").fetchone()[0] == 1
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone()[0] == 4


def test_store_foreign_predictions_table_is_refused(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.execute("CREATE TABLE predictions (x INTEGER)")

    with pytest.raises(StoreError, match="not a FakeScope prediction log"):
        PredictionStore(f"sqlite:///{db_path}")


def test_store_file_that_is_not_a_database_gives_store_error(db_path: Path) -> None:
    db_path.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(StoreError, match=f"cannot open the prediction log at sqlite:///{db_path}"):
        PredictionStore(f"sqlite:///{db_path}")


def test_store_missing_folder_gives_store_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/predictions.db"

    with pytest.raises(StoreError, match="unable to open database file"):
        PredictionStore(url)


def test_store_bad_url_names_accepted_forms() -> None:
    with pytest.raises(StoreError, match="not a database URL: 'not a url'.*sqlite:///"):
        PredictionStore("not a url")


def test_store_error_hides_the_password() -> None:
    url = "postgresql+psycopg://fakescope:s3cret@127.0.0.1:1/log"

    with pytest.raises(StoreError) as caught:
        PredictionStore(url)

    assert "s3cret" not in str(caught.value)
    assert "postgresql+psycopg://fakescope:***@127.0.0.1:1/log" in str(caught.value)


# ------------------------------------------------------------------------- hostile names


def test_store_name_that_is_not_utf8_is_kept_in_a_safe_form(store: PredictionStore) -> None:
    # os.fsdecode turns the bytes 0xff 0xfe of a Linux file name into lone surrogates, which
    # SQLite cannot encode: the write raised UnicodeEncodeError before the safe form.
    name = os.fsdecode(b"/photos/caf\xff\xfe.jpg")
    store.record_prediction(make_prediction(name=name), source="cli")
    store.record_rejection(Rejection("corrupt", f"Cannot decode {name}", name, None), source="cli")

    assert store.predictions()["input_name"].tolist() == ["/photos/caf\\xff\\xfe.jpg"]
    rejection = store.rejections().iloc[0]
    assert rejection["input_name"] == "/photos/caf\\xff\\xfe.jpg"
    assert rejection["message"] == "Cannot decode /photos/caf\\xff\\xfe.jpg"


def test_store_name_with_control_characters_is_stored_printable(store: PredictionStore) -> None:
    name = "\x1b[2J\rreal.jpg\u202egpj.exe\n"
    store.record_prediction(make_prediction(name=name), source="dashboard")

    stored = store.predictions()["input_name"][0]
    assert stored == "\\x1b[2J\\rreal.jpg\\u202egpj.exe\\n"
    assert stored.isprintable()


def test_store_ordinary_names_are_stored_unchanged(store: PredictionStore) -> None:
    names = ["photo.jpg", "Фото 2024 (1).png", "写真.webp", "=sum(1).jpg"]
    store.record_predictions(
        [make_prediction(i, name=n) for i, n in enumerate(names)], source="cli"
    )
    assert store.predictions()["input_name"].tolist() == names
