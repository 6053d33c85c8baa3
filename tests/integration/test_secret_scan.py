"""The deploy gate's secret scan: planted secrets in every form a file can hide them in.

Every secret below is made up, and assembled from pieces so that this file never holds one whole
(a scanner reading the repository must not trip on its own tests). Each is planted in text, after
a NUL byte, in UTF-16 (both byte orders, with and without BOM, inside a binary), in UTF-32, in PNG
text chunks (tEXt, zTXt, iTXt, written by Pillow), in a JPEG comment, in safetensors metadata
(written by the safetensors library), in JSON with escapes, in zip and gzip archives, glued to a
letter before and ``_x`` after, and in files whose extension says binary. Each must fail the gate
with a message naming the file and the kind of secret, never the secret itself.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import random
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from safetensors.numpy import save as save_safetensors

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "prepare_deployment.py"


def _load_script() -> ModuleType:
    module = sys.modules.get("prepare_deployment")
    if module is not None and getattr(module, "__file__", None) == str(SCRIPT):
        return module
    spec = importlib.util.spec_from_file_location("prepare_deployment", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["prepare_deployment"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


pd = _load_script()

_ALNUM = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5hJ7kL9nP1rS3tV5wX7zA2cD4eF6gH8j"


def _chars(count: int, alphabet: str = _ALNUM) -> str:
    return (alphabet * (count // len(alphabet) + 1))[:count]


# (id, kind named in the message, planted text, the secret part that must never be printed)
SECRETS: list[tuple[str, str, str, str]] = [
    ("hf", "Hugging Face token", "hf_" + _chars(34), _chars(34)),
    ("hf-org", "Hugging Face organization token", "api_" + "org_" + _chars(34), _chars(34)),
    (
        "github-classic",
        "GitHub token",
        "gh" + "p_" + _chars(36, _ALNUM[5:]),
        _chars(36, _ALNUM[5:]),
    ),
    ("github-oauth", "GitHub token", "gh" + "o_" + _chars(36, _ALNUM[9:]), _chars(36, _ALNUM[9:])),
    ("github-app", "GitHub token", "gh" + "s_" + _chars(36, _ALNUM[2:]), _chars(36, _ALNUM[2:])),
    ("github-pat", "GitHub token", "github" + "_pat_" + _chars(82), _chars(82)),
    ("gitlab", "GitLab token", "gl" + "pat-" + _chars(20, _ALNUM[7:]), _chars(20, _ALNUM[7:])),
    ("aws-key-id", "AWS access key id", "AK" + "IA" + "Z7Q4N2R8T6W3Y5U1", "Z7Q4N2R8T6W3Y5U1"),
    (
        "aws-secret",
        "AWS secret access key",
        "aws_secret_access_key = " + _chars(40, _ALNUM[11:]),
        _chars(40, _ALNUM[11:]),
    ),
    (
        "slack",
        "Slack token",
        "xo" + "xb-" + "1234567890-1234567890123-" + _chars(24),
        "1234567890-1234567890123-" + _chars(24),
    ),
    (
        "openai",
        "OpenAI API key",
        "sk-" + _chars(20) + "T3Blbk" + "FJ" + _chars(20, _ALNUM[4:]),
        _chars(20) + "T3BlbkFJ" + _chars(20, _ALNUM[4:]),
    ),
    ("openai-project", "OpenAI API key", "sk-" + "proj-" + _chars(48), _chars(48)),
    ("google", "Google API key", "AI" + "za" + _chars(35, _ALNUM[3:]), _chars(35, _ALNUM[3:])),
    ("stripe", "Stripe key", "sk" + "_live_" + _chars(24, _ALNUM[6:]), _chars(24, _ALNUM[6:])),
    ("npm", "npm token", "np" + "m_" + _chars(36, _ALNUM[8:]), _chars(36, _ALNUM[8:])),
    (
        "url-credentials",
        "credentials in a URL",
        "https://deployer:" + "Zq8" + _chars(13) + "@huggingface.co/spaces/a/b",
        "Zq8" + _chars(13),
    ),
    (
        "hard-coded-password",
        "hard-coded secret",
        'db_password = "' + "Tr0ub4dor" + "-and-3" + '"',
        "Tr0ub4dor-and-3",
    ),
]
_KEY_BODY = "MIIEowIBAAKCAQEA" + _chars(60) + "\n" + _chars(64, _ALNUM[3:]) + "\n"
KEYS: list[tuple[str, str, str, str]] = [
    (
        f"key-{name}",
        "private key",
        f"-----BEGIN {header}-----\n{_KEY_BODY}-----END {header}-----\n",
        _KEY_BODY.strip(),
    )
    for name, header in [
        ("rsa", "RSA PRIVATE " + "KEY"),
        ("ec", "EC PRIVATE " + "KEY"),
        ("dsa", "DSA PRIVATE " + "KEY"),
        ("pkcs8", "PRIVATE " + "KEY"),
        ("encrypted", "ENCRYPTED PRIVATE " + "KEY"),
        ("openssh", "OPENSSH PRIVATE " + "KEY"),
        ("pgp", "PGP PRIVATE " + "KEY BLOCK"),
    ]
] + [
    (
        "key-putty",
        "PuTTY private key",
        "PuTTY-User-" + "Key-File-3: ssh-ed25519\nEncryption: none\nComment: deploy\n"
        "Public-Lines: 2\nAAAAC3NzaC1lZDI1NTE5\nPrivate-Lines: 1\n" + _chars(44) + "\n",
        _chars(44),
    ),
    (
        "key-ssh2",
        "private key",
        "---- BEGIN SSH2 ENCRYPTED PRIVATE " + "KEY ----\n" + _KEY_BODY,
        _KEY_BODY.strip(),
    ),
]
ALL_SECRETS = SECRETS + KEYS


def _png(**chunks: tuple[str, str]) -> bytes:
    """A real PNG written by Pillow, with text chunks ``keyword=(kind, text)``."""
    info = PngImagePlugin.PngInfo()
    for keyword, (kind, text) in chunks.items():
        if kind == "tEXt":
            info.add_text(keyword, text)
        elif kind == "zTXt":
            info.add_text(keyword, text, zip=True)
        else:
            info.add_itxt(keyword, text, lang="en", tkey=keyword, zip=kind == "iTXt-zip")
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _safetensors(metadata: dict[str, str]) -> bytes:
    """Real safetensors bytes (random weights) with ``__metadata__``, via the library."""
    weights = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    return save_safetensors({"weight": weights}, metadata=metadata)


def _escaped_json(text: str) -> bytes:
    """JSON in which every character is a \\u escape: no secret is visible in the bytes."""
    escaped = "".join(f"\\u{ord(char):04x}" for char in text)
    return ('{"note": "' + escaped + '"}').encode("ascii")


def _binary_with(payload: bytes, offset: int) -> bytes:
    """Random bytes (not valid UTF-8) with ``payload`` at ``offset``."""
    noise = random.Random(offset).randbytes(4096)  # noqa: S311 - test data, not crypto
    return b"\xff\xfe\x00\x80" + noise[:offset] + payload + noise[offset:]


def _zip(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def _jpeg_comment(text: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 30)).save(buffer, format="JPEG", comment=text)
    return buffer.getvalue()


# (id, bundle path, encoder): each plants one secret in one form.
FORMS: list[tuple[str, str, Callable[[str], bytes]]] = [
    ("text", "src/fakescope/settings_local.py", lambda s: f'VALUE = """{s}"""\n'.encode()),
    ("glued", "src/fakescope/notes.txt", lambda s: f"see:x{s}_x and more\n".encode()),
    ("after-nul", "src/fakescope/blob.txt", lambda s: b"header\x00\x01\x02" + s.encode()),
    ("utf16le-bom", "streamlit_app/notes.txt", lambda s: s.encode("utf-16")),
    ("utf16be", "streamlit_app/notes_be.txt", lambda s: s.encode("utf-16-be")),
    (
        "utf16-in-binary",
        "models/v1/extra.onnx",
        lambda s: _binary_with(s.encode("utf-16-le"), 1001),  # odd offset
    ),
    ("utf32", "src/fakescope/wide.txt", lambda s: s.encode("utf-32")),
    ("binary-ext", "src/fakescope/samples/photo.webp", lambda s: _binary_with(s.encode(), 333)),
    ("png-text", "src/fakescope/samples/t.png", lambda s: _png(Comment=("tEXt", s))),
    ("png-ztxt", "src/fakescope/samples/z.png", lambda s: _png(Comment=("zTXt", s))),
    ("png-itxt", "src/fakescope/samples/i.png", lambda s: _png(Description=("iTXt", s))),
    ("png-itxt-zip", "src/fakescope/samples/iz.png", lambda s: _png(Author=("iTXt-zip", s))),
    (
        "png-utf16",
        "src/fakescope/samples/u.png",
        # A UTF-16 text inside a compressed chunk: two decodings on top of each other.
        lambda s: _png(Comment=("zTXt", s.encode("utf-16-le").decode("latin-1"))),
    ),
    ("jpeg-comment", "src/fakescope/samples/c.jpg", _jpeg_comment),
    (
        "safetensors",
        "models/v1/adapter.safetensors",
        lambda s: _safetensors({"format": "pt", "note": s}),
    ),
    ("json-escaped", "models/v1/extra.json", _escaped_json),
    ("zip", "src/fakescope/samples/archive.zip", lambda s: _zip("inner/conf.txt", s.encode())),
    ("gzip", "src/fakescope/samples/log.gz", lambda s: gzip.compress(s.encode(), mtime=0)),
]


@pytest.fixture(autouse=True)
def _no_deploy_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real HF_TOKEN must neither leak into nor change these tests."""
    monkeypatch.delenv("HF_TOKEN", raising=False)


def _assert_caught(problems: list[str], rel: str, kind: str, secret: str) -> None:
    assert any(
        p.startswith(rel) and f" {kind} (" in p for p in problems
    ), f"{kind} not reported in {rel}: {problems}"
    assert all(secret not in p for p in problems), problems


@pytest.mark.parametrize(
    ("name", "kind", "planted", "secret"), ALL_SECRETS, ids=[s[0] for s in ALL_SECRETS]
)
@pytest.mark.parametrize(("form", "rel", "encode"), FORMS, ids=[f[0] for f in FORMS])
def test_scan_bytes_planted_secret_in_every_form_is_found_and_redacted(
    name: str,
    kind: str,
    planted: str,
    secret: str,
    form: str,
    rel: str,
    encode: Callable[[str], bytes],
) -> None:
    problems = pd.scan_bytes(encode(planted), rel)

    _assert_caught(problems, rel, kind, secret)


def test_scan_bytes_text_reports_line_and_redacted_prefix() -> None:
    token = SECRETS[0][2]
    problems = pd.scan_bytes(f"a = 1\nb = 'x{token}_x'\n".encode(), "app.py")

    assert problems == [
        "app.py:2: looks like a Hugging Face token (hf_***, 37 characters); remove it "
        "(secrets go in Space settings)"
    ]


def test_scan_bytes_png_ztxt_names_chunk_and_keyword() -> None:
    problems = pd.scan_bytes(_png(Comment=("zTXt", "note " + KEYS[6][2])), "s/p.png")

    assert len(problems) == 1
    assert problems[0].startswith(
        "s/p.png (PNG zTXt chunk 'Comment', byte 5): looks like a private key "
        "(-----BEGIN PGP PRIVATE KEY BLOCK-----"
    )


def test_scan_bytes_secret_in_png_keyword_is_hidden_in_every_message() -> None:
    token = SECRETS[0][2]
    data = _png(**{token: ("tEXt", "and " + SECRETS[7][2])})

    problems = pd.scan_bytes(data, "k.png")

    assert any("Hugging Face token" in p for p in problems)
    assert any("AWS access key id" in p and "PNG tEXt chunk 'hf_***'" in p for p in problems)
    assert all(SECRETS[0][3] not in p and SECRETS[7][3] not in p for p in problems), problems


def test_scan_bytes_utf16_reports_byte_offset() -> None:
    token = SECRETS[0][2]
    data = _binary_with(token.encode("utf-16-be"), 100)

    problems = pd.scan_bytes(data, "m/w.bin")

    # 4 leading bytes + 100 of noise, then BE puts the NUL first: the 'h' is at 105.
    assert problems[0].startswith("m/w.bin (UTF-16 text, byte 105): looks like a Hugging Face")


def test_scan_bytes_many_secrets_each_reported_once() -> None:
    text = "\n".join(planted for _, _, planted, _ in ALL_SECRETS).encode("utf-16")

    problems = pd.scan_bytes(text, "all.txt")

    assert len(problems) == pd.MAX_FINDINGS_PER_FILE + 1
    assert (
        problems[-1]
        == f"all.txt: {len(ALL_SECRETS) - pd.MAX_FINDINGS_PER_FILE} more secrets like the above"
    )


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: t.encode(),
        lambda t: t.encode("utf-16-le"),
        lambda t: _png(Comment=("zTXt", t)),
        lambda t: _safetensors({"note": t}),
        lambda t: _binary_with(t.encode(), 77),
    ],
    ids=["text", "utf16", "png-ztxt", "safetensors", "binary"],
)
def test_scan_bytes_deploy_token_value_found_in_any_form(
    monkeypatch: pytest.MonkeyPatch, encode: Callable[[str], bytes]
) -> None:
    # Not shaped like any rule: only the value of $HF_TOKEN gives it away.
    monkeypatch.setenv("HF_TOKEN", "plain-deploy-secret-42")

    problems = pd.scan_bytes(encode("use plain-deploy-secret-42 here"), "x.dat")

    assert problems == ["x.dat: contains the value of $HF_TOKEN; remove it"]


def test_scan_bytes_decompression_bomb_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pd, "MAX_DECOMPRESSED_BYTES", 1024 * 1024)
    bomb = gzip.compress(b"\x00" * (2 * 1024 * 1024))

    problems = pd.scan_bytes(bomb, "big.gz")

    assert problems == [
        "big.gz: gzip content decompresses to over 1.0 MB, the scan limit; it cannot be checked "
        "for secrets, so it is not deployed"
    ]


def test_scan_bytes_many_small_members_share_one_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pd, "MAX_DECOMPRESSED_BYTES", 1024 * 1024)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index in range(3):  # small gzips, each under the limit, together over it
            archive.writestr(f"part{index}.gz", gzip.compress(b"\x00" * (400 * 1024)))

    problems = pd.scan_bytes(buffer.getvalue(), "parts.zip")

    assert problems == [
        "parts.zip: zip member 'part2.gz' > gzip content takes the decompressed content over "
        "1.0 MB, the scan limit; it cannot be checked for secrets, so it is not deployed"
    ]


def test_scan_bytes_secret_across_scan_windows_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small windows so the token straddles a boundary; the overlap must catch it.
    monkeypatch.setattr(pd, "SCAN_WINDOW", 4096)
    monkeypatch.setattr(pd, "SCAN_OVERLAP", 256)
    token = SECRETS[0][2]
    # Not UTF-8 (so the windowed byte scan runs); the token spans bytes 4076 to 4113.
    data = b"\xff" * (4096 - 20) + token.encode() + b"\xff" * 5000

    problems = pd.scan_bytes(data, "w.bin")

    assert len(problems) == 1 and "Hugging Face token" in problems[0]


@pytest.mark.parametrize(
    "text",
    [
        "push to https://user:$HF_TOKEN@huggingface.co/spaces/OWNER/NAME\n",
        "https://user:<token>@huggingface.co and https://user:***@host/x\n",
        "from huggingface_hub import hf_hub_download  # hf_hub_download_and_cache_everything\n",
        'ADMIN_TOKEN_ENV = "FAKESCOPE_ADMIN_TOKEN"\npassword = os.environ["PASSWORD"]\n',
        'secret = "${SECRET_VALUE}"\napi_key: "<your key here>"\n',
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
        "-----END PUBLIC KEY-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        "sha256 3f2a" + "0" * 60 + " AKIA is a prefix; ghp_ too\n",
    ],
    ids=[
        "placeholder-url",
        "redacted-url",
        "hf-identifiers",
        "env-names",
        "templates",
        "public-key",
        "cert",
        "prefixes",
    ],
)
def test_scan_bytes_lookalikes_pass(text: str) -> None:
    assert pd.scan_bytes(text.encode(), "doc.txt") == []
    assert pd.scan_bytes(text.encode("utf-16"), "doc16.txt") == []


def test_scan_real_bundle_files_find_nothing(tmp_path: Path) -> None:
    # The committed model, images and sources: no false positive anywhere (binary included).
    pd.build_bundle(tmp_path / "space", REPO_ROOT)
    files = [p for p in (tmp_path / "space").rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files)
    assert any(p.suffix == ".png" for p in files)

    for path in files:
        assert pd.scan_bytes(path.read_bytes(), path.name) == [], path


# -- the gate: planted in a source tree, the bundle fails and nothing is pushed ------------------


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A copy of the repository's bundle inputs, to plant secrets in."""
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


def _plants() -> list[tuple[str, str, str, bytes]]:
    """One planted file per secret, cycling through the forms: (rel, kind, secret, bytes)."""
    plants = []
    for index, (name, kind, planted, secret) in enumerate(ALL_SECRETS):
        form, rel, encode = FORMS[index % len(FORMS)]
        stem, dot, suffix = rel.rpartition(".")
        plants.append((f"{stem}_{name}{dot}{suffix}", kind, secret, encode(planted)))
    return plants


def test_build_bundle_every_planted_secret_fails_the_gate(tmp_path: Path, source: Path) -> None:
    plants = _plants()
    assert len(plants) >= 20
    for rel, _, _, data in plants:
        (source / rel).write_bytes(data)

    with pytest.raises(pd.DeploymentError) as caught:
        pd.build_bundle(tmp_path / "space", source)

    for rel, kind, secret, _ in plants:
        _assert_caught(caught.value.problems, rel, kind, secret)


def test_cli_planted_secrets_exit_1_push_nothing_print_no_secret(
    tmp_path: Path, source: Path
) -> None:
    plants = _plants()
    for rel, _, _, data in plants:
        (source / rel).write_bytes(data)
    bare = tmp_path / "space.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True, timeout=60)

    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--out",
            str(tmp_path / "space"),
            "--source",
            str(source),
            "--push",
            str(bare),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert "nothing was pushed" in result.stderr
    for rel, kind, secret, _ in plants:
        assert any(rel in line and kind in line for line in result.stderr.splitlines()), rel
        assert secret not in result.stdout + result.stderr
    refs = subprocess.run(
        ["git", "for-each-ref"], cwd=bare, capture_output=True, text=True, check=True, timeout=60
    )
    assert refs.stdout == ""


def test_safetensors_header_is_what_the_library_writes() -> None:
    # The scan decodes the header the way the format defines it: u64 LE size, then JSON.
    data = _safetensors({"note": "hello"})
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + size])

    assert header["__metadata__"] == {"note": "hello"}
    assert pd._safetensors_header(data) == header
