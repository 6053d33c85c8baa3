"""Generate real-generator fakes from the demo photo pool into a content-addressed cache.

    python scripts/generate_fakes.py --list                       # generators and whether they run
    python scripts/generate_fakes.py --max-side 256 --limit 20    # 20 new twins per generator
    python scripts/generate_fakes.py --generators realcugan-se-x2,dcgan-digiface --samples 64

Upscalers make *aligned twins*: each photo (or crop of it, at most ``--max-side`` px a side) is
stored once as the real twin (``reals/``), and every upscaler shrinks it by its factor and brings
it back to the same size (``<generator>/``). Translators (style transfer) repaint the same crop.
Samplers (true generators) make images from seeds.

Everything lands under ``--output`` (default ``build/generated/``)::

    reals/<split>/<photo>-c<crop>-<hash>.png       the real twin (PNG, lossless)
    <generator>/<split>/<photo>-c<crop>-<hash>.png the fake twin, same size and content
    <generator>/<split>/seed<seed>-<hash>.png      a sampler's image
    manifest.jsonl                                 one JSON line per output

File names carry a hash of (photo bytes, crop, generator, package version, parameters), so a
re-run only does what is missing and a new package version or parameter makes new files instead of
mixing old and new. The run can stop at any point (Ctrl-C, ``--time-budget``) and resume.

The split of every photo is the demo model's split by scene group (``split_photos``, seed 0) and is
part of the path and the manifest. Held-out photos are skipped unless ``--splits`` names
``heldout`` explicitly (for evaluation only), and a train/validation photo whose bytes or key match
a file in ``tests/quality/heldout_photos/`` stops the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from fakescope.errors import TrainingError
from fakescope.training.generators import (
    DEFAULT_GENERATORS,
    DEFAULT_TILE,
    GENERATORS,
    Generator,
    NcnnUpscaler,
    get_generator,
)
from fakescope.training.photos import (
    DEFAULT_MAX_SIDE,
    collect_photos,
    fetch_debian_packages,
    split_photos,
)

ROOT = Path(__file__).resolve().parents[1]
HELDOUT_DIR = ROOT / "tests" / "quality" / "heldout_photos"
SPLITS = ("train", "validation", "heldout")
# Real twins are cropped to a multiple of 12 so every factor (2, 3, 4) divides them: one real per
# crop serves all upscalers, pixel-aligned with each fake.
ALIGN = 12
RECIPE = "twin-v1"  # bump when the preparation of reals changes: old cache entries stop matching


@dataclass(frozen=True)
class PhotoItem:
    """One real twin to make: a crop of a curated photo.

    Attributes:
        key: the curated photo's key.
        split: ``train``, ``validation`` or ``heldout``.
        group: the photo's scene group.
        path: the normalised photo file.
        sha256: hash of that file's bytes.
        crop: crop index (0 is the centre-most crop).
        box: (left, top, right, bottom) of the crop in the normalised photo.
    """

    key: str
    split: str
    group: str
    path: Path
    sha256: str
    crop: int
    box: tuple[int, int, int, int]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "generated")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "photo-cache")
    parser.add_argument("--debs", type=Path, action="append", default=[])
    parser.add_argument(
        "--generators",
        default=",".join(DEFAULT_GENERATORS),
        help="comma-separated names, or 'all' (see --list)",
    )
    parser.add_argument("--splits", default="train,validation", help="photo splits to use")
    parser.add_argument(
        "--max-side",
        type=int,
        default=256,
        help="crop side in px: each real twin is at most this size (bounds the tiles per twin)",
    )
    parser.add_argument(
        "--crops", type=int, default=1, help="crops per photo (centre first, then spread)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many new outputs per generator"
    )
    parser.add_argument("--samples", type=int, default=64, help="seeds per sampler generator")
    parser.add_argument("--time-budget", type=float, default=None, help="stop after N seconds")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per network call")
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE, help="input tile side in px")
    parser.add_argument("--list", action="store_true", help="list generators and exit")
    return parser.parse_args(argv)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def png_bytes(image: Image.Image) -> bytes:
    """An image as PNG bytes (no metadata, so equal pixels give equal bytes)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file and a rename, so a stopped run leaves no half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cache_key(payload: dict[str, Any]) -> str:
    """Short content address of a JSON-able payload."""
    return sha256_bytes(json.dumps(payload, sort_keys=True).encode())[:16]


def crop_boxes(width: int, height: int, side: int, count: int) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` crops of at most ``side`` px a side, multiples of ALIGN, centre first.

    The crops sit on an even grid over the photo (non-overlapping where the photo allows), ordered
    by distance to the centre, so ``--crops 1`` is the centre crop and more crops add the rest.
    """
    cw = min(side, width) // ALIGN * ALIGN
    ch = min(side, height) // ALIGN * ALIGN
    if cw < ALIGN or ch < ALIGN:
        return []
    nx, ny = math.ceil(width / cw), math.ceil(height / ch)
    xs = [round(i * (width - cw) / (nx - 1)) if nx > 1 else (width - cw) // 2 for i in range(nx)]
    ys = [round(j * (height - ch) / (ny - 1)) if ny > 1 else (height - ch) // 2 for j in range(ny)]
    boxes = [(x, y, x + cw, y + ch) for y in ys for x in xs]
    cx, cy = width / 2, height / 2
    boxes.sort(key=lambda b: ((b[0] + b[2]) / 2 - cx) ** 2 + ((b[1] + b[3]) / 2 - cy) ** 2)
    return boxes[:count]


def heldout_fingerprints() -> tuple[set[str], set[str]]:
    """Keys and byte hashes of the committed held-out photos."""
    keys, hashes = set(), set()
    for path in sorted(HELDOUT_DIR.glob("*.jpg")):
        keys.add(path.stem)
        hashes.add(sha256_bytes(path.read_bytes()))
    return keys, hashes


def photo_items(args: argparse.Namespace, splits: Sequence[str]) -> list[PhotoItem]:
    """The crops to make twins from, in the requested splits, held-out guard applied."""
    deb_root = fetch_debian_packages(args.cache, local_debs=args.debs)
    photos = collect_photos(
        args.cache / f"photos-{DEFAULT_MAX_SIDE}", deb_root=deb_root, max_side=DEFAULT_MAX_SIDE
    )
    split = split_photos(photos, seed=0)
    by_split = {"train": split.train, "validation": split.validation, "heldout": split.heldout}
    held_keys, held_hashes = heldout_fingerprints()
    items = []
    for name in splits:
        for photo in sorted(by_split[name], key=lambda p: p.key):
            digest = sha256_bytes(photo.path.read_bytes())
            if name != "heldout" and (photo.key in held_keys or digest in held_hashes):
                raise SystemExit(
                    f"refusing: {name} photo {photo.key} is one of the committed held-out photos "
                    f"({HELDOUT_DIR}); the split and the held-out folder disagree"
                )
            for index, box in enumerate(
                crop_boxes(photo.width, photo.height, args.max_side, args.crops)
            ):
                items.append(
                    PhotoItem(photo.key, name, photo.group, photo.path, digest, index, box)
                )
    return items


def seed_split(seed: int) -> str:
    """Split of a sampler seed: 70 % train, 15 % validation, 15 % held out, interleaved."""
    r = seed % 20
    return "train" if r < 14 else "validation" if r < 17 else "heldout"


class Manifest:
    """manifest.jsonl: read once, appended one flushed line per new output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: set[str] = set()
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    try:
                        self.done.add(json.loads(line)["key"])
                    except (ValueError, KeyError):
                        continue  # a line cut by a crash: its output is redone or re-listed

    def add(self, record: dict[str, Any]) -> None:
        """Append one record and flush it to disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.add(record["key"])


def real_twin(item: PhotoItem, output: Path) -> tuple[Path, Image.Image, str]:
    """The stored real twin of a crop (made once), its image and its SHA-256."""
    key = cache_key({"photo": item.sha256, "box": item.box, "recipe": RECIPE})
    path = output / "reals" / item.split / f"{item.key}-c{item.crop}-{key}.png"
    if path.is_file():
        data = path.read_bytes()
    else:
        with Image.open(item.path) as opened:
            image = opened.convert("RGB").crop(item.box)
        data = png_bytes(image)
        write_atomic(path, data)
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    return path, image, sha256_bytes(data)


def now() -> str:
    """UTC time stamp."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Job:
    """One output to make: its cache key, its path and how to make it."""

    generator: Generator
    key: str
    path: Path
    item: PhotoItem | None = None
    seed: int | None = None
    split: str = "train"


def twin_jobs(generator: Generator, items: Sequence[PhotoItem], output: Path) -> Iterator[Job]:
    """A twin job for every crop, in a fixed order."""
    version = generator.version
    for item in items:
        key = cache_key(
            {
                "photo": item.sha256,
                "box": item.box,
                "recipe": RECIPE,
                "generator": generator.name,
                "version": version,
                "params": generator.params(),
            }
        )
        path = output / generator.name / item.split / f"{item.key}-c{item.crop}-{key}.png"
        yield Job(generator, key, path, item=item, split=item.split)


def sampler_jobs(
    generator: Generator, samples: int, splits: Sequence[str], output: Path
) -> Iterator[Job]:
    """A sample job for every seed below ``samples`` whose split is requested."""
    version = generator.version
    for seed in range(samples):
        split = seed_split(seed)
        if split not in splits:
            continue
        key = cache_key(
            {"seed": seed, "generator": generator.name, "version": version, **generator.params()}
        )
        path = output / generator.name / split / f"seed{seed:06d}-{key}.png"
        yield Job(generator, key, path, seed=seed, split=split)


def run_job(job: Job, args: argparse.Namespace, manifest: Manifest) -> bool:
    """Make one output (or list one a stopped run wrote); True when the network ran."""
    generator = job.generator
    record: dict[str, Any] = {
        "key": job.key,
        "split": job.split,
        "generator": generator.name,
        "family": generator.family,
        "package": generator.package,
        "version": generator.version,
        "params": generator.params(),
        "threads": args.threads,
    }
    ran = not job.path.is_file()  # a file without a manifest line: a stopped run wrote it
    started = time.perf_counter()
    if job.item is not None:
        item = job.item
        real_path, real, real_sha = real_twin(item, args.output)
        if ran:
            fake = generator.generate(real)
            if fake.size != real.size:
                raise SystemExit(f"{generator.name}: fake {fake.size} != real {real.size}")
            write_atomic(job.path, png_bytes(fake))
        if isinstance(generator, NcnnUpscaler):
            scale = generator.scale
            record["tiles"] = generator.count_tiles(real.height // scale, real.width // scale)
        record.update(
            kind="twin",
            photo=item.key,
            crop=item.crop,
            box=list(item.box),
            group=item.group,
            photo_sha256=item.sha256,
            real=str(real_path.relative_to(args.output)),
            real_sha256=real_sha,
            width=real.width,
            height=real.height,
        )
    else:
        seed = int(job.seed or 0)  # sampler jobs always carry their seed
        if ran:
            write_atomic(job.path, png_bytes(generator.sample(seed)))
        record.update(kind="sample", seed=seed)
    data = job.path.read_bytes()
    with Image.open(io.BytesIO(data)) as stored:
        record.setdefault("width", stored.width)
        record.setdefault("height", stored.height)
    record.update(
        fake=str(job.path.relative_to(args.output)),
        sha256=sha256_bytes(data),
        seconds=round(time.perf_counter() - started, 3) if ran else None,
        created=now(),
    )
    manifest.add(record)
    cost = f"{record['seconds']}s" if ran else "listed (written by a stopped run)"
    print(f"{generator.name:28s} {job.split:10s} {job.path.name} {cost}", flush=True)
    return ran


def run_all(
    generators: Sequence[Generator],
    items: Sequence[PhotoItem],
    splits: Sequence[str],
    args: argparse.Namespace,
    manifest: Manifest,
) -> dict[str, int]:
    """Round-robin over the generators, one output each in turn, so all of them progress evenly
    under a time budget. Returns how many outputs each generator made."""
    deadline = time.monotonic() + args.time_budget if args.time_budget else None
    queues: dict[str, Iterator[Job]] = {}
    for generator in generators:
        if generator.kind != "sampler":
            queues[generator.name] = twin_jobs(generator, items, args.output)
        else:
            queues[generator.name] = sampler_jobs(generator, args.samples, splits, args.output)
    made = {name: 0 for name in queues}
    for generator in generators:
        generator.load()  # before any timing: the manifest's seconds are generation only
    while queues:
        for name in list(queues):
            if deadline is not None and time.monotonic() > deadline:
                return made
            if args.limit is not None and made[name] >= args.limit:
                del queues[name]
                continue
            job = next(
                (j for j in queues[name] if not (j.key in manifest.done and j.path.is_file())),
                None,
            )
            if job is None:
                del queues[name]
                continue
            if run_job(job, args, manifest):
                made[name] += 1
    return made


def list_generators() -> None:
    """Print every generator, its family, package and whether it runs here."""
    for name in GENERATORS:
        generator = get_generator(name)
        reason = generator.unavailable_reason()
        status = "ok " + generator.version if reason is None else "missing: " + reason
        print(f"{name:28s} {generator.family:16s} {generator.kind:9s} {status}")


def main(argv: Sequence[str] | None = None) -> int:
    """Generate what is missing; print a summary."""
    args = parse_args(argv)
    if args.list:
        list_generators()
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    names = list(GENERATORS) if args.generators == "all" else args.generators.split(",")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise SystemExit(f"unknown split(s) {unknown}; use {', '.join(SPLITS)}")
    generators = []
    for name in names:
        try:
            generator = get_generator(name.strip(), tile=args.tile, num_threads=args.threads)
        except TrainingError as exc:
            raise SystemExit(str(exc)) from None
        reason = generator.unavailable_reason()
        if reason:
            print(f"skipped: {reason}", file=sys.stderr)
            continue
        generators.append(generator)
    if not generators:
        raise SystemExit("no generator can run here (see --list)")
    manifest = Manifest(args.output / "manifest.jsonl")
    twins = [g for g in generators if g.kind != "sampler"]
    try:
        items = photo_items(args, splits) if twins else []
        made = run_all(generators, items, splits, args, manifest)
    except TrainingError as exc:  # a missing package, apt-get or photo: say which, no traceback
        raise SystemExit(str(exc)) from None
    print(json.dumps({"made": made, "output": str(args.output)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
