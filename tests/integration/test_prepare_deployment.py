"""The Space bundle: built from the real repository, validated, pushed to a local bare git repo."""

from __future__ import annotations

import base64
import http.server
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
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
    module = sys.modules.get("prepare_deployment")
    if module is not None and getattr(module, "__file__", None) == str(SCRIPT):
        return module  # one module for both test files: classes must be the same objects
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
            "looks like an AWS access key id",
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
            "looks like credentials in a URL",
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


# -- credentials never in a process's arguments -------------------------------------------------


class _ArgvRecorder:
    """Wraps the real ``subprocess.run`` (for the whole process), keeping every argv it ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.argvs: list[list[str]] = []
        self.envs: list[dict[str, str]] = []
        real = subprocess.run

        def run(args: list[str], *rest: object, **kwargs: object) -> object:
            self.argvs.append([str(arg) for arg in args])
            env = kwargs.get("env")
            self.envs.append(dict(env) if isinstance(env, dict) else {})
            return real(args, *rest, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr(pd.subprocess, "run", run)

    def assert_never_in_argv(self, *secrets: str) -> None:
        assert self.argvs, "git never ran"
        for argv in self.argvs:
            for secret in secrets:
                assert all(secret not in arg for arg in argv), argv


def test_git_command_puts_credentials_in_env_only(tmp_path: Path) -> None:
    credentials = pd.GitCredentials("deployer", FAKE_HF_TOKEN)
    askpass = tmp_path / "askpass.sh"

    argv, env = pd.git_command(
        ["push", "https://huggingface.co/spaces/a/b", "HEAD:main"], credentials, askpass
    )

    assert argv == [
        "git",
        "-c",
        "credential.helper=",
        "push",
        "https://huggingface.co/spaces/a/b",
        "HEAD:main",
    ]
    assert env["GIT_ASKPASS"] == str(askpass)
    assert env[pd.ASKPASS_PASSWORD_ENV] == FAKE_HF_TOKEN
    assert env[pd.ASKPASS_USERNAME_ENV] == "deployer"
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert FAKE_HF_TOKEN not in repr(credentials)


@pytest.mark.parametrize(
    "args",
    [
        ["push", f"https://user:{FAKE_HF_TOKEN}@huggingface.co/spaces/a/b"],
        ["push", "https://huggingface.co/spaces/a/b", f"--push-option={FAKE_HF_TOKEN}"],
    ],
    ids=["url-credentials", "password-in-any-argument"],
)
def test_git_command_refuses_credentials_in_argv(tmp_path: Path, args: list[str]) -> None:
    credentials = pd.GitCredentials("user", FAKE_HF_TOKEN)

    with pytest.raises(pd.DeploymentError, match="refusing to run git with credentials") as caught:
        pd.git_command(args, credentials, tmp_path / "askpass.sh")
    assert FAKE_HF_TOKEN not in str(caught.value)


def test_git_command_without_credentials_drops_inherited_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(pd.ASKPASS_PASSWORD_ENV, "left-over-secret-123")

    _, env = pd.git_command(["status"])

    assert pd.ASKPASS_PASSWORD_ENV not in env
    assert env["GIT_ASKPASS"] == ""


def test_askpass_helper_is_private_holds_no_secret_and_answers_from_env() -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        pd.ASKPASS_USERNAME_ENV: "deployer",
        pd.ASKPASS_PASSWORD_ENV: FAKE_HF_TOKEN,
    }
    with pd.askpass_helper() as script:
        assert stat.S_IMODE(script.stat().st_mode) == 0o700
        assert stat.S_IMODE(script.parent.stat().st_mode) == 0o700
        assert FAKE_HF_TOKEN not in script.read_text(encoding="utf-8")

        def ask(prompt: str) -> str:
            return subprocess.run(
                [str(script), prompt],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            ).stdout

        password = ask("Password for 'https://deployer@huggingface.co': ")
        username = ask("Username for 'https://huggingface.co': ")
    assert password == FAKE_HF_TOKEN + "\n"
    assert username == "deployer\n"
    assert not script.exists() and not script.parent.exists()


@pytest.mark.parametrize(
    ("remote", "clean", "username", "password"),
    [
        (
            "https://user:s3cr%40t-token@huggingface.co/spaces/a/b",
            "https://huggingface.co/spaces/a/b",
            "user",
            "s3cr@t-token",
        ),
        (
            "https://tok3n-only-value@host.example/r.git",
            "https://host.example/r.git",
            "tok3n-only-value",
            "",
        ),
        (
            "file://user:s3cret-value@/tmp/space.git",
            "file:///tmp/space.git",
            "user",
            "s3cret-value",
        ),
        ("ssh://git@host.example/r.git", "ssh://git@host.example/r.git", None, None),
        ("/tmp/space.git", "/tmp/space.git", None, None),
    ],
    ids=["https", "user-only", "file", "ssh-user", "path"],
)
def test_split_credentials(
    remote: str, clean: str, username: str | None, password: str | None
) -> None:
    url, credentials = pd.split_credentials(remote)

    assert url == clean
    if username is None:
        assert credentials is None
    else:
        assert (credentials.username, credentials.password) == (username, password)


def test_push_bundle_file_url_with_credentials_keeps_them_out_of_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "space"
    pd.build_bundle(out, REPO_ROOT)
    bare = _bare_repo(tmp_path / "space.git")
    recorder = _ArgvRecorder(monkeypatch)

    result = pd.push_bundle(out, f"file://deployer:{FAKE_HF_TOKEN}@{bare}", message="Deploy")

    recorder.assert_never_in_argv(FAKE_HF_TOKEN, "deployer:")
    assert any(argv[3] == "push" for argv in recorder.argvs)
    assert result.changed and result.commit == _git("rev-parse", "main", cwd=bare)
    assert result.remote == f"file://{bare}"
    clone = tmp_path / "clone"
    _git("clone", "-q", str(bare), str(clone))
    assert _files(clone) == _files(out)


class _AuthGitServer(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol (the real ``git http-backend``) behind HTTP Basic auth."""

    root: Path
    username: str
    password: str
    attempts: list[str]

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep the test output clean

    def _serve(self) -> None:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        given = self.headers.get("Authorization", "")
        self.attempts.append(given)
        if given != f"Basic {expected}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="space"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.username,  # http-backend allows receive-pack to a known user
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        output = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=60
        ).stdout
        head, _, payload = output.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def http_remote(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A bare repository served over HTTP with Basic auth: (URL without credentials, attempts)."""
    root = tmp_path / "srv"
    _bare_repo(root / "space.git")
    attempts: list[str] = []
    handler = type(
        "Handler",
        (_AuthGitServer,),
        {"root": root, "username": "deployer", "password": FAKE_HF_TOKEN, "attempts": attempts},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/space.git", attempts
    finally:
        server.shutdown()
        server.server_close()


def _repo_with_commit(path: Path) -> str:
    _git("init", "-q", "-b", "main", str(path))
    (path / "app.txt").write_text("deployed\n", encoding="utf-8")
    _git("add", "app.txt", cwd=path)
    _git("-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-q", "-m", "x", cwd=path)
    return _git("rev-parse", "HEAD", cwd=path)


def test_run_git_authenticates_over_http_from_env_never_argv(
    tmp_path: Path, http_remote: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, attempts = http_remote
    work = tmp_path / "work"
    commit = _repo_with_commit(work)
    recorder = _ArgvRecorder(monkeypatch)
    credentials = pd.GitCredentials("deployer", FAKE_HF_TOKEN)

    pd.run_git(["push", "-q", url, "HEAD:refs/heads/main"], work, credentials=credentials)
    heads = pd.run_git(["ls-remote", "--heads", url], work, credentials=credentials).stdout

    assert f"{commit}\trefs/heads/main" in heads
    assert _git("rev-parse", "main", cwd=tmp_path / "srv" / "space.git") == commit
    expected = base64.b64encode(f"deployer:{FAKE_HF_TOKEN}".encode()).decode()
    assert f"Basic {expected}" in attempts  # the askpass answer reached the server
    recorder.assert_never_in_argv(FAKE_HF_TOKEN)
    # subprocess.run is wrapped for everyone: the server's http-backend runs are recorded too.
    clients = [env for env in recorder.envs if env.get("GIT_ASKPASS")]
    assert len(clients) == 2
    assert all(env[pd.ASKPASS_PASSWORD_ENV] == FAKE_HF_TOKEN for env in clients)


def test_run_git_wrong_token_fails_without_printing_it(
    tmp_path: Path, http_remote: tuple[str, list[str]]
) -> None:
    url, _ = http_remote
    wrong = "hf_" + "wrongWrongWrongWrongWrongWrong1234"

    with pytest.raises(pd.DeploymentError, match="git ls-remote failed") as caught:
        pd.run_git(["ls-remote", url], tmp_path, credentials=pd.GitCredentials("deployer", wrong))
    assert wrong not in str(caught.value)


def test_cli_space_token_reaches_git_only_through_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # huggingface.co is rewritten (git's url.insteadOf, from the environment) to a port that
    # refuses at once: the real command line runs, no network is needed, and the push fails.
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "url.http://127.0.0.1:9/.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "https://huggingface.co/")
    recorder = _ArgvRecorder(monkeypatch)

    code = pd.main(["--out", str(tmp_path / "space"), "--space", "owner/name"])

    captured = capsys.readouterr()
    assert code == 1
    assert "push to https://huggingface.co/spaces/owner/name failed" in captured.err
    recorder.assert_never_in_argv(FAKE_HF_TOKEN)
    git_envs = [env for env in recorder.envs if env.get("GIT_ASKPASS")]
    assert git_envs and all(env[pd.ASKPASS_PASSWORD_ENV] == FAKE_HF_TOKEN for env in git_envs)
    assert FAKE_HF_TOKEN not in captured.out + captured.err


def test_cli_push_url_with_token_warns_and_keeps_it_out_of_output(tmp_path: Path) -> None:
    secret = "s3cret-token-value-123"
    bare = _bare_repo(tmp_path / "space.git")

    result = _run_cli("--out", str(tmp_path / "space"), "--push", f"file://u:{secret}@{bare}")

    assert result.returncode == 0, result.stderr
    assert "warning: the --push URL holds a password or token" in result.stderr
    assert f"to file://{bare} (main)" in result.stdout
    assert secret not in result.stdout + result.stderr
