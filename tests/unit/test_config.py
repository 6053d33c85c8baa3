from __future__ import annotations

from pathlib import Path

import pytest

from fakescope.config import Settings, parse_label_map
from fakescope.errors import ConfigError

pytestmark = pytest.mark.unit


def test_settings_defaults_are_usable() -> None:
    settings = Settings.from_env({})
    assert settings.threshold == 0.5
    assert settings.uncertain_band == 0.2
    assert settings.max_file_bytes == 20_000_000
    assert settings.min_side == 32
    assert settings.model_source is None
    assert settings.resolved_database_url.startswith("sqlite:///")


def test_settings_read_every_variable(tmp_path: Path) -> None:
    env = {
        "FAKESCOPE_MODEL": "hf://dima806/deepfake_vs_real_image_detection@main",
        "FAKESCOPE_REGISTRY_DIR": str(tmp_path / "reg"),
        "FAKESCOPE_DATA_DIR": str(tmp_path / "data"),
        "FAKESCOPE_THRESHOLD": "0.7",
        "FAKESCOPE_UNCERTAIN_BAND": "0",
        "FAKESCOPE_MAX_FILE_MB": "1.5",
        "FAKESCOPE_MAX_PIXELS": "1000000",
        "FAKESCOPE_MIN_SIDE": "64",
        "FAKESCOPE_LABEL_MAP": "LABEL_0=real,LABEL_1=fake",
        "FAKESCOPE_PRECISION": "FP32",
        "FAKESCOPE_BATCH_SIZE": "4",
        "FAKESCOPE_RETENTION_ROWS": "10",
        "FAKESCOPE_ADMIN_TOKEN": "secret",
    }
    settings = Settings.from_env(env)
    assert settings.model_source == env["FAKESCOPE_MODEL"]
    assert settings.registry_dir == tmp_path / "reg"
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'predictions.db'}"
    assert settings.threshold == 0.7
    assert settings.uncertain_band == 0.0
    assert settings.max_file_bytes == 1_500_000
    assert settings.max_pixels == 1_000_000
    assert settings.min_side == 64
    assert settings.label_map == {"LABEL_0": "real", "LABEL_1": "fake"}
    assert settings.precision == "fp32"
    assert settings.batch_size == 4
    assert settings.retention_max_rows == 10
    assert settings.admin_token == "secret"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FAKESCOPE_THRESHOLD", "high", "must be a number"),
        ("FAKESCOPE_THRESHOLD", "1.5", "threshold must be between 0 and 1"),
        ("FAKESCOPE_MIN_SIDE", "3.5", "must be an integer"),
        ("FAKESCOPE_MAX_PIXELS", "0", "must be positive"),
        ("FAKESCOPE_PRECISION", "fp64", "precision must be one of auto, fp32, bf16, int8"),
        ("FAKESCOPE_LABEL_MAP", "LABEL_0=maybe", "must be 'fake' or 'real'"),
        ("FAKESCOPE_LABEL_MAP", "nonsense", "JSON object or"),
    ],
)
def test_settings_reject_bad_values(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({name: value})


def test_label_map_accepts_json() -> None:
    assert parse_label_map('{"Deepfake": "FAKE", "Realism": "real"}') == {
        "Deepfake": "fake",
        "Realism": "real",
    }


def test_import_does_no_work(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import fakescope, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_predictor_sets_openmp_wait_policy_before_torch(given: str | None, expected: str) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = "import os, fakescope.predictor; print(os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == expected
