"""The Space bundle: built from the real repository, validated, pushed to a local bare git repo."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from huggingface_hub.repocard import metadata_load

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "prepare_deployment.py"
# A made-up token of the real shape: hf_ + 34 letters and digits.
FAKE_HF_TOKEN = "hf_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3f"
HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"
HUB_MODEL = f"hf://dima806/deepfake_vs_real_image_detection@{HUB_COMMIT}"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("prepare_deployment", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["prepare_deployment"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


pd = _load_script()


@pytest.fixture(autouse=True)
def _no_deploy_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real HF_TOKEN must neither leak into nor change these tests."""
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the repository's bundle inputs, to plant problems in."""
    root = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".lock")
    for src, _, _ in pd.BUNDLE_SOURCES:
        path = REPO_ROOT / src
        if path.is_dir():
            shutil.copytree(path, root / src, ignore=ignore)
        elif path.is_file():
            (root / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, root / src)
    return root


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def _bare_repo(path: Path) -> Path:
    _git("init", "-q", "--bare", "-b", "main", str(path))
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- building -----------------------------------------------------------------------------------


def test_build_bundle_real_repo_has_manifest_and_front_matter(tmp_path: Path) -> None:
    out = tmp_path / "space"
    manifest = pd.build_bundle(out, REPO_ROOT)

    paths = manifest.paths()
    for required in pd.REQUIRED_BUNDLE_FILES:
        assert required in paths
    assert ".dockerignore" in paths
    assert any(p.startswith("models/") and p.endswith("/model.safetensors") for p in paths)
    assert not any("__pycache__" in p or p.endswith(".pyc") for p in paths)
    assert sorted(_files(out)) == paths
    assert manifest.total_bytes == sum(len(data) for data in _files(out).values())
    binary = (".safetensors", ".bin", ".onnx", ".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
    assert {e.path for e in manifest.entries if e.lfs} == {
        p for p in paths if p.endswith(binary + (".tif", ".tiff"))
    }

    assert metadata_load(out / "README.md") == {
        "title": "FakeScope",
        "emoji": "🔍",
        "colorFrom": "indigo",
        "colorTo": "pink",
        "sdk": "docker",
        "app_port": 7860,
        "pinned": False,
        "license": "apache-2.0",
        "short_description": "Real photo or AI-generated? A monitored detector",
    }
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "**Live model:** the committed demo model" in readme
    assert manifest.live_model.startswith("models/v")
    # Without --hub-model the Dockerfile is Dockerfile.streamlit, byte for byte.
    assert (out / "Dockerfile").read_bytes() == (REPO_ROOT / "Dockerfile.streamlit").read_bytes()
    assert (out / "src/fakescope/__init__.py").read_bytes() == (
        REPO_ROOT / "src/fakescope/__init__.py"
    ).read_bytes()


def test_cli_build_prints_manifest_with_sizes(tmp_path: Path) -> None:
    result = _run_cli("--out", str(tmp_path / "space"))

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    dockerfile_row = next(line for line in lines if line.startswith("Dockerfile "))
    size = (tmp_path / "space" / "Dockerfile").stat().st_size
    assert f"{size} B" in dockerfile_row or f"{size / 1000:.1f} KB" in dockerfile_row
    assert any(line.startswith("README.md ") for line in lines)
    assert any(line.startswith("live model: models/v") for line in lines)
    assert "files," in result.stdout


def test_build_bundle_hub_model_pins_dockerfile_with_demo_fallback(tmp_path: Path) -> None:
    out = tmp_path / "space"
    manifest = pd.build_bundle(out, REPO_ROOT, hub_model=HUB_MODEL)

    dockerfile = (out / "Dockerfile").read_text(encoding="utf-8")
    assert f'ARG FAKESCOPE_MODEL="{HUB_MODEL}"' in dockerfile.splitlines()
    assert 'ARG FAKESCOPE_FALLBACK_MODEL="registry"' in dockerfile.splitlines()
    assert manifest.live_model == HUB_MODEL
    assert manifest.fallback_model == "registry"
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert f"**Live model:** `{HUB_MODEL}`" in readme
    assert "falls back" in readme


@pytest.mark.parametrize(
    "reference",
    [
        "hf://dima806/deepfake_vs_real_image_detection@main",
        "hf://dima806/deepfake_vs_real_image_detection",
        f"dima806/deepfake_vs_real_image_detection@{HUB_COMMIT}",
        "hf://dima806/deepfake_vs_real_image_detection@0123abc",
    ],
)
def test_build_bundle_unpinned_hub_model_fails(tmp_path: Path, reference: str) -> None:
    with pytest.raises(pd.DeploymentError, match="not pinned: give hf://owner/name@<commit>"):
        pd.build_bundle(tmp_path / "space", REPO_ROOT, hub_model=reference)


def test_build_bundle_nonempty_out_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "space"
    out.mkdir()
    (out / "stale.txt").write_text("from an old build", encoding="utf-8")

    with pytest.raises(pd.DeploymentError, match="is not empty; pass --force"):
        pd.build_bundle(out, REPO_ROOT)
    pd.build_bundle(out, REPO_ROOT, force=True)
    assert not (out / "stale.txt").exists()


def test_build_bundle_out_inside_repository_input_fails(source: Path) -> None:
    with pytest.raises(pd.DeploymentError, match="would overwrite the repository"):
        pd.build_bundle(source, source, force=True)
    with pytest.raises(pd.DeploymentError, match="is inside models"):
        pd.build_bundle(source / "models" / "bundle", source)


# -- validation failures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        (
            "streamlit_app/secrets.py",
            f'TOKEN = "{FAKE_HF_TOKEN}"\n',
            "looks like a Hugging Face token",
        ),
        (
            "src/fakescope/aws.py",
            "KEY = 'AKIAIOSFODNN7EXAMPLE'\n",
            "looks like a AWS access key id",
        ),
        (
            "models/deploy_key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n",
            "looks like a private key",
        ),
        ("streamlit_app/.env", "FAKESCOPE_ADMIN_TOKEN=letmein\n", "a secrets file (.env)"),
        (".streamlit/secrets.toml", 'admin = "letmein"\n', "a secrets file (secrets.toml)"),
        (
            "src/fakescope/remote.txt",
            "https://user:s3cretpassw0rd@huggingface.co/spaces/a/b\n",
            "looks like a credentials in a URL",
        ),
    ],
)
def test_build_bundle_planted_secret_fails(
    tmp_path: Path, source: Path, relative: str, content: str, message: str
) -> None:
    (source / relative).write_text(content, encoding="utf-8")

    with pytest.raises(pd.DeploymentError, match="secret|looks like") as caught:
        pd.build_bundle(tmp_path / "space", source)
    assert any(p.startswith(relative) and message in p for p in caught.value.problems), caught.value
    assert len(caught.value.problems) == 1


def test_build_bundle_placeholder_credentials_pass(tmp_path: Path, source: Path) -> None:
    (source / "src/fakescope/doc.txt").write_text(
        "push to https://user:$HF_TOKEN@huggingface.co/spaces/OWNER/NAME\n", encoding="utf-8"
    )
    manifest = pd.build_bundle(tmp_path / "space", source)
    assert "src/fakescope/doc.txt" in manifest.paths()


def test_build_bundle_deploy_token_in_binary_file_fails(
    tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "not-shaped-like-hf-but-secret")
    (source / "models/blob.dat").write_bytes(b"\x00\x01" + b"not-shaped-like-hf-but-secret")

    with pytest.raises(
        pd.DeploymentError, match=r"models/blob.dat: contains the value of \$HF_TOKEN"
    ):
        pd.build_bundle(tmp_path / "space", source)


def test_build_bundle_oversized_plain_file_fails(tmp_path: Path, source: Path) -> None:
    (source / "src/fakescope/big.csv").write_bytes(b"0" * (pd.MAX_PLAIN_FILE_BYTES + 1))

    with pytest.raises(pd.DeploymentError) as caught:
        pd.build_bundle(tmp_path / "space", source)
    assert caught.value.problems == [
        "src/fakescope/big.csv is 10.0 MB, over the 10 MB limit for plain git files: track it "
        "with LFS (a filter=lfs pattern in .gitattributes) or leave it out"
    ]


def test_build_bundle_oversized_lfs_file_passes(tmp_path: Path, source: Path) -> None:
    (source / "models/large.safetensors").write_bytes(b"0" * (pd.MAX_PLAIN_FILE_BYTES + 1))

    manifest = pd.build_bundle(tmp_path / "space", source)
    entry = next(e for e in manifest.entries if e.path == "models/large.safetensors")
    assert entry.lfs and entry.size == pd.MAX_PLAIN_FILE_BYTES + 1


def test_build_bundle_pickled_weights_fail(tmp_path: Path, source: Path) -> None:
    (source / "models/pytorch_model.bin").write_bytes(b"\x80\x04pickle")

    with pytest.raises(pd.DeploymentError, match="pickle-format model file"):
        pd.build_bundle(tmp_path / "space", source)


def test_build_bundle_missing_required_file_fails(tmp_path: Path, source: Path) -> None:
    (source / "streamlit_app" / "app.py").unlink()

    with pytest.raises(pd.DeploymentError) as caught:
        pd.build_bundle(tmp_path / "space", source)
    assert caught.value.problems == ["missing required file streamlit_app/app.py"]


def test_build_bundle_missing_source_folder_fails(tmp_path: Path, source: Path) -> None:
    shutil.rmtree(source / "models")

    with pytest.raises(pd.DeploymentError, match=r"missing in .*: models \(the bundle needs"):
        pd.build_bundle(tmp_path / "space", source)


def test_build_bundle_without_active_model_fails(tmp_path: Path, source: Path) -> None:
    (source / "models" / "registry.json").write_text('{"history": []}', encoding="utf-8")

    with pytest.raises(pd.DeploymentError, match="no model to serve"):
        pd.build_bundle(tmp_path / "space", source)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("color_from", "black", "colorFrom must be one of red, yellow, green"),
        ("short_description", "x" * 61, "short_description is 61 characters; the Hub allows 60"),
        ("title", "  ", "front matter title is empty"),
        ("sdk", "gradio", "sdk must be 'docker', got 'gradio'"),
        ("app_port", 8501, "app_port must be 7860, got 8501"),
    ],
)
def test_build_bundle_bad_front_matter_fails(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    metadata = pd.SpaceMetadata(**{field: value})

    with pytest.raises(pd.DeploymentError) as caught:
        pd.build_bundle(tmp_path / "space", REPO_ROOT, metadata=metadata)
    assert any(message in problem for problem in caught.value.problems), caught.value


@pytest.mark.parametrize(
    ("readme", "message"),
    [
        ("---\ntitle: [unclosed\nsdk: docker\n---\n# x\n", "front matter is not valid YAML"),
        ("# FakeScope\n\nno front matter\n", "README.md has no front matter"),
        ("---\n- a list\n---\n", "front matter is not valid YAML"),
        (
            "---\ntitle: FakeScope\nsdk: docker\napp_port: 7860\n---\n",
            "README.md front matter lacks emoji",
        ),
    ],
)
def test_validate_bundle_broken_readme_fails(tmp_path: Path, readme: str, message: str) -> None:
    out = tmp_path / "space"
    pd.build_bundle(out, REPO_ROOT)
    (out / "README.md").write_text(readme, encoding="utf-8")

    with pytest.raises(pd.DeploymentError) as caught:
        pd.validate_bundle(out)
    assert any(message in problem for problem in caught.value.problems), caught.value


def test_cli_validation_failure_exits_nonzero_and_pushes_nothing(
    tmp_path: Path, source: Path
) -> None:
    (source / "streamlit_app" / "token.txt").write_text(FAKE_HF_TOKEN, encoding="utf-8")
    bare = _bare_repo(tmp_path / "space.git")

    result = _run_cli(
        "--out", str(tmp_path / "space"), "--source", str(source), "--push", str(bare)
    )

    assert result.returncode == 1
    assert "nothing was pushed" in result.stderr
    assert "streamlit_app/token.txt:1: looks like a Hugging Face token" in result.stderr
    assert FAKE_HF_TOKEN not in result.stderr + result.stdout
    assert _git("for-each-ref", cwd=bare) == ""


# -- pushing ------------------------------------------------------------------------------------


def test_push_bundle_to_bare_repo_delivers_files_once(tmp_path: Path) -> None:
    out = tmp_path / "space"
    pd.build_bundle(out, REPO_ROOT)
    bare = _bare_repo(tmp_path / "space.git")

    first = pd.push_bundle(out, str(bare), message="Deploy test")
    second = pd.push_bundle(out, str(bare), message="Deploy test again")

    assert first.changed and first.commit == _git("rev-parse", "main", cwd=bare)
    assert not second.changed and second.commit is None
    assert _git("rev-list", "--count", "main", cwd=bare) == "1"
    assert _git("log", "-1", "--format=%s", "main", cwd=bare) == "Deploy test"
    clone = tmp_path / "clone"
    _git("clone", "-q", str(bare), str(clone))
    assert _files(clone) == _files(out)


def test_push_bundle_changed_bundle_adds_one_commit_and_removes_stale_files(
    tmp_path: Path, source: Path
) -> None:
    bare = _bare_repo(tmp_path / "space.git")
    (source / "streamlit_app" / "old_page.py").write_text("# gone next time\n", encoding="utf-8")
    pd.build_bundle(tmp_path / "a", source)
    pd.push_bundle(tmp_path / "a", str(bare))
    (source / "streamlit_app" / "old_page.py").unlink()
    pd.build_bundle(tmp_path / "b", source, metadata=pd.SpaceMetadata(title="FakeScope live"))

    result = pd.push_bundle(tmp_path / "b", str(bare))

    assert result.changed
    assert _git("rev-list", "--count", "main", cwd=bare) == "2"
    clone = tmp_path / "clone"
    _git("clone", "-q", str(bare), str(clone))
    assert not (clone / "streamlit_app" / "old_page.py").exists()
    assert metadata_load(clone / "README.md")["title"] == "FakeScope live"
    assert _files(clone) == _files(tmp_path / "b")


def test_cli_push_twice_reports_up_to_date(tmp_path: Path) -> None:
    bare = _bare_repo(tmp_path / "space.git")
    first = _run_cli("--out", str(tmp_path / "a"), "--push", str(bare))
    second = _run_cli("--out", str(tmp_path / "b"), "--push", f"file://{bare}")

    assert first.returncode == 0, first.stderr
    assert "pushed " in first.stdout
    assert second.returncode == 0, second.stderr
    assert "is already up to date; nothing pushed" in second.stdout
    assert _git("rev-list", "--count", "main", cwd=bare) == "1"


def test_cli_push_failure_never_prints_token(tmp_path: Path) -> None:
    secret = "s3cret-token-value-123"
    # Port 9 (discard) on loopback refuses at once: the push fails without any network.
    remote = f"https://user:{secret}@127.0.0.1:9/spaces/owner/name"

    result = _run_cli("--out", str(tmp_path / "space"), "--push", remote)

    assert result.returncode == 1
    assert "push to https://user:***@127.0.0.1:9/spaces/owner/name failed" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_cli_space_without_token_exits_with_usage_error(tmp_path: Path) -> None:
    # The autouse fixture removed HF_TOKEN from the environment the CLI inherits.
    result = _run_cli("--out", str(tmp_path / "space"), "--space", "owner/name")

    assert result.returncode == 2
    assert "--space needs the Space write token in $HF_TOKEN" in result.stderr
    assert not (tmp_path / "space").exists()


def test_redact_hides_url_credentials_and_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)

    text = pd.redact(
        f"fatal: https://user:{FAKE_HF_TOKEN}@huggingface.co/spaces/a/b failed; token "
        f"{FAKE_HF_TOKEN}"
    )

    assert text == "fatal: https://user:***@huggingface.co/spaces/a/b failed; token ***"
