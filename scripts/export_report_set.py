"""Copy a small, committed report set out of the generated cache (issue 10).

    python scripts/export_report_set.py        # build/generated -> tests/quality/generated

The quality tests and ``fakescope evaluate --generated tests/quality/generated`` need real
generator output in a fresh clone, where ``build/generated/`` (hundreds of MB, hours to make) is
absent. This takes the *held-out* split only (photos and seeds the shipped model never trained
on): every real twin, ``--per-generator`` outputs of each upscaler and translator spread over the
photos so that every real twin keeps at least one fake twin, and ``--samples`` sampler outputs.
Twins are centre-cropped to ``--side`` px, the real and the fake at the same box, so they stay
aligned. The manifest keeps each output's provenance (package, version, parameters).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT / "build" / "generated")
    parser.add_argument("--output", type=Path, default=ROOT / "tests" / "quality" / "generated")
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--per-generator", type=int, default=16)
    parser.add_argument("--samples", type=int, default=60)
    return parser.parse_args(argv)


def centre_crop(source: Path, target: Path, side: int) -> None:
    """Save the centre ``side`` px of ``source`` as an optimised PNG (smaller ones whole)."""
    with Image.open(source) as opened:
        image = opened.convert("RGB")
    if min(image.size) > side:
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, "PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    """Write the report set and its manifest; print what it holds."""
    args = parse_args(argv)
    records = [
        json.loads(line)
        for line in (args.source / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    heldout = [
        r for r in records if r["split"] == "heldout" and (args.source / r["fake"]).is_file()
    ]
    reals = sorted({r["real"] for r in heldout if r.get("real")})
    by_generator: dict[str, list[dict]] = {}
    for record in sorted(heldout, key=lambda r: r["fake"]):
        by_generator.setdefault(record["generator"], []).append(record)
    chosen: list[dict] = []
    for index, (generator, items) in enumerate(sorted(by_generator.items())):
        if items[0].get("real"):
            # Twins: pick by the real they belong to, generators shifted along the reals, so every
            # real keeps a fake twin and each generator's picks spread over the photos.
            by_real = {item["real"]: item for item in items}
            wanted = [
                reals[(index * args.per_generator + k) % len(reals)]
                for k in range(args.per_generator)
            ]
            chosen.extend(by_real[real] for real in wanted if real in by_real)
        else:
            chosen.extend(items[: args.samples])
    if args.output.exists():
        shutil.rmtree(args.output)
    lines = []
    copied: set[str] = set()
    for record in chosen:
        for key in ("fake", "real"):
            name = record.get(key)
            if name and name not in copied:
                centre_crop(args.source / name, args.output / name, args.side)
                copied.add(name)
        record = dict(record, exported_side=args.side)
        lines.append(json.dumps(record, sort_keys=True))
    (args.output / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in args.output.rglob("*.png"))
    counts = {g: sum(1 for r in chosen if r["generator"] == g) for g in sorted(by_generator)}
    print(f"{len(copied)} files ({size / 1e6:.1f} MB) in {args.output}")
    print(f"reals: {len({r['real'] for r in chosen if r.get('real')})}; fakes: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
