"""Time the demo model end to end in this working tree against another commit, interleaved.

    python scripts/compare_with_main.py [--ref ed20602] [--rounds 8] [--passes 2]

Makes a git worktree of ``--ref`` (default ``ed20602``, ``main`` when issue 14 part 3 started) in
a temporary folder, then starts one Python process per tree with ``PYTHONPATH`` pointing at that
tree's ``src``. Both load the same model (the registry's active version in this tree's
``models/``, the demo model) with ``Settings(batch_size=1)`` and score the same sixteen 640x480
JPEGs (quality 90, ``tests/conftest.photo_like``, as ``tests/benchmarks/bench_support.photos_640``)
one call of ``Predictor.predict`` per image, features and photo check on, as the dashboard and
the API call it.

The processes take turns, A B A B ...: in each round each scores every photo ``--passes``
times while the other waits (blocked on a pipe, idle), so both see the same load on a shared
machine. Printed: each side's median milliseconds per image, per round and overall, the ratio
(reference / this tree) per round and its median, and the 1-minute load average before and after.
The worktree is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess  # nosec B404 - runs this interpreter and git with fixed arguments
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REF = "ed20602"

# Runs in each tree's process: reads one command a line ("run" or "quit"), answers one JSON line.
CHILD = r"""
import json, os, sys, time
from pathlib import Path
from fakescope.config import Settings
from fakescope.model import load_model
from fakescope.predictor import Predictor

model_dir, photo_dir, passes = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
settings = Settings(batch_size=1, precision=sys.argv[4], runtime=sys.argv[5])
predictor = Predictor(load_model(model_dir), settings)
photos = [p.read_bytes() for p in sorted(photo_dir.glob("*.jpg"))]
predictor.warm_up()
for data in photos:  # first calls: allocator, FFT plans, thread pools
    predictor.predict(data)
extra = predictor.info.extra.get("acceleration", {})
import fakescope
ready = {"ready": True, "precision": predictor.info.precision,
         "runtime": extra.get("runtime", "torch"), "src": fakescope.__file__}
print(json.dumps(ready), flush=True)
for line in sys.stdin:
    if line.strip() != "run":
        break
    times = []
    for _ in range(passes):
        for data in photos:
            start = time.perf_counter()
            outcome = predictor.predict(data)[0]
            times.append((time.perf_counter() - start) * 1000.0)
            assert outcome.features["brightness"] is not None
    print(json.dumps({"ms": times}), flush=True)
"""


def _photos(folder: Path) -> None:
    """Write the sixteen benchmark photos (bench_support.photos_640) to ``folder``."""
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import encode, photo_like

    for seed in range(16):
        (folder / f"photo_{seed:02d}.jpg").write_bytes(
            encode(photo_like(640, 480, seed=seed), quality=90)
        )


def _demo_model() -> Path:
    """The registry's active version in this tree's models/ (the demo model)."""
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from fakescope.registry import Registry

    active = Registry(REPO_ROOT / "models").active()
    if active.path is None:
        raise SystemExit("models/ has no local active version: build the demo model first")
    return Path(active.path)


def _start(src: Path, model: Path, photos: Path, args: argparse.Namespace) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")}
    env["PYTHONPATH"] = str(src)
    # As tests/benchmarks/bench_support.py: libgomp threads sleep at barriers (a shared CPU).
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [sys.executable, "-c", CHILD, str(model), str(photos), str(args.passes)]
    command += [args.precision, args.runtime]
    return subprocess.Popen(  # nosec B603 - this interpreter, our own child code
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=src.parent
    )


def _answer(process: subprocess.Popen) -> dict:
    line = process.stdout.readline() if process.stdout else ""
    if not line:
        raise SystemExit(f"a timing process ended early (exit code {process.wait()})")
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default=DEFAULT_REF, help="commit to compare with")
    parser.add_argument("--rounds", type=int, default=8, help="turns of each side")
    parser.add_argument("--passes", type=int, default=2, help="passes over the photos a turn")
    parser.add_argument("--precision", default="auto", help="Settings.precision of both")
    parser.add_argument("--runtime", default="auto", help="Settings.runtime of both")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fakescope-compare-") as temp:
        temp_dir = Path(temp)
        photos = temp_dir / "photos"
        photos.mkdir()
        _photos(photos)
        model = _demo_model()
        worktree = temp_dir / "ref"
        subprocess.run(  # nosec B603 B607 - git from PATH, as a developer runs it
            ["git", "-C", str(REPO_ROOT), "worktree", "add", "--detach", str(worktree), args.ref],
            check=True,
            capture_output=True,
        )
        try:
            _compare(worktree, model, photos, args)
        finally:
            subprocess.run(  # nosec B603 B607 - git from PATH, as above
                ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(worktree)],
                check=False,
            )


def _compare(worktree: Path, model: Path, photos: Path, args: argparse.Namespace) -> None:
    sides = {f"ref {args.ref}": worktree / "src", "this tree": REPO_ROOT / "src"}
    load_before = os.getloadavg()
    processes = {name: _start(src, model, photos, args) for name, src in sides.items()}
    try:
        for name, process in processes.items():
            ready = _answer(process)
            print(f"{name}: {ready['precision']}/{ready['runtime']} from {ready['src']}")
        print(f"model {model}, 16 photos 640x480 JPEG q90, batch 1, {args.passes} passes a turn")
        times: dict[str, list[float]] = {name: [] for name in processes}
        ratios = []
        for round_index in range(args.rounds):
            medians = {}
            for name, process in processes.items():  # A then B, every round
                if process.stdin is None:  # made with stdin=PIPE; said for the type checker
                    raise RuntimeError("the child has no stdin")
                process.stdin.write("run\n")
                process.stdin.flush()
                ms = _answer(process)["ms"]
                times[name] += ms
                medians[name] = statistics.median(ms)
            reference, current = medians.values()
            ratios.append(reference / current)
            shown = ", ".join(f"{name} {value:.2f} ms" for name, value in medians.items())
            print(f"round {round_index + 1}: {shown}, ratio {ratios[-1]:.2f}")
    finally:
        for process in processes.values():
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=60)
    overall = {name: statistics.median(values) for name, values in times.items()}
    reference, current = overall.values()
    print(
        "median ms per image: "
        + ", ".join(f"{name} {value:.2f}" for name, value in overall.items())
        + f"; ratio of medians {reference / current:.2f}, median of round ratios "
        f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})"
    )
    load_after = os.getloadavg()
    print(
        "load average (1, 5, 15 min): before "
        + " ".join(f"{v:.2f}" for v in load_before)
        + ", after "
        + " ".join(f"{v:.2f}" for v in load_after)
    )


if __name__ == "__main__":
    main()
