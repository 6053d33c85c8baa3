#!/usr/bin/env python3
"""Train the small ViT that int8 fidelity is measured on (issue 14), from the generator cache.

    python scripts/train_fidelity_vit.py --generated build/generated \\
        --output tests/quality/fidelity_vit

Why: quantization error depends on the weights. Random weights give near-uniform logits, where
int8 looks harmless; a trained model has the large, structured activations (and confident
logits) that int8 has to keep. This is dima806's layout (ViTForImageClassification, resize mode,
224 px, labels Real/Fake) scaled down to 4 layers of width 192, so it trains on 2 CPU cores in
minutes and its folder (7.9 MB) can be committed: CI measures fidelity on it, never trains it.

Data: the real twins and the generators' outputs of the ``train`` split of
``scripts/generate_fakes.py``'s cache, every family but the held-out DCGAN, resized to 224 px the
way the serving Predictor does it. Each batch is half real twins, a quarter style transfer
(whose look a ViT learns within a hundred steps; on the upscalers' traces alone, resized, it
stayed at chance for 240 steps, and near-uniform logits are what this model must not have) and a
quarter the other generators, with random horizontal flips. The folder's ``metrics.json``
records the run and the accuracy on the cache's ``heldout`` split.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fakescope.model import load_model
from fakescope.preprocess import image_to_inputs
from fakescope.training.evaluate import roc_auc

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT_FAMILIES = ("dcgan",)
PREPROCESSOR = {
    "do_normalize": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "ViTImageProcessor",
    "image_std": [0.5, 0.5, 0.5],
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"height": 224, "width": 224},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generated", type=Path, default=ROOT / "build" / "generated")
    parser.add_argument("--output", type=Path, default=ROOT / "tests" / "quality" / "fidelity_vit")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report-only", action="store_true", help="measure the model in --output, do not train"
    )
    return parser.parse_args(argv)


def build_base(folder: Path, seed: int) -> Path:
    """A randomly initialised small ViT in dima806's layout (labels, preprocessor)."""
    from transformers import ViTConfig, ViTForImageClassification

    labels = {0: "Real", 1: "Fake"}
    config = ViTConfig(
        hidden_size=192,
        num_hidden_layers=4,
        num_attention_heads=3,
        intermediate_size=768,
        image_size=224,
        patch_size=16,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(seed)
    ViTForImageClassification(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR, indent=1))
    return folder


def records(generated: Path, split: str) -> tuple[list[Path], list[Path]]:
    """(unique real twins, fakes) of a split, held-out families left out."""
    reals: dict[str, Path] = {}
    fakes: list[Path] = []
    for line in (generated / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record["split"] != split or record["family"] in HELD_OUT_FAMILIES:
            continue
        fakes.append(generated / record["fake"])
        if record.get("real"):
            reals[record["real"]] = generated / record["real"]
    return sorted(reals.values()), sorted(fakes)


def inputs_of(paths: list[Path], spec) -> np.ndarray:
    """(n, 3, 224, 224) float32 model inputs, preprocessed as the Predictor does."""
    batches = []
    for path in paths:
        with Image.open(path) as opened:
            batches.append(image_to_inputs(opened.convert("RGB"), spec))
    return np.concatenate(batches).astype(np.float32)


def heldout_report(model, spec, generated: Path) -> dict:
    """Accuracy, ROC AUC and confidence on the cache's ``heldout`` split: overall, and per
    generator family against the same real twins (the model learned style transfer, not the
    upscalers' traces: it is a fixture for fidelity, not a detector)."""
    reals, _ = records(generated, "heldout")
    by_family: dict[str, list[Path]] = {}
    for line in (generated / "manifest.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else None
        if record and record["split"] == "heldout" and record["family"] not in HELD_OUT_FAMILIES:
            by_family.setdefault(record["family"], []).append(generated / record["fake"])

    def scores(paths: list[Path]) -> np.ndarray:
        inputs = inputs_of(paths, spec)
        with torch.inference_mode():
            logits = torch.cat(
                [
                    model(pixel_values=torch.from_numpy(inputs[i : i + 16])).logits
                    for i in range(0, len(inputs), 16)
                ]
            )
        return torch.softmax(logits, dim=1)[:, 1].numpy()

    real_scores = scores(reals)
    report = {"real_images": len(reals), "families": {}}
    every = [real_scores]
    for family, paths in sorted(by_family.items()):
        fake_scores = scores(sorted(paths))
        every.append(fake_scores)
        truth = [0] * len(real_scores) + [1] * len(fake_scores)
        report["families"][family] = {
            "images": len(fake_scores),
            "roc_auc": round(roc_auc(truth, [*real_scores, *fake_scores]), 4),
            "true_positive_rate": round(float((fake_scores >= 0.5).mean()), 4),
        }
    everything = np.concatenate(every)
    report["false_positive_rate"] = round(float((real_scores >= 0.5).mean()), 4)
    report["mean_confidence"] = round(float(np.abs(everything - 0.5).mean() * 2), 4)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.report_only:
        loaded = load_model(str(args.output))
        print(
            json.dumps(heldout_report(loaded.module.eval(), loaded.spec, args.generated), indent=1)
        )
        return 0
    args.output.mkdir(parents=True, exist_ok=True)
    build_base(args.output, args.seed)
    loaded = load_model(str(args.output))
    model, spec = loaded.module, loaded.spec

    train_reals, train_fakes = records(args.generated, "train")
    real_inputs = inputs_of(train_reals, spec)
    fake_inputs = inputs_of(train_fakes, spec)
    styled = [p for p in train_fakes if p.parent.parent.name.startswith("styletransfer")]
    styled_inputs = inputs_of(styled, spec)
    print(
        f"train: {len(real_inputs)} reals, {len(fake_inputs)} generator outputs "
        f"({len(styled_inputs)} of them style transfer)",
        flush=True,
    )

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.05)
    # Linear warm-up, then cosine decay to a tenth: a ViT from scratch diverged or stalled at
    # chance with a one-cycle peak of 1e-3 (loss 0.70 after 240 steps).
    warmup = 20

    def learning_rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate)
    started = time.perf_counter()
    model.train()
    half = args.batch_size // 2
    running = None
    for step in range(args.steps):
        # Each batch: half reals, a quarter style transfer, a quarter the other generators.
        chosen_reals = real_inputs[rng.choice(len(real_inputs), size=half, replace=False)]
        quarter = (args.batch_size - half) // 2
        chosen_styled = styled_inputs[rng.choice(len(styled_inputs), size=quarter, replace=False)]
        chosen_fakes = fake_inputs[
            rng.choice(len(fake_inputs), size=args.batch_size - half - quarter, replace=False)
        ]
        batch = np.concatenate([chosen_reals, chosen_styled, chosen_fakes])
        labels = np.concatenate([np.zeros(half), np.ones(args.batch_size - half)]).astype(np.int64)
        flip = rng.random(len(batch)) < 0.5
        batch[flip] = batch[flip][..., ::-1]
        loss = model(pixel_values=torch.from_numpy(batch), labels=torch.from_numpy(labels)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if (step + 1) % 25 == 0:
            print(f"step {step + 1}: loss {running:.4f}", flush=True)
    model.eval()
    model.save_pretrained(args.output)

    metrics = {
        "purpose": "int8 fidelity (issue 14): trained weights, not a detector to serve",
        "command": "python scripts/train_fidelity_vit.py "
        + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "train_images": {"real": len(real_inputs), "fake": len(fake_inputs)},
        "held_out_families": list(HELD_OUT_FAMILIES),
        "steps": args.steps,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "train_seconds": round(time.perf_counter() - started, 1),
        "heldout_split": heldout_report(model, spec, args.generated),
    }
    (args.output / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps(metrics["heldout_split"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
