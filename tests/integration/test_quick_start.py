"""A quick start (issue 14): with the model's graph in the cache, a serving process imports
neither torch nor transformers, builds no torch module, and answers as the first start did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, build_vit_model

from fakescope import Predictor
from fakescope.config import Settings

pytestmark = pytest.mark.integration

CHILD = r"""
import json, sys
from fakescope import Predictor
from fakescope.config import Settings
predictor = Predictor.from_source(sys.argv[1], Settings.from_env())
predictor.warm_up()
prediction = predictor.predict(sys.argv[2])[0]
details = predictor.info.extra["acceleration"]
print(json.dumps({
    "variant": f"{predictor.info.precision}/{details['runtime']}",
    "graph_cache": details.get("graph_cache"),
    "fake_probability": prediction.fake_probability,
    "embedding": prediction.embedding,
    "torch": "torch" in sys.modules,
    "transformers": "transformers" in sys.modules,
    "module_built": predictor.model.module_loaded,
}))
"""
AVX2_CPUINFO = REPO_ROOT / "tests" / "cpuinfo" / "zen3_avx2.txt"


def serve_once(model: Path, image: Path, cache: Path, **env: str) -> dict:
    """One fresh serving process: load, warm up, score ``image``; what it imported."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")}
    child_env.update(FAKESCOPE_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", **env)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(image)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("env", "variant"),
    [
        ({"FAKESCOPE_PRECISION": "fp32", "FAKESCOPE_RUNTIME": "openvino"}, "fp32/openvino"),
        # An AVX2-only CPU as /proc/cpuinfo describes it: auto runs int8 on ONNX Runtime.
        ({"FAKESCOPE_CPUINFO": str(AVX2_CPUINFO)}, "int8/onnxruntime"),
    ],
    ids=["openvino", "onnxruntime-int8"],
)
def test_a_cached_graph_serves_without_torch_or_transformers(
    tmp_path: Path, env: dict[str, str], variant: str
) -> None:
    model = build_vit_model(tmp_path / "vit", hidden_size=64, layers=2, heads=2, intermediate=128)
    image = REPO_ROOT / "src" / "fakescope" / "samples" / "real_cv_apple.jpg"
    first = serve_once(model, image, tmp_path / "cache", **env)
    again = serve_once(model, image, tmp_path / "cache", **env)
    assert first["variant"] == again["variant"] == variant
    assert first["graph_cache"] == "exported" and first["module_built"] and first["torch"]
    assert again["graph_cache"] == "hit"
    assert not again["module_built"] and not again["torch"] and not again["transformers"]
    assert again["fake_probability"] == pytest.approx(first["fake_probability"], abs=1e-6)
    assert again["embedding"] == pytest.approx(first["embedding"], abs=1e-5)


def test_a_model_whose_module_cannot_be_built_still_falls_back(
    vit_dir: Path, resnet_dir: Path, tmp_path: Path
) -> None:
    """Loading lazily must not cost the fallback: weights that fit another model are found
    when the module is built, and the fallback model serves, with the reason."""
    broken = shutil.copytree(vit_dir, tmp_path / "broken")
    shutil.copy(resnet_dir / "model.safetensors", broken / "model.safetensors")
    settings = Settings.from_env(
        {
            "FAKESCOPE_MODEL": str(broken),
            "FAKESCOPE_FALLBACK_MODEL": str(vit_dir),
            "FAKESCOPE_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    predictor = Predictor.from_source(None, settings)
    assert predictor.info.source == str(vit_dir)
    assert "do not match config.json" in predictor.info.extra["fallback_reason"]
