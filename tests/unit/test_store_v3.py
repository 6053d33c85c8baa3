"""Schema version 3 of the prediction log: migration, embeddings, labels, references, alerts.

Real SQLite files in temporary folders; older databases are built from their own SQL here, never
from today's code.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.errors import StoreError
from fakescope.store import (
    ALERT_COLUMNS,
    LABEL_COLUMNS,
    LABELLED_COLUMNS,
    PREDICTION_COLUMNS,
    PredictionStore,
    embedding_matrix,
)
from fakescope.verdicts import Prediction, Rejection

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
SPACE = "pca4-0123456789ab"


def sha(i: int) -> str:
    return f"{i:064x}"


def make_prediction(i: int = 0, version: str = "v1", **changes: object) -> Prediction:
    fields: dict = dict(
        verdict="fake",
        fake_probability=0.75,
        scores={"Fake": 0.75, "Real": 0.25},
        model_name="demo",
        model_version=version,
        latency_ms=12.5,
        sha256=sha(i),
        features={"width": 640.0, "brightness": 0.5},
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


def tables(db_path: Path) -> set[str]:
    with sqlite3.connect(db_path) as raw:
        return {n for (n,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def versions(db_path: Path) -> list[int]:
    with sqlite3.connect(db_path) as raw:
        return [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY 1")]


# ------------------------------------------------------------------------------ schema / migration

# The DDL FakeScope's schema version 2 wrote (SQLAlchemy's output for SQLite), with rows.
V2_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DATETIME NOT NULL);
INSERT INTO schema_version VALUES (2, '2025-01-01 00:00:00.000000');
CREATE TABLE predictions (
    id INTEGER NOT NULL,
    recorded_at DATETIME NOT NULL,
    source VARCHAR(64) DEFAULT 'unknown' NOT NULL,
    model_name TEXT NOT NULL,
    model_version VARCHAR(200) NOT NULL,
    verdict VARCHAR(16) NOT NULL,
    fake_probability FLOAT NOT NULL,
    latency_ms FLOAT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    input_name TEXT,
    features TEXT NOT NULL,
    scores TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX ix_predictions_model_version ON predictions (model_version);
CREATE INDEX ix_predictions_recorded_at ON predictions (recorded_at);
CREATE TABLE rejections (
    id INTEGER NOT NULL,
    recorded_at DATETIME NOT NULL,
    source VARCHAR(64) NOT NULL,
    model_name TEXT,
    model_version VARCHAR(200),
    reason VARCHAR(64) NOT NULL,
    message TEXT NOT NULL,
    input_name TEXT,
    sha256 VARCHAR(64),
    PRIMARY KEY (id)
);
CREATE INDEX ix_rejections_recorded_at ON rejections (recorded_at);
"""


def v2_rows(n: int) -> str:
    rows = [
        f"INSERT INTO predictions VALUES ({i}, '2025-01-02 10:{i:02d}:00.000000', 'cli', 'demo', "
        f"'v1', '{'fake' if i % 2 else 'real'}', {i / 100}, {10 + i}, '{sha(i)}', 'f{i}.jpg', "
        f'\'{{"width": {100 + i}.0}}\', \'{{"Real": 0.5, "Fake": 0.5}}\');'
        for i in range(1, n + 1)
    ]
    rows.append(
        "INSERT INTO rejections VALUES (1, '2025-01-02 11:00:00.000000', 'api', 'demo', 'v1', "
        "'empty', 'The file is empty', 'e.jpg', NULL);"
    )
    return "\n".join(rows)


def test_store_v3_new_database_has_every_table(store: PredictionStore, db_path: Path) -> None:
    assert store.schema_version() == 3
    assert {"predictions", "rejections", "labels", "drift_references", "alerts"} <= tables(db_path)
    with sqlite3.connect(db_path) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(predictions)")}
    assert {"embedding", "embedding_space"} <= columns


def test_store_v3_migrates_a_v2_database_keeping_every_row(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.executescript(V2_SCHEMA + v2_rows(25))

    store = PredictionStore(f"sqlite:///{db_path}")

    assert store.schema_version() == 3
    assert versions(db_path) == [2, 3]
    assert (store.count(), store.count_rejections()) == (25, 1)
    frame = store.predictions(embeddings=True)
    assert frame["id"].tolist() == list(range(1, 26))
    assert frame["sha256"].tolist() == [sha(i) for i in range(1, 26)]
    assert frame["fake_probability"].tolist() == pytest.approx([i / 100 for i in range(1, 26)])
    assert frame["width"].tolist() == [100.0 + i for i in range(1, 26)]
    assert frame["source"].unique().tolist() == ["cli"]
    assert frame["embedding"].isna().all() and frame["embedding_space"].isna().all()
    assert store.rejections()["reason"].tolist() == ["empty"]
    # The new tables work on the migrated log.
    assert store.record_label(truth="real", prediction_id=3) == 1
    assert store.labelled_predictions()["id"].tolist() == [3]
    store.record_prediction(
        make_prediction(99, embedding=(0.5,), embedding_space=SPACE), source="cli"
    )
    assert store.count() == 26


def test_store_v3_migrates_a_v2_shaped_log_without_version_table(db_path: Path) -> None:
    legacy = V2_SCHEMA.replace(
        "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DATETIME NOT NULL);\n"
        "INSERT INTO schema_version VALUES (2, '2025-01-01 00:00:00.000000');\n",
        "",
    )
    with sqlite3.connect(db_path) as raw:
        raw.executescript(legacy + v2_rows(3))

    store = PredictionStore(f"sqlite:///{db_path}")

    assert versions(db_path) == [2, 3]  # recognised as version 2 by its shape, not 1
    assert store.count() == 3


def test_store_v3_migration_that_fails_changes_nothing(db_path: Path) -> None:
    # An index already named like one of version 3's makes the migration fail half-way.
    with sqlite3.connect(db_path) as raw:
        raw.executescript(V2_SCHEMA + v2_rows(4))
        raw.execute("CREATE INDEX ix_labels_sha256 ON rejections (sha256)")

    with pytest.raises(StoreError, match="ix_labels_sha256"):
        PredictionStore(f"sqlite:///{db_path}")

    assert versions(db_path) == [2]
    assert "labels" not in tables(db_path)
    with sqlite3.connect(db_path) as raw:
        columns = {row[1] for row in raw.execute("PRAGMA table_info(predictions)")}
        assert raw.execute("SELECT count(*) FROM predictions").fetchone()[0] == 4
    assert "embedding" not in columns


def test_store_v3_migrates_a_v1_database_through_v2(db_path: Path) -> None:
    with sqlite3.connect(db_path) as raw:
        raw.executescript("""
            CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at DATETIME NOT NULL);
            INSERT INTO schema_version VALUES (1, '2024-06-01 00:00:00.000000');
            CREATE TABLE predictions (
                id INTEGER NOT NULL PRIMARY KEY, recorded_at DATETIME NOT NULL,
                model_name TEXT NOT NULL, model_version VARCHAR(200) NOT NULL,
                verdict VARCHAR(16) NOT NULL, fake_probability FLOAT NOT NULL,
                latency_ms FLOAT NOT NULL, sha256 VARCHAR(64) NOT NULL, input_name TEXT,
                features TEXT NOT NULL, scores TEXT NOT NULL);
            INSERT INTO predictions VALUES (1, '2024-06-01 10:00:00', 'demo', 'v0', 'real', 0.1,
                20.0, 'aa', 'a.jpg', '{}', '{}');
            """)

    store = PredictionStore(f"sqlite:///{db_path}")

    assert versions(db_path) == [1, 2, 3]
    row = store.predictions(embeddings=True).iloc[0]
    assert (row["source"], row["sha256"], row["embedding"]) == ("unknown", "aa", None)


def test_store_v3_reopening_does_not_migrate_again(db_path: Path) -> None:
    PredictionStore(f"sqlite:///{db_path}").record_label(truth="fake", sha256=sha(1))
    reopened = PredictionStore(f"sqlite:///{db_path}")

    assert versions(db_path) == [3]
    assert reopened.count_labels() == 1


# ----------------------------------------------------------------------------------- embeddings


def test_store_embedding_round_trip_at_float32(store: PredictionStore, db_path: Path) -> None:
    values = (0.5, -1.25, 0.1, 3.0e-8)
    store.record_prediction(
        make_prediction(1, embedding=values, embedding_space=SPACE), source="cli", recorded_at=T0
    )
    store.record_prediction(make_prediction(2), source="cli", recorded_at=T0)

    frame = store.predictions(embeddings=True)

    first, second = frame.iloc[0], frame.iloc[1]
    assert isinstance(first["embedding"], np.ndarray) and first["embedding"].dtype == np.float32
    np.testing.assert_array_equal(first["embedding"], np.asarray(values, dtype=np.float32))
    assert first["embedding_space"] == SPACE
    assert second["embedding"] is None and pd.isna(second["embedding_space"])
    with sqlite3.connect(db_path) as raw:
        text = raw.execute("SELECT embedding FROM predictions WHERE id = 1").fetchone()[0]
    assert text == "[0.5,-1.25,0.1,3e-08]"  # shortest exact float32 form, valid JSON


def test_store_frames_without_embeddings_keep_their_columns(store: PredictionStore) -> None:
    store.record_prediction(
        make_prediction(1, embedding=[1.0], embedding_space=SPACE), source="cli"
    )

    frame = store.predictions()

    assert list(frame.columns[: len(PREDICTION_COLUMNS)]) == list(PREDICTION_COLUMNS)
    assert "embedding" not in frame.columns and "embedding_space" not in frame.columns
    assert list(store.predictions(embeddings=True).columns[-2:]) == ["embedding", "embedding_space"]


@pytest.mark.parametrize(
    "embedding, space, message",
    [
        ((0.1, float("nan")), SPACE, "finite numbers only"),
        ((float("inf"),), SPACE, "finite numbers only"),
        ((1e39,), SPACE, "fit in float32"),
        ((), SPACE, "1 to 4096 numbers"),
        (((1.0, 2.0),), SPACE, "flat list"),
        ((0.1,), None, "needs its embedding_space"),
        ((0.1,), "x" * 65, "at most 64 characters"),
    ],
)
def test_store_bad_embedding_is_refused_and_the_batch_not_written(
    store: PredictionStore, embedding: tuple, space: str | None, message: str
) -> None:
    bad = make_prediction(2, embedding=embedding, embedding_space=space)

    with pytest.raises(StoreError, match=message):
        store.record_predictions([make_prediction(1), bad], source="cli")

    assert store.count() == 0


def test_embedding_matrix_stacks_one_space(store: PredictionStore) -> None:
    store.record_predictions(
        [
            make_prediction(1, embedding=(1.0, 2.0), embedding_space="a"),
            make_prediction(2, embedding=(9.0, 9.0, 9.0), embedding_space="b"),
            make_prediction(3),
            make_prediction(4, embedding=(3.0, 4.0), embedding_space="a"),
        ],
        source="cli",
    )
    frame = store.predictions(embeddings=True)

    matrix = embedding_matrix(frame, "a")

    np.testing.assert_array_equal(matrix, np.array([[1, 2], [3, 4]], dtype=np.float32))
    assert matrix.dtype == np.float32
    assert embedding_matrix(frame, "b").shape == (1, 3)
    assert embedding_matrix(frame, "unknown").shape == (0, 0)
    with pytest.raises(StoreError, match="embeddings=True"):
        embedding_matrix(store.predictions(), "a")


def test_prediction_to_dict_leaves_the_embedding_out_unless_asked() -> None:
    prediction = make_prediction(1, embedding=np.array([0.5, 1.5]), embedding_space=SPACE)

    assert prediction.embedding == (0.5, 1.5)
    assert "embedding" not in prediction.to_dict()
    assert "embedding_space" not in prediction.to_dict()
    full = prediction.to_dict(include_embedding=True)
    assert (full["embedding"], full["embedding_space"]) == ([0.5, 1.5], SPACE)
    assert set(make_prediction(2).to_dict()) == set(prediction.to_dict())


# --------------------------------------------------------------------------------------- labels


def test_label_by_prediction_id_copies_its_hash(store: PredictionStore) -> None:
    store.record_prediction(make_prediction(7), source="cli", recorded_at=T0)
    prediction_id = int(store.predictions()["id"].iloc[0])

    label_id = store.record_label(truth="Real", prediction_id=prediction_id, note="checked")

    labels = store.labels()
    assert list(labels.columns) == list(LABEL_COLUMNS)
    row = labels.iloc[0]
    assert (row["id"], row["prediction_id"], row["sha256"]) == (label_id, prediction_id, sha(7))
    assert (row["truth"], row["source"], row["note"]) == ("real", "cli", "checked")


def test_label_for_an_unknown_prediction_is_refused(store: PredictionStore) -> None:
    with pytest.raises(StoreError, match="no prediction with id 42"):
        store.record_label(truth="fake", prediction_id=42)
    assert store.count_labels() == 0


def test_label_hash_that_disagrees_with_the_prediction_is_refused(store: PredictionStore) -> None:
    store.record_prediction(make_prediction(1), source="cli")

    with pytest.raises(StoreError, match="not " + sha(2)):
        store.record_label(truth="fake", prediction_id=1, sha256=sha(2))
    store.record_label(truth="fake", prediction_id=1, sha256=sha(1).upper())  # agrees
    assert store.count_labels() == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"truth": "fake"}, "prediction_id .* or sha256"),
        ({"truth": "maybe", "sha256": sha(1)}, "truth must be one of 'real', 'fake'"),
        ({"truth": "fake", "sha256": "abc"}, "64 hexadecimal characters"),
        ({"truth": "fake", "prediction_id": True}, "whole number"),
        ({"truth": "fake", "sha256": sha(1), "note": "x" * 501}, "at most 500 characters"),
        ({"truth": "fake", "sha256": sha(1), "source": ""}, "source must be"),
    ],
)
def test_label_bad_values_are_refused(store: PredictionStore, kwargs: dict, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store.record_label(**kwargs)
    assert store.count_labels() == 0


def test_label_note_is_stored_printable(store: PredictionStore) -> None:
    store.record_label(truth="fake", sha256=sha(1), note="a\x1b[2Jb\nc")

    assert store.labels()["note"].iloc[0] == "a\\x1b[2Jb\\nc"


def test_label_never_changes_the_prediction(store: PredictionStore) -> None:
    store.record_predictions([make_prediction(1), make_prediction(2)], source="cli")
    before = store.predictions()

    store.record_label(truth="real", prediction_id=1)
    store.record_label(truth="real", sha256=sha(2))

    pd.testing.assert_frame_equal(store.predictions(), before)


def test_labelled_predictions_id_hash_and_newest_wins(store: PredictionStore) -> None:
    # Image 1 predicted three times, image 2 once, image 3 once and never labelled.
    for minute, i in enumerate((1, 1, 1, 2, 3)):
        store.record_prediction(
            make_prediction(i, version="v2" if minute == 4 else "v1"),
            source="cli",
            recorded_at=T0 + timedelta(minutes=minute),
        )
    at = T0 + timedelta(hours=1)
    store.record_label(truth="real", prediction_id=3, recorded_at=at)  # older than the hash label
    store.record_label(truth="fake", sha256=sha(1), recorded_at=at + timedelta(minutes=1))
    by_id = store.record_label(
        truth="real", prediction_id=2, source="dashboard", recorded_at=at + timedelta(minutes=2)
    )
    store.record_label(truth="real", sha256=sha(2), recorded_at=at)
    newest = store.record_label(truth="fake", sha256=sha(2), recorded_at=at + timedelta(minutes=5))

    frame = store.labelled_predictions()

    assert list(frame.columns[: len(PREDICTION_COLUMNS)]) == list(PREDICTION_COLUMNS)
    assert list(frame.columns[-len(LABELLED_COLUMNS) :]) == list(LABELLED_COLUMNS)
    assert frame["id"].tolist() == [1, 2, 3, 4]  # prediction 5 has no label
    assert frame["truth"].tolist() == ["fake", "real", "fake", "fake"]
    assert (
        frame["label_id"].tolist()[1] == by_id and frame["label_source"].tolist()[1] == "dashboard"
    )
    assert frame["label_id"].tolist()[3] == newest
    assert frame["labelled_at"].iloc[3] == pd.Timestamp(at + timedelta(minutes=5))
    assert frame["verdict"].tolist() == ["fake"] * 4  # the predictions as logged
    assert store.labelled_predictions(model_version="v1")["id"].tolist() == [1, 2, 3, 4]
    assert store.labelled_predictions(since=T0 + timedelta(minutes=2))["id"].tolist() == [3, 4]


def test_labelled_predictions_hash_label_given_before_the_prediction(
    store: PredictionStore,
) -> None:
    store.record_label(truth="real", sha256=sha(5), recorded_at=T0)
    store.record_prediction(make_prediction(5), source="cli", recorded_at=T0 + timedelta(days=1))

    assert store.labelled_predictions()["truth"].tolist() == ["real"]


def test_labels_filters_and_limit(store: PredictionStore) -> None:
    for i in range(5):
        store.record_label(
            truth="fake",
            sha256=sha(i),
            source="cli" if i % 2 else "dashboard",
            recorded_at=T0 + timedelta(minutes=i),
        )

    assert store.labels(limit=2)["sha256"].tolist() == [sha(3), sha(4)]
    assert store.labels(source="cli")["sha256"].tolist() == [sha(1), sha(3)]
    assert store.labels(since=T0 + timedelta(minutes=4))["sha256"].tolist() == [sha(4)]
    assert store.labels()["prediction_id"].isna().all()


def test_find_prediction_by_id_and_newest_of_a_hash(store: PredictionStore) -> None:
    store.record_prediction(make_prediction(1, verdict="real"), source="cli", recorded_at=T0)
    store.record_prediction(
        make_prediction(1, verdict="fake"), source="api", recorded_at=T0 + timedelta(hours=1)
    )

    newest = store.find_prediction(sha256=sha(1))
    assert (newest["id"], newest["verdict"], newest["source"]) == (2, "fake", "api")
    assert newest["recorded_at"] == T0 + timedelta(hours=1)
    assert store.find_prediction(prediction_id=1)["verdict"] == "real"
    assert store.find_prediction(prediction_id=9) is None
    assert store.find_prediction(sha256=sha(2)) is None
    with pytest.raises(StoreError, match="exactly one"):
        store.find_prediction()


# ----------------------------------------------------------------------------------- references

PROFILE = {"features": {"brightness": [0.1, 0.2, None]}, "fake_probability": [0.1, 0.9, 0.5]}


def test_references_crud(store: PredictionStore) -> None:
    store.save_reference(
        "jan baseline",
        {**PROFILE, "n_images": 3},
        model_version="v1",
        description="January",
        created_at=T0,
    )
    store.save_reference(
        "v2_after-fix.1", PROFILE, model_version="v2", description="", created_at=T0 + timedelta(1)
    )

    listed = store.references()
    assert [r["name"] for r in listed] == ["v2_after-fix.1", "jan baseline"]  # newest first
    assert listed[1] == {
        "name": "jan baseline",
        "created_at": T0,
        "model_version": "v1",
        "description": "January",
        "n_images": 3,
    }
    assert listed[0]["n_images"] == 3  # from the longest list when n_images is absent
    assert [r["name"] for r in store.references(model_version="v1")] == ["jan baseline"]
    assert store.reference("jan baseline") == {**PROFILE, "n_images": 3}

    store.delete_reference("jan baseline")
    assert [r["name"] for r in store.references()] == ["v2_after-fix.1"]
    with pytest.raises(
        StoreError, match="no reference named 'jan baseline'; known: 'v2_after-fix.1'"
    ):
        store.reference("jan baseline")
    with pytest.raises(StoreError, match="no reference named 'nope'"):
        store.delete_reference("nope")


def test_reference_duplicate_name_needs_replace(store: PredictionStore) -> None:
    store.save_reference("base", PROFILE, model_version="v1", description="first")

    with pytest.raises(StoreError, match="a reference named 'base' already exists"):
        store.save_reference("base", {"features": {}}, model_version="v1", description="second")
    assert store.reference("base") == PROFILE

    store.save_reference(
        "base", {"features": {}}, model_version="v2", description="second", replace=True
    )
    assert store.reference("base") == {"features": {}}
    assert [(r["model_version"], r["description"]) for r in store.references()] == [
        ("v2", "second")
    ]


def test_unknown_reference_when_none_saved(store: PredictionStore) -> None:
    with pytest.raises(StoreError, match="no reference has been saved"):
        store.reference("x")


@pytest.mark.parametrize(
    "name", ["", " lead", "trail ", "a/b", "x" * 65, "naïve", "tab\there", "semi;colon", 7]
)
def test_reference_bad_names_are_refused_listing_what_is_accepted(
    store: PredictionStore, name: object
) -> None:
    with pytest.raises(
        StoreError, match="letters A-Z and a-z, digits 0-9, space, '_', '.' and '-'"
    ):
        store.save_reference(name, PROFILE, model_version=None, description="")
    assert store.references() == []


def test_reference_profile_must_be_plain_json(store: PredictionStore) -> None:
    with pytest.raises(StoreError, match="NaN written as null"):
        store.save_reference(
            "nan", {"features": {"b": [float("nan")]}}, model_version=None, description=""
        )
    with pytest.raises(StoreError, match="not plain JSON"):
        store.save_reference(
            "array", {"features": {"b": np.zeros(2)}}, model_version=None, description=""
        )


def test_reference_profile_object_with_to_dict_is_converted(store: PredictionStore) -> None:
    class Profile:
        def to_dict(self) -> dict:
            return dict(PROFILE)

    store.save_reference("obj", Profile(), model_version="v1", description="d")  # type: ignore

    assert store.reference("obj") == PROFILE


# --------------------------------------------------------------------------------------- alerts


def test_alert_dedupe_counts_only_sent_alerts(store: PredictionStore) -> None:
    assert store.alert_sent("drift", "v1/2025-03-01T12") is False

    store.record_alert("drift", "v1/2025-03-01T12", "SMTP down", "failed")
    assert store.alert_sent("drift", "v1/2025-03-01T12") is False

    alert_id = store.record_alert("drift", "v1/2025-03-01T12", "drift share 0.6", "sent")
    assert store.alert_sent("drift", "v1/2025-03-01T12") is True
    assert store.alert_sent("drift", "v1/2025-03-01T13") is False
    assert store.alert_sent("latency", "v1/2025-03-01T12") is False

    frame = store.alerts()
    assert list(frame.columns) == list(ALERT_COLUMNS)
    assert frame["id"].tolist() == [alert_id, alert_id - 1]  # newest first
    assert frame["status"].tolist() == ["sent", "failed"]
    assert str(frame["sent_at"].dt.tz) == "UTC"
    assert store.alerts(limit=1)["message"].tolist() == ["drift share 0.6"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("drift", "w", "m", "queued"), "one of 'sent', 'failed'"),
        (("", "w", "m", "sent"), "alert kind must be"),
        (("k" * 65, "w", "m", "sent"), "at most 64"),
        (("drift", "w" * 201, "m", "sent"), "at most 200"),
    ],
)
def test_alert_bad_values_are_refused(store: PredictionStore, args: tuple, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store.record_alert(*args)
    assert store.alerts().empty


# ------------------------------------------------------------------------------------ retention


def test_prune_keeps_labels_references_and_alerts(db_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{db_path}", retention_max_rows=2)
    for i in range(5):
        store.record_prediction(make_prediction(i), source="cli", recorded_at=T0 + timedelta(i))
        store.record_label(truth="real", prediction_id=i + 1)
    store.record_label(truth="fake", sha256=sha(0))
    store.record_rejection(Rejection("empty", "e"), source="cli", recorded_at=T0)
    store.save_reference("r", PROFILE, model_version="v1", description="")
    store.record_alert("drift", "w", "m", "sent")

    store.prune()

    assert store.count() == 2
    assert store.count_labels() == 6
    assert [r["name"] for r in store.references()] == ["r"]
    assert len(store.alerts()) == 1
    assert store.labelled_predictions()["id"].tolist() == [4, 5]
    # A hash label still applies to a later prediction of its image.
    store.record_prediction(make_prediction(0), source="cli", recorded_at=T0 + timedelta(9))
    assert store.labelled_predictions()["truth"].tolist()[-1] == "fake"
