"""Several threads and several processes writing one SQLite prediction log at once."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from fakescope.store import PredictionStore
from fakescope.verdicts import Prediction, Rejection

pytestmark = pytest.mark.integration

ROWS_PER_WRITER = 60
PROCESS_ROWS = 200


def make_prediction(writer: int, i: int) -> Prediction:
    return Prediction(
        verdict="real",
        fake_probability=0.2,
        scores={"Fake": 0.2, "Real": 0.8},
        model_name="demo",
        model_version="v1",
        latency_ms=10.0,
        sha256=f"{writer:032x}{i:032x}",
        features={"width": float(writer), "height": float(i)},
        name=f"w{writer}-{i}.jpg",
    )


def write_rows(url: str, writer: int, rows: int, barrier: object | None = None) -> None:
    """One writer: opens its own store (as a separate process would) and logs row by row."""
    if barrier is not None:
        barrier.wait(timeout=60)  # start together, so the writers really overlap
    store = PredictionStore(url, retention_max_rows=100_000, prune_every=7)
    for i in range(rows):
        store.record_prediction(make_prediction(writer, i), source=f"writer{writer}")
        if i % 10 == 0:
            store.record_rejection(Rejection("empty", "empty file"), source=f"writer{writer}")
    store.close()


def expected_hashes(writers: int, rows: int) -> set[str]:
    return {make_prediction(w, i).sha256 for w in range(writers) for i in range(rows)}


def test_store_threads_sharing_one_store_lose_no_row(tmp_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    errors: list[BaseException] = []

    def work(writer: int) -> None:
        try:
            for i in range(ROWS_PER_WRITER):
                store.record_prediction(make_prediction(writer, i), source="dashboard")
                if i % 15 == 0:
                    store.predictions(limit=5)  # readers interleave with writers
        except BaseException as exc:  # collected: an exception in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    frame = store.predictions()
    assert len(frame) == 4 * ROWS_PER_WRITER
    assert set(frame["sha256"]) == expected_hashes(4, ROWS_PER_WRITER)


def test_store_threads_each_with_own_store_lose_no_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.db'}"
    barrier = threading.Barrier(3)
    threads = [threading.Thread(target=write_rows, args=(url, w, 40, barrier)) for w in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    store = PredictionStore(url)
    assert set(store.predictions()["sha256"]) == expected_hashes(3, 40)
    assert store.count_rejections() == 3 * 4


@pytest.mark.slow
def test_store_two_processes_writing_at_once_lose_no_row(tmp_path: Path) -> None:
    # The database does not exist yet: both processes also race to create the schema.
    url = f"sqlite:///{tmp_path / 'log.db'}"
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    processes = [
        context.Process(target=write_rows, args=(url, w, PROCESS_ROWS, barrier)) for w in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [p.exitcode for p in processes] == [0, 0]
    store = PredictionStore(url)
    frame = store.predictions()
    assert len(frame) == 2 * PROCESS_ROWS
    assert set(frame["sha256"]) == expected_hashes(2, PROCESS_ROWS)
    assert sorted(set(frame["source"])) == ["writer0", "writer1"]
    assert store.count_rejections() == 2 * PROCESS_ROWS // 10
    assert store.schema_version() == 3


def _write_with_inherited_store(store: PredictionStore, writer: int) -> None:
    for i in range(ROWS_PER_WRITER):
        store.record_prediction(make_prediction(writer, i), source="forked")


def test_store_opened_before_fork_is_safe_in_the_child(tmp_path: Path) -> None:
    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    store.record_prediction(make_prediction(9, 0), source="parent")  # pool holds a connection
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_write_with_inherited_store, args=(store, 1))

    child.start()
    _write_with_inherited_store(store, 2)
    child.join(timeout=60)

    assert child.exitcode == 0
    expected = {make_prediction(9, 0).sha256}
    expected |= {make_prediction(w, i).sha256 for w in (1, 2) for i in range(ROWS_PER_WRITER)}
    assert set(store.predictions()["sha256"]) == expected
