"""The HTTP API on the real server: ``streamlit run streamlit_app/server.py`` as a subprocess,
called over loopback HTTP. Real model (the committed demo model), real SQLite log, real keys."""

from __future__ import annotations

import http.client
import json
import sqlite3
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import ApiServer, Reply, call, multipart, predict, running_api_server
from conftest import encode, photo_like
from hostile_corpus import ACCEPT, build_corpus
from prometheus_client.parser import text_string_to_metric_families

from fakescope.store import PredictionStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

KEY, RATE_KEY, HOSTILE_KEY = "test-key-main", "test-key-rate", "test-key-hostile"
MAX_FILES = 4
MAX_REQUEST_MB = 8
BURST = 40
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "fakescope" / "samples"
FAKE_SAMPLE = sorted(p.name for p in SAMPLES.glob("fake_*.png"))[0]
# The committed registry's active version: the demo model the server runs.
ACTIVE = json.loads(
    (Path(__file__).resolve().parents[2] / "models" / "registry.json").read_text(encoding="utf-8")
)["active"]


SERVER_ENV = {
    "FAKESCOPE_API_KEYS": f"{KEY},{RATE_KEY},{HOSTILE_KEY}",
    "FAKESCOPE_API_MAX_FILES": str(MAX_FILES),
    "FAKESCOPE_API_MAX_REQUEST_MB": str(MAX_REQUEST_MB),
    "FAKESCOPE_API_RATE_PER_MINUTE": "60",
    "FAKESCOPE_API_RATE_BURST": str(BURST),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with running_api_server(tmp_path_factory.mktemp("api"), SERVER_ENV) as running:
        yield running


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sample(name: str) -> tuple[str, bytes]:
    return name, (SAMPLES / name).read_bytes()


def test_pages_and_api_share_one_port(server: ApiServer) -> None:
    page = call(f"{server.url}/")
    assert page.status == 200 and b"<html" in page.body.lower()
    assert call(f"{server.url}/_stcore/health").body == b"ok"
    assert call(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = call(f"{server.url}/readyz")
    assert ready.status == 200 and ready.json() == {"status": "ready"}


def test_openapi_schema_and_docs(server: ApiServer) -> None:
    schema = call(f"{server.url}/api/openapi.json").json()
    assert {"/v1/predict", "/v1/model", "/v1/drift"} <= set(schema["paths"])
    body = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    docs = call(f"{server.url}/api/docs")
    assert docs.status == 200 and b"/api/openapi.json" in docs.body


def test_keys_401_403_and_both_headers(server: ApiServer) -> None:
    missing = call(f"{server.url}/api/v1/model")
    assert missing.status == 401
    assert missing.json()["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = call(f"{server.url}/api/v1/model", headers=auth("not-a-key"))
    assert wrong.status == 403 and wrong.json()["code"] == "forbidden"
    assert call(f"{server.url}/api/v1/model", headers=auth()).status == 200
    assert call(f"{server.url}/api/v1/model", headers={"X-API-Key": KEY}).status == 200
    # Health and metrics stay open without FAKESCOPE_API_PROTECT_OPS.
    assert call(f"{server.url}/metrics").status == 200


def test_model_route(server: ApiServer) -> None:
    model = call(f"{server.url}/api/v1/model", headers=auth()).json()
    assert model["name"] == "fakescope-demo" and model["version"] == ACTIVE
    assert len(model["weights_sha256"]) == 64
    assert model["precision"] and model["runtime"] and model["source"] == "local files"
    assert "/" not in model["source"]  # no server path in a public API
    assert isinstance(model["card_metrics"], dict) and model["card_metrics"]
    assert model["api_limits"]["max_files"] == MAX_FILES


def test_predict_matches_the_cli_row_and_is_logged(server: ApiServer) -> None:
    before = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
    count_before = len(before.predictions(source="api"))
    reply = predict(
        server,
        [sample("real_cv_apple.jpg"), sample(FAKE_SAMPLE), ("notes.txt", b"hi")],
        key=KEY,
    )
    assert reply.status == 200, reply.body
    assert reply.headers["x-request-id"]
    body = reply.json()
    assert body["count"] == 3 and body["rejected"] == 1 and body["logged"] is True
    ok, fake, bad = body["results"]
    assert set(ok) == {
        "path",
        "verdict",
        "fake_probability",
        "confidence",
        "scores",
        "model",
        "model_version",
        "latency_ms",
        "sha256",
    }
    assert ok["path"] == "real_cv_apple.jpg" and ok["verdict"] in ("real", "fake", "uncertain")
    assert fake["path"] == FAKE_SAMPLE
    assert bad == {"path": "notes.txt", "error": bad["error"], "reason": "unsupported_type"}
    assert "Accepted:" in bad["error"]
    after = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
    assert len(after.predictions(source="api")) == count_before + 2
    assert "notes.txt" in set(after.rejections(source="api")["input_name"])


def test_threshold_and_band_overrides(server: ApiServer) -> None:
    image = [("photo.jpg", encode(photo_like(seed=3)))]
    strict = predict(server, image, key=KEY, query="?threshold=0.95&band=0").json()
    assert strict["threshold"] == 0.95 and strict["uncertain_band"] == 0.0
    row = strict["results"][0]
    assert row["verdict"] == ("fake" if row["fake_probability"] >= 0.95 else "real")
    # A form field works too, and wins over the query.
    form = predict(server, image, key=KEY, fields={"threshold": "0.3"}, query="?threshold=0.9")
    assert form.json()["threshold"] == 0.3
    for query in ("?threshold=0.99", "?band=0.8", "?threshold=abc"):
        refused = predict(server, image, key=KEY, query=query)
        assert refused.status == 422, query
        assert refused.json()["code"] == "invalid_parameter"


def test_predict_errors_are_json(server: ApiServer) -> None:
    empty = predict(server, [], key=KEY)
    assert empty.status == 400 and empty.json()["code"] == "no_files"
    not_multipart = call(
        f"{server.url}/api/v1/predict",
        method="POST",
        data=b'{"a": 1}',
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert not_multipart.status == 415
    assert set(not_multipart.json()) == {"code", "message"}
    broken = call(
        f"{server.url}/api/v1/predict",
        method="POST",
        data=b"--x\r\ngarbage",
        headers={**auth(), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status == 400 and "Traceback" not in broken.body.decode()


def test_too_many_files_is_413(server: ApiServer) -> None:
    files = [(f"f{i}.jpg", encode(photo_like(64, 64, seed=i))) for i in range(MAX_FILES + 1)]
    reply = predict(server, files, key=KEY)
    assert reply.status == 413
    assert reply.json()["code"] == "too_many_files"


def post_raw(server: ApiServer, body: object, headers: dict[str, str], **options: bool) -> tuple:
    """POST with http.client; the server may answer and close before the body is all sent."""
    parsed = urllib.parse.urlparse(server.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    try:
        try:
            conn.request("POST", "/api/v1/predict", body=body, headers=headers, **options)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the client finished sending: what the limit is for
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def test_declared_too_large_is_413_before_reading(server: ApiServer) -> None:
    body, headers = multipart([("big.bin", b"\0" * (MAX_REQUEST_MB * 1_000_000 + 1))])
    status, answer = post_raw(server, body, {**headers, **auth()})
    assert status == 413 and answer["code"] == "request_too_large"


def test_streamed_too_large_is_cut_off_while_reading(server: ApiServer) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused at the limit."""
    boundary = "streamed"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    chunk = b"\xff" * 65536
    total_chunks = (MAX_REQUEST_MB * 1_000_000) // len(chunk) + 40  # ~2.6 MB past the limit

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(total_chunks):
            yield chunk

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", **auth()}
    status, answer = post_raw(server, body(), headers, encode_chunked=True)
    assert status == 413 and answer["code"] == "request_too_large"


def test_rate_limit_429_with_retry_after(server: ApiServer) -> None:
    statuses = [
        call(f"{server.url}/api/v1/model", headers=auth(RATE_KEY)).status for _ in range(BURST + 5)
    ]
    assert statuses[:BURST] == [200] * BURST
    assert 429 in statuses[BURST:]
    limited = call(f"{server.url}/api/v1/model", headers=auth(RATE_KEY))
    assert limited.status == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # Buckets are per key: another key is not limited.
    assert call(f"{server.url}/api/v1/model", headers=auth()).status == 200


def _batches(cases: list, max_files: int, max_bytes: int) -> Iterator[list]:
    """Cases packed into requests of at most ``max_files`` files and ``max_bytes`` of content."""
    batch: list = []
    for case in cases:
        size = sum(len(c.data) for c in batch) + len(case.data)
        if batch and (len(batch) == max_files or size > max_bytes):
            yield batch
            batch = []
        batch.append(case)
    if batch:
        yield batch


def test_hostile_files_through_the_api(tmp_path: Path) -> None:
    """Issue 9: every file of the hostile corpus gets a verdict or a reason over HTTP too (a
    server of its own: its many logged rows would change the drift test's baseline)."""
    corpus = build_corpus()
    with running_api_server(tmp_path, SERVER_ENV) as server:
        _post_corpus(server, corpus)


def _post_corpus(server: ApiServer, corpus: list) -> None:
    # Fewer requests than the rate limit's burst (the bucket refills at 1 a second meanwhile).
    batches = list(_batches(corpus, MAX_FILES, (MAX_REQUEST_MB - 1) * 1_000_000))
    assert len(batches) <= BURST
    for batch in batches:
        reply = predict(server, [(c.file_name, c.data) for c in batch], key=HOSTILE_KEY)
        assert reply.status == 200, (reply.status, reply.body[:300])
        for case, row in zip(batch, reply.json()["results"], strict=True):
            if case.expect == ACCEPT:
                assert "verdict" in row, (case.name, row)
            else:
                assert "Accepted:" in row["error"] and row["reason"], (case.name, row)
                if case.reason is not None:
                    assert row["reason"] == case.reason, (case.name, row)
    assert call(f"{server.url}/healthz").status == 200


def test_drift_route(server: ApiServer) -> None:
    reply = call(f"{server.url}/api/v1/drift?window=all&reference=profile", headers=auth())
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["model_version"] == ACTIVE and body["reference"] == "profile"
    assert body["n_reference"] > 0 and body["n_current"] >= 1
    assert {"drift_share", "dataset_drifted", "drifted_features", "features"} <= set(body)
    too_few = call(f"{server.url}/api/v1/drift?reference=baseline", headers=auth())
    assert too_few.status == 409 and too_few.json()["code"] == "not_enough_data"
    bad = call(f"{server.url}/api/v1/drift?window=week", headers=auth())
    assert bad.status == 422


def test_labels_route_stores_ground_truth_for_a_prediction(server: ApiServer) -> None:
    image = [("harbour.jpg", encode(photo_like(seed=7)))]
    result = predict(server, image, key=KEY).json()["results"][0]
    store = PredictionStore(f"sqlite:///{server.data_dir / 'predictions.db'}")
    logged = store.find_prediction(sha256=result["sha256"])

    def post(body: object, key: str | None = KEY) -> Reply:
        headers = {"Content-Type": "application/json", **(auth(key) if key else {})}
        data = json.dumps(body).encode()
        return call(f"{server.url}/api/v1/labels", method="POST", data=data, headers=headers)

    by_id = post({"truth": "Fake", "prediction_id": int(logged["id"])})
    assert by_id.status == 201, by_id.body
    assert by_id.json() == {
        "label_id": by_id.json()["label_id"],
        "truth": "fake",
        "prediction_id": int(logged["id"]),
        "sha256": result["sha256"],
    }
    by_hash = post({"truth": "real", "sha256": result["sha256"], "note": "checked by hand"})
    assert by_hash.status == 201 and by_hash.json()["prediction_id"] is None
    labels = store.labels()
    assert list(labels["truth"][-2:]) == ["fake", "real"] and set(labels["source"]) == {"api"}
    # The prediction itself never changes.
    assert store.find_prediction(prediction_id=int(logged["id"]))["verdict"] == logged["verdict"]
    assert post({"truth": "fake", "prediction_id": 10**9}).status == 404
    wrong = post({"truth": "maybe", "sha256": result["sha256"]})
    assert wrong.status == 422 and "truth must be one of" in wrong.json()["message"]
    assert post(["not", "an", "object"]).json()["code"] == "invalid_label"
    assert post({"truth": "fake"}, key=None).status == 401


def test_metrics_parse_and_count(server: ApiServer) -> None:
    predict(server, [sample("real_cv_messi.jpg")], key=KEY)
    call(f"{server.url}/api/v1/drift?window=all", headers=auth())
    text = call(f"{server.url}/metrics").body.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = families["fakescope_http_requests"].samples
    assert any(
        s.labels["route"] == "/api/v1/predict" and s.labels["status"] == "200" and s.value >= 1
        for s in requests
    )
    assert any(s.labels["status"] == "401" for s in requests)
    assert any(s.labels["status"] == "429" for s in requests)
    verdicts = [s for s in families["fakescope_predictions"].samples if s.name.endswith("_total")]
    assert sum(s.value for s in verdicts) >= 1 and {
        s.labels["model_version"] for s in verdicts
    } == {ACTIVE}
    assert families["fakescope_model_load_seconds"].samples[0].value > 0
    assert families["fakescope_model_ready"].samples[0].value == 1
    assert families["fakescope_predict_batch_size"].samples
    assert "fakescope_drift_share" in families and "fakescope_drifted_features" in families
    assert families["process_resident_memory_bytes"].samples[0].value > 0


def test_readyz_turns_503_when_the_log_cannot_be_written(server: ApiServer) -> None:
    db = server.data_dir / "predictions.db"
    holder = sqlite3.connect(db, timeout=5, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another writer holds the log
        reply = call(f"{server.url}/readyz")
        assert reply.status == 503
        body = reply.json()
        assert body["code"] == "not_ready" and "prediction log" in body["message"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert call(f"{server.url}/readyz").status == 200


def test_cli_server_mode_gives_the_local_output(server: ApiServer, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("real_cv_apple.jpg", FAKE_SAMPLE):
        (folder / name).write_bytes((SAMPLES / name).read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    command = [sys.executable, "-m", "fakescope", "predict", "--json", str(folder)]
    env = {"FAKESCOPE_DATA_DIR": str(tmp_path / "local-log"), "FAKESCOPE_THREADS": "1"}
    import os

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")}
    local = subprocess.run(
        [*command, "--no-log"], capture_output=True, text=True, env={**base_env, **env}, timeout=300
    )
    remote = subprocess.run(
        [*command, "--server", server.url, "--api-key", KEY],
        capture_output=True,
        text=True,
        env={**base_env, **env},
        timeout=300,
    )
    assert remote.returncode == local.returncode == 0, remote.stderr
    local_rows, remote_rows = json.loads(local.stdout), json.loads(remote.stdout)

    def comparable(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k != "latency_ms"} for row in rows]

    assert comparable(remote_rows) == comparable(local_rows)
    refused = subprocess.run(
        [*command, "--server", server.url, "--api-key", "wrong"],
        capture_output=True,
        text=True,
        env={**base_env, **env},
        timeout=300,
    )
    assert refused.returncode == 1 and "403" in refused.stderr and "Traceback" not in refused.stderr


def test_request_log_lines_are_json_without_keys(server: ApiServer) -> None:
    lines = [line for line in server.log.read_text().splitlines() if line.startswith("{")]
    events = [json.loads(line) for line in lines]
    requests = [e for e in events if e["event"] == "request"]
    assert requests and all(
        {"request_id", "route", "status", "latency_ms"} <= set(e) for e in requests
    )
    assert any(e["event"] == "prediction" and e.get("key_id") for e in events)
    text = server.log.read_text()
    assert KEY not in text and RATE_KEY not in text
