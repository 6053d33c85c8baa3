"""The ``fakescope`` command.

Exit codes: 0 when the command ran (even if some input files were rejected: each gets its reason),
1 when the model cannot load or an operation fails, 2 for usage errors (a bad option, no files
found, a data folder without ``real/`` and ``fake/`` images), 3 when ``predict`` found files but
could score none of them (every one was rejected; each still gets its reason), 141 (128 +
SIGPIPE, what a shell reports for a program killed by a closed pipe) when the reader of the
output went away early, as in ``fakescope predict DIR | head -1``: the command then stops
quietly, and predictions made before that are already in the log. Errors are one line on stderr,
never a traceback.

``predict`` ends with a summary line (``scored 5: 2 fake, 2 real, 1 uncertain; rejected 1``):
after the table, or on stderr with ``--json`` / ``--csv`` so that stdout stays machine-readable.
``evaluate`` prints the metrics, the confusion matrix and each misclassified file.

``label`` records what an image really is (by prediction id, by hash, or from the image file,
which is hashed and kept in ``DATA_DIR/labelled_images``); ``labels list`` / ``labels export`` show
and save the labels, and ``labels mistakes OUT_DIR`` writes the labelled images the model got
wrong to ``OUT_DIR/real/`` and ``OUT_DIR/fake/`` for ``fakescope train``.

Commands that need no model (``--help``, ``models list``, ...) never import torch: every heavy
import sits inside the command that needs it, so they answer at once.

File names are data: the table and the CSV show them in a printable form (control characters and
bytes that are not UTF-8 as backslash escapes) and CSV cells never start a spreadsheet formula;
JSON keeps the exact name (JSON's own escapes make it safe).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakescope.config import Settings
from fakescope.errors import FakeScopeError
from fakescope.safe_text import csv_row, printable

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_NOTHING_SCORED = 3  # predict found files but every one was rejected
EXIT_DRIFT = 4  # monitor: the newest window drifted (for cron jobs and CI gates)
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `cmd | head` killed by the pipe


class UsageError(Exception):
    """Bad command-line usage (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fakescope`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    _tolerant_streams()
    try:
        settings = Settings.from_env()
        if getattr(args, "registry", None):
            settings = settings.replace(registry_dir=Path(args.registry))
        code = int(args.handler(args, settings) or EXIT_OK)
        # Flushed here, inside the try: a pipe closed by the reader shows up on this write.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except UsageError as exc:
        _error(exc)
        return EXIT_USAGE
    except FakeScopeError as exc:
        _error(exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("fakescope: interrupted", file=sys.stderr)
        return 130


def _error(exc: BaseException) -> None:
    """The one-line error on stderr (a name in the message cannot break the line or terminal)."""
    print(f"fakescope: error: {printable(exc)}", file=sys.stderr)


def _tolerant_streams() -> None:
    """Make stdout and stderr write what their encoding cannot hold as backslash escapes.

    Why: every name is made printable before it is written, but a terminal with a legacy encoding
    (LANG=en_US.ISO-8859-1) cannot hold a Chinese file name either, and one such name must not
    turn a finished run into a UnicodeEncodeError with no verdicts printed.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that cannot change
                pass


def _pipe_closed() -> int:
    """End quietly after the reader closed stdout (the recipe of Python's `signal` docs).

    Python flushes stdout again at exit; pointing the descriptor at /dev/null makes that flush
    succeed instead of printing "Exception ignored ... BrokenPipeError" on stderr.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor (tests)
        pass
    return EXIT_BROKEN_PIPE


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="fakescope", description="Tell real photographs from AI-generated images."
    )
    parser.add_argument(
        "--registry", help="model registry folder (default: FAKESCOPE_REGISTRY_DIR)"
    )
    commands = parser.add_subparsers(title="commands")

    predict = commands.add_parser("predict", help="score image files and folders")
    predict.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    predict.add_argument("--model", help="model folder or hf://owner/name@revision")
    fmt = predict.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON array")
    fmt.add_argument("--csv", action="store_true", help="print CSV")
    predict.add_argument("--threshold", type=float, help="fake threshold (default 0.5)")
    predict.add_argument(
        "--no-log", action="store_true", help="do not record predictions in the prediction log"
    )
    predict.add_argument(
        "--server",
        metavar="URL",
        help="score through a running FakeScope server (http://host:8501) instead of locally",
    )
    predict.add_argument(
        "--api-key", help="API key for --server (default: FAKESCOPE_API_KEY from the environment)"
    )
    predict.set_defaults(handler=_cmd_predict)

    train = commands.add_parser("train", help="train or fine-tune a model on DATA/real, DATA/fake")
    train.add_argument("data", nargs="?", help="folder with real/ and fake/ (omit with --demo)")
    train.add_argument("--out", required=True, help="output folder for the trained model")
    train.add_argument("--base", help="base checkpoint to fine-tune (folder or hf://...@rev)")
    train.add_argument("--demo", action="store_true", help="build the simulated demo data set")
    train.add_argument("--epochs", type=int, default=None, help="training epochs")
    train.add_argument("--seed", type=int, default=0, help="random seed (runs are deterministic)")
    train.add_argument("--register", action="store_true", help="register the result as a version")
    train.add_argument("--activate", action="store_true", help="with --register: make it active")
    train.add_argument(
        "--no-tracking",
        action="store_true",
        help="do not record the run in MLflow (default: recorded in DATA_DIR/mlflow.db when "
        "MLflow is installed; FAKESCOPE_TRACKING=off also turns it off)",
    )
    train.set_defaults(handler=_cmd_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="evaluate a model on DATA/real, DATA/fake, or the clean/web/hard generator report",
    )
    evaluate.add_argument("data", nargs="?", help="folder with real/ and fake/ images")
    evaluate.add_argument("--model", help="model folder or hf://owner/name@revision")
    evaluate.add_argument("--json", action="store_true", help="print metrics as JSON")
    evaluate.add_argument(
        "--generated",
        metavar="DIR",
        help="instead of DATA: a generated set with manifest.jsonl (scripts/generate_fakes.py, or "
        "tests/quality/generated): print the clean/web/hard report per generator",
    )
    evaluate.add_argument(
        "--split", default="heldout", help="with --generated: the split to report (default heldout)"
    )
    evaluate.add_argument(
        "--hold-out",
        metavar="FAMILIES",
        help="with --generated: comma-separated families the model never trained on (default: "
        "every family its metrics.json does not list as trained on)",
    )
    evaluate.add_argument(
        "--report-json", metavar="FILE", help="with --generated: also write the report here"
    )
    evaluate.set_defaults(handler=_cmd_evaluate)

    models = commands.add_parser("models", help="the model registry")
    sub = models.add_subparsers(title="registry commands")
    listing = sub.add_parser("list", help="list versions")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_models_list)
    show = sub.add_parser("show", help="show one version (default: the active one)")
    show.add_argument("version", nargs="?")
    show.set_defaults(handler=_cmd_models_show)
    promote = sub.add_parser(
        "promote",
        help="make a version active, if it passes the quality gate (it has metrics and a card, "
        "and does not score below the active version) or is forced with a reason",
    )
    promote.add_argument("version")
    promote.add_argument(
        "--force",
        metavar="REASON",
        help="promote although the gate failed; the reason is logged in promotions.log",
    )
    promote.set_defaults(handler=_cmd_models_promote)
    rollback = sub.add_parser("rollback", help="re-activate the previously active version")
    rollback.set_defaults(handler=_cmd_models_rollback)
    register = sub.add_parser("register", help="register a model folder or hf://...@revision")
    register.add_argument("source")
    register.add_argument("--name")
    register.add_argument("--notes", default="")
    register.add_argument("--activate", action="store_true")
    register.set_defaults(handler=_cmd_models_register)
    models.set_defaults(
        handler=lambda args, settings: _usage("models needs a command: " + _cmds(sub))
    )
    _add_label_commands(commands)

    traffic = commands.add_parser(
        "simulate-traffic",
        help="feed a reproducible stream of real and generated images through the model into "
        "the log",
        description="Draw a reproducible stream from a pool of real photos and generated images "
        "(each image real or fake with the set share, then a source or generator uniformly, then "
        "a file), vary each draw (crop, flip; sizes and JPEG qualities kept), optionally shift it, "
        "and log every prediction with source=simulate. Without --pool, --real, --fake or "
        "--samples: the project's pool (tests/quality/generated and tests/quality/heldout_photos "
        "of a source checkout, the demo models' reference pool), else the bundled samples "
        "(labelled by their real_/fake_ names).",
    )
    traffic.add_argument("--count", type=int, default=200, help="number of images (default 200)")
    _add_pool_arguments(traffic)
    traffic.add_argument(
        "--fake-share",
        type=float,
        metavar="F",
        help="share of generated images in the stream, in [0, 1] (default 0.3 when the pool has "
        "both real and fake images)",
    )
    traffic.add_argument(
        "--shift",
        choices=("brightness", "blur", "jpeg", "resize", "fake-share"),
        help="induce a shift (default: none); fake-share moves the stream's fake share to "
        "--strength",
    )
    traffic.add_argument(
        "--strength", type=float, default=0.5, help="shift strength in (0, 1] (default 0.5)"
    )
    traffic.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    traffic.add_argument(
        "--start", help="logged time of the first image, ISO 8601 (default: ends now)"
    )
    traffic.add_argument(
        "--interval-seconds",
        type=float,
        default=0.0,
        help="logged time between images (default 0: the real time of scoring)",
    )
    traffic.add_argument("--model", help="model folder or hf://owner/name@revision")
    traffic.set_defaults(handler=_cmd_simulate_traffic)
    _add_reference_commands(commands)
    _add_monitor_command(commands)
    return parser


# -- predict ----------------------------------------------------------------------------------


def collect_files(paths: Sequence[str]) -> list[Path]:
    """Files named directly, plus every file under named folders (sorted).

    Under a named folder, hidden files and hidden folders (any name starting with ``.``:
    ``.git``, ``.venv``, ``.cache``) are skipped, and hidden folders are not even entered, so a
    checkout's ``.git`` costs nothing. A hidden file or folder named directly is used.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found: list[Path] = []
            # os.walk does not follow links to folders, so a link loop cannot run away.
            for folder, subfolders, names in os.walk(path):
                subfolders[:] = [d for d in subfolders if not d.startswith(".")]
                found.extend(
                    Path(folder, name)
                    for name in names
                    if not name.startswith(".") and Path(folder, name).is_file()
                )
            files.extend(sorted(found))
        else:
            files.append(path)  # missing files are reported per file, not as a usage error
    return files


def _cmd_predict(args: argparse.Namespace, settings: Settings) -> int:
    if args.threshold is not None:
        if not 0 < args.threshold < 1:
            raise UsageError("--threshold must be between 0 and 1")
        settings = settings.replace(threshold=args.threshold)
    files = collect_files(args.paths)
    if not files:
        raise UsageError("no files found in the given folders")
    if args.server:
        # The server judges and logs (source "api"); the rows and output are the same.
        from fakescope.api.client import predict_remote

        if args.model:
            raise UsageError("--model cannot be used with --server (the server's model answers)")
        rows, predictor = predict_remote(
            args.server, files, api_key=args.api_key, threshold=args.threshold, settings=settings
        )
    else:
        from fakescope.predictor import Predictor  # torch: only when scoring here

        predictor = Predictor.from_source(args.model, settings)
        outcomes = predictor.predict([str(f) for f in files], errors="return")
        rows = [_outcome_row(path, outcome) for path, outcome in zip(files, outcomes)]
        if not args.no_log:
            _log_outcomes(outcomes, predictor, settings)
    summary = summary_line(rows)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.csv:
        _write_csv(rows)
    else:
        _print_table(rows, predictor)
        print(summary)
    if args.json or args.csv:
        # stdout is data a script parses; the summary is for the person watching.
        sys.stdout.flush()
        print(summary, file=sys.stderr)
    scored = sum("error" not in row for row in rows)
    return EXIT_OK if scored else EXIT_NOTHING_SCORED


def summary_line(rows: Sequence[dict[str, Any]]) -> str:
    """One line of counts: ``scored 5: 2 fake, 2 real, 1 uncertain; rejected 1``."""
    counts = {"fake": 0, "real": 0, "uncertain": 0}
    rejected = 0
    for row in rows:
        if "error" in row:
            rejected += 1
        else:
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    scored = sum(counts.values())
    return (
        f"scored {scored}: {counts['fake']} fake, {counts['real']} real, "
        f"{counts['uncertain']} uncertain; rejected {rejected}"
    )


def _outcome_row(path: Path, outcome: Any) -> dict[str, Any]:
    from fakescope.verdicts import Prediction

    if isinstance(outcome, Prediction):
        row = {
            "path": str(path),
            "verdict": outcome.verdict,
            "fake_probability": round(outcome.fake_probability, 6),
            "confidence": round(outcome.confidence, 6),
            "scores": {k: round(v, 6) for k, v in outcome.scores.items()},
            "model": outcome.model_name,
            "model_version": outcome.model_version,
            "latency_ms": round(outcome.latency_ms, 3),
            "sha256": outcome.sha256,
        }
        if outcome.reason:
            # Only where the score did not decide (an image that is not a photograph): a row
            # without "reason" (and without "error") is a verdict of the model's own.
            row["reason"] = outcome.reason
        return row
    return {"path": str(path), "error": outcome.message, "reason": outcome.reason}


def _log_outcomes(outcomes: list[Any], predictor: Any, settings: Settings) -> None:
    """Record CLI predictions in the prediction log; a log problem warns but never fails."""
    try:
        from fakescope.store import PredictionStore
        from fakescope.verdicts import Prediction

        store = PredictionStore.from_settings(settings)
        predictions = [o for o in outcomes if isinstance(o, Prediction)]
        if predictions:
            store.record_predictions(predictions, source="cli")
        for rejection in (o for o in outcomes if not isinstance(o, Prediction)):
            store.record_rejection(
                rejection,
                source="cli",
                model_name=predictor.info.name,
                model_version=predictor.info.version,
            )
    except (FakeScopeError, ImportError) as exc:
        print(f"fakescope: warning: predictions not logged: {exc}", file=sys.stderr)


def _write_csv(rows: list[dict[str, Any]]) -> None:
    fields = [
        "path",
        "verdict",
        "fake_probability",
        "confidence",
        "model",
        "model_version",
        "latency_ms",
        "sha256",
        "reason",
        "error",
    ]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    # Names and messages are untrusted: no cell may start a spreadsheet formula.
    writer.writerows(csv_row(row) for row in rows)


def _print_table(rows: list[dict[str, Any]], predictor: Any) -> None:
    # A name may hold ANSI escapes, carriage returns or bidi overrides that would rewrite the
    # terminal: the table shows its printable form.
    shown = [printable(r["path"]) for r in rows]
    width = min(60, max(len(p) for p in shown))
    for row, full in zip(rows, shown):
        path = full if len(full) <= width else "..." + full[-(width - 3) :]
        if "error" in row:
            print(f"{path:<{width}}  REJECTED   {printable(row['error'])}")
        else:
            print(
                f"{path:<{width}}  {row['verdict'].upper():<10} "
                f"p(fake)={row['fake_probability']:.3f}  confidence={row['confidence']:.3f}  "
                f"{row['latency_ms']:.0f} ms"
                + (f"  ({printable(row['reason'])})" if row.get("reason") else "")
            )
    info = predictor.info
    print(f"\nmodel: {printable(info.name)} {printable(info.version)} ({printable(info.source)})")
    if info.limits:
        print(f"limits: {printable(info.limits)}")


# -- train / evaluate -------------------------------------------------------------------------


def _cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.training import train_model

    if not args.demo and not args.data:
        raise UsageError("give a data folder (with real/ and fake/) or --demo")
    if args.activate and not args.register:
        raise UsageError("--activate needs --register")
    kwargs: dict[str, Any] = {"base": args.base, "demo": args.demo, "seed": args.seed}
    kwargs["tracking_dir"] = settings.data_dir
    if args.no_tracking:
        kwargs["tracking_enabled"] = False
    if settings.num_threads > 0:
        kwargs["num_threads"] = settings.num_threads
    if args.epochs is not None:
        kwargs["epochs"] = args.epochs
    result = train_model(Path(args.data) if args.data else None, Path(args.out), **kwargs)
    print(f"trained model written to {args.out}")
    metrics = getattr(result, "metrics", None) or {}
    run_id = metrics.get("training", {}).get("mlflow_run_id")
    if run_id:
        print(f"  MLflow run: {run_id} ({metrics['training'].get('mlflow_tracking_uri')})")
    for key in ("accuracy", "roc_auc"):
        if key in metrics:
            print(f"  {key}: {metrics[key]:.4f}")
    if args.register:
        from fakescope.registry import Registry

        info = Registry(settings.registry_dir).register(args.out, activate=args.activate)
        state = "active" if args.activate else "not active"
        print(f"registered as {info.version} in {settings.registry_dir} ({state})")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.errors import TrainingError
    from fakescope.training.evaluate import evaluate_images, folder_images, predictor_scores

    if (args.data is None) == (args.generated is None):
        raise UsageError("give either a data folder (with real/ and fake/) or --generated DIR")
    if args.generated is not None:
        return _cmd_generator_report(args, settings)
    try:
        images = folder_images(Path(args.data))
    except TrainingError as exc:
        # A folder without real/ and fake/ images is a usage error, found before the model loads.
        raise UsageError(str(exc)) from None
    source, _ = _evaluated_source(args, settings)
    threshold = settings.threshold
    score = predictor_scores(source, settings.replace(precision="fp32"))
    probabilities: list[float] = []

    def recorded(batch: Sequence[Any]) -> Any:
        # evaluate_images scores in order; keeping each file's probability names the misses.
        scores = score(batch)
        probabilities.extend(float(p) for p in scores)
        return scores

    metrics = evaluate_images(images, recorded, threshold=threshold)
    metrics["model_source"] = str(source)
    metrics["data_dir"] = str(args.data)
    metrics["misclassified"] = [
        {"path": str(Path(args.data) / image.name), "truth": image.condition, "fake_probability": p}
        for image, p in zip(images, probabilities)
        if (p >= threshold) != (image.label == 1)
    ]
    if args.json:
        json.dump(metrics, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_evaluation(metrics, threshold)
    return EXIT_OK


def _evaluated_source(args: argparse.Namespace, settings: Settings) -> tuple[str, Path | None]:
    """The model to evaluate (``--model``, the settings' source or the active registry version)
    and its folder when it is local."""
    source = args.model or settings.model_source
    if source is None:
        from fakescope.registry import Registry

        registry = Registry(settings.registry_dir)
        active = registry.active()
        registry.verify(active.version)  # the files evaluated are the ones registered
        source = active.source if active.is_hub else str(active.path)
    folder = Path(source)
    return str(source), folder if folder.is_dir() else None


def _cmd_generator_report(args: argparse.Namespace, settings: Settings) -> int:
    """``evaluate --generated``: the clean / web / hard report of each generator."""
    from fakescope.errors import TrainingError
    from fakescope.training import report, twins
    from fakescope.training.evaluate import predictor_scores

    try:
        generated = twins.read_generated(Path(args.generated))
        report_set = twins.report_images(generated, split=args.split)
    except TrainingError as exc:
        raise UsageError(str(exc)) from None
    if not any(item.label == 0 for item in report_set) or not any(
        item.label == 1 for item in report_set
    ):
        raise UsageError(
            f"{args.generated} has no real and generated images in split {args.split!r}; "
            "the report needs both"
        )
    source, folder = _evaluated_source(args, settings)
    families = twins.families_of(generated)
    if args.hold_out is not None:
        held_out = {f for f in args.hold_out.split(",") if f}
    else:
        trained_on = report.trained_seen_families(folder)
        held_out = {f for f in families if trained_on is None or f not in trained_on}
    seen = [f for f in families if f not in held_out]
    score = predictor_scores(source, settings.replace(precision="fp32"))
    scored = twins.score_report(report_set, score, seen_families=seen)
    rows = report.generator_report(scored, threshold=settings.threshold)
    result = {
        "model_source": source,
        "generated_dir": str(args.generated),
        "split": args.split,
        "threshold": settings.threshold,
        "held_out_families": sorted(held_out),
        "rows": report.report_json(rows),
        "targets": report.check_report_targets(scored, rows),
    }
    if args.report_json:
        Path(args.report_json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    print(f"model: {printable(source)}   threshold: {settings.threshold:g}")
    print(f"held out of training (unseen): {', '.join(sorted(held_out)) or 'none'}\n")
    print(report.report_table(rows))
    print("\ntargets (issue 10):")
    for name, check in result["targets"].items():
        sign = ">=" if check["kind"] == "min" else "<="
        state = "pass" if check["passed"] else "FAIL"
        print(f"  {name:<24} {check['value']:.3f}  ({sign} {check['limit']:g})  {state}")
    return EXIT_OK


def _print_evaluation(metrics: dict[str, Any], threshold: float) -> None:
    """Metrics, the confusion matrix (rows: truth, columns: verdict) and each miss."""
    for key, value in metrics.items():
        if isinstance(value, float):
            print(f"{key}: {value:.4f}")
        elif isinstance(value, (int, str)):
            print(f"{key}: {printable(value)}")
    matrix = metrics.get("confusion_matrix", {}).get("matrix")
    if matrix:
        (tn, fp), (fn, tp) = matrix
        print(f"\nconfusion matrix (threshold {threshold:g}; rows: truth, columns: verdict)")
        print(f"{'':>12}{'real':>8}{'fake':>8}")
        print(f"{'truth real':>12}{tn:>8}{fp:>8}")
        print(f"{'truth fake':>12}{fn:>8}{tp:>8}")
    missed = metrics.get("misclassified", [])
    print(f"\nmisclassified: {len(missed)}")
    for miss in missed:
        called = "real" if miss["truth"] == "fake" else "fake"
        print(
            f"  {printable(miss['path'])}  truth={miss['truth']}  called={called}  "
            f"p(fake)={miss['fake_probability']:.3f}"
        )


# -- models -----------------------------------------------------------------------------------


def _registry(settings: Settings) -> Any:
    from fakescope.registry import Registry

    return Registry(settings.registry_dir)


def _cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    # scan(): one broken version or a damaged registry.json must not hide the readable ones.
    registry = _registry(settings)
    state = registry.scan()
    versions, active = state.versions, state.active
    if args.json:
        json.dump(
            [{**v.to_dict(), "active": v.version == active} for v in versions], sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    elif not (versions or state.broken):
        print(f"registry {printable(str(registry.root))} is empty")
    for v in [] if args.json else versions:
        mark = "*" if v.version == active else " "
        acc = v.metrics.get("accuracy")
        acc_text = (
            f"  accuracy={acc:.3f}"
            if isinstance(acc, (int, float)) and not isinstance(acc, bool)
            else ""
        )
        run_text = f"  mlflow_run={printable(v.mlflow_run_id)}" if v.mlflow_run_id else ""
        # Names and notes are free text in version.json: printable, so they cannot drive the
        # terminal.
        print(
            f"{mark} {v.version:<5} {printable(v.name):<32} {printable(v.created_at)}  "
            f"{printable(v.source)}{acc_text}{run_text}"
        )
    problems = [*state.broken.values(), *state.problems]  # one line each, never a traceback
    for problem in problems:
        print(f"fakescope: error: {printable(problem)}", file=sys.stderr)
    return EXIT_FAILURE if problems else EXIT_OK


def _cmd_models_show(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.registry import is_version_name

    if args.version and not is_version_name(args.version):
        raise UsageError(f"{printable(args.version)!r} is not a version name; expected v1, v2, ...")
    registry = _registry(settings)
    info = registry.get(args.version) if args.version else registry.active()
    data = info.to_dict()
    data["active"] = info.version == registry.active_version()
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def _cmd_models_promote(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.registry import is_version_name

    if not is_version_name(args.version):
        raise UsageError(f"{printable(args.version)!r} is not a version name; expected v1, v2, ...")
    if args.force is not None and not args.force.strip():
        raise UsageError("--force needs a reason, e.g. --force 'hotfix for the broken v3'")
    # PromotionRefused is a RegistryError: one line naming the gate's findings, exit 1.
    info = _registry(settings).promote_checked(args.version, force_reason=args.force)
    forced = " (gate overridden: logged in promotions.log)" if args.force else ""
    print(f"{info.version} is now active{forced}")
    return EXIT_OK


def _cmd_models_rollback(args: argparse.Namespace, settings: Settings) -> int:
    info = _registry(settings).rollback()
    print(f"rolled back: {info.version} is now active")
    return EXIT_OK


def _cmd_models_register(args: argparse.Namespace, settings: Settings) -> int:
    registry = _registry(settings)
    kwargs = {"name": args.name, "notes": args.notes, "activate": args.activate}
    if args.source.startswith("hf://"):
        info = registry.register_hub(args.source, **kwargs)
    else:
        info = registry.register(args.source, **kwargs)
    print(f"registered {info.version} ({info.source}){' and activated' if args.activate else ''}")
    return EXIT_OK


# -- label / labels ---------------------------------------------------------------------------


def _add_label_commands(commands: Any) -> None:
    """``label`` and ``labels list|export|mistakes``."""
    label = commands.add_parser(
        "label",
        help="record what an image really is (ground truth), by prediction id, hash or file",
        description="Record a ground-truth label. Give the image as --id N (a logged "
        "prediction: the label applies to it only), --sha256 HEX or FILE (the label applies "
        "to every prediction of that image; FILE is hashed and a copy kept in "
        "DATA_DIR/labelled_images), and the truth as --truth real|fake, or --right / --wrong "
        "about the logged verdict (of the newest prediction of the image).",
    )
    label.add_argument("file", nargs="?", metavar="FILE", help="the image file")
    label.add_argument(
        "--id", type=int, dest="prediction_id", metavar="N", help="a logged prediction's id"
    )
    label.add_argument("--sha256", metavar="HEX", help="the image's SHA-256, as logged")
    truth = label.add_mutually_exclusive_group(required=True)
    truth.add_argument("--truth", choices=("real", "fake"), help="what the image really is")
    truth.add_argument("--right", action="store_true", help="the logged verdict was right")
    truth.add_argument("--wrong", action="store_true", help="the logged verdict was wrong")
    label.add_argument("--note", help="free text kept with the label (at most 500 characters)")
    label.set_defaults(handler=_cmd_label)

    labels = commands.add_parser("labels", help="the recorded ground-truth labels")
    sub = labels.add_subparsers(title="label commands")
    listing = sub.add_parser("list", help="list labels, newest first")
    listing.add_argument(
        "--limit", type=int, default=50, help="the newest N labels (default 50; 0 for all)"
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_cmd_labels_list)
    export = sub.add_parser("export", help="write every label to a CSV file")
    export.add_argument("file", metavar="FILE.csv", help="the CSV file to write ('-': stdout)")
    export.add_argument(
        "--predictions",
        action="store_true",
        help="one row per labelled prediction (its verdict beside the truth) instead of one "
        "per label",
    )
    export.set_defaults(handler=_cmd_labels_export)
    mistakes = sub.add_parser(
        "mistakes",
        help="write the labelled images the model got wrong to OUT_DIR/real and OUT_DIR/fake "
        "(the layout fakescope train reads)",
    )
    mistakes.add_argument("out_dir", metavar="OUT_DIR")
    mistakes.add_argument(
        "--search",
        action="append",
        default=[],
        metavar="DIR",
        help="also look for the images in this folder (recursively, by SHA-256; repeatable); "
        "kept copies in DATA_DIR/labelled_images are always used",
    )
    mistakes.add_argument(
        "--include-uncertain",
        action="store_true",
        help="also export labelled images whose verdict was uncertain",
    )
    mistakes.set_defaults(handler=_cmd_labels_mistakes)
    labels.set_defaults(
        handler=lambda args, settings: _usage("labels needs a command: " + _cmds(sub))
    )


def _cmd_label(args: argparse.Namespace, settings: Settings) -> int:
    import hashlib
    import re

    from fakescope.errors import InvalidArgumentError
    from fakescope.feedback import keep_labelled_image, labelled_images_dir, truth_from_feedback
    from fakescope.images import detect_format
    from fakescope.store import PredictionStore

    given = [x for x in (args.prediction_id, args.sha256, args.file) if x is not None]
    if len(given) != 1:
        raise UsageError("give the image one way: --id N, --sha256 HEX or an image FILE")
    if args.note is not None and len(args.note) > 500:
        raise UsageError(f"--note must be at most 500 characters, got {len(args.note)}")
    data = None
    sha = args.sha256.strip().lower() if args.sha256 is not None else None
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise UsageError(f"--sha256 must be 64 hexadecimal characters, got {printable(sha)!r}")
    if args.file is not None:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {printable(args.file)}: {exc.strerror or exc}") from None
        if detect_format(data) is None:
            raise UsageError(
                f"{printable(args.file)} is not an image FakeScope accepts (JPEG, PNG, WebP, BMP, "
                "TIFF or GIF, recognised by its content)"
            )
        sha = hashlib.sha256(data).hexdigest()  # what the predictor logs for a file

    store = PredictionStore.from_settings(settings)
    if args.prediction_id is not None:
        prediction = store.find_prediction(prediction_id=args.prediction_id)
        if prediction is None:
            raise UsageError(f"no prediction with id {args.prediction_id} in the log")
    else:
        prediction = store.find_prediction(sha256=sha)
    if args.truth:
        truth = args.truth
    elif prediction is None:
        raise UsageError(
            "no prediction of this image is in the log, so there is no verdict to call right or "
            "wrong; give --truth real or --truth fake"
        )
    else:
        try:
            truth = truth_from_feedback(prediction["verdict"], "right" if args.right else "wrong")
        except InvalidArgumentError:
            raise UsageError(
                f"prediction {prediction['id']} was 'uncertain', which is neither right nor "
                "wrong; give the true label instead: --truth real or --truth fake"
            ) from None
    kept = None
    if data is not None:
        folder = labelled_images_dir(settings)
        try:
            kept = keep_labelled_image(folder, data, sha)
        except OSError as exc:
            raise FakeScopeError(
                f"cannot keep a copy of the image in {folder}: {exc.strerror or exc}; nothing "
                "was recorded"
            ) from None
    label_id = store.record_label(
        truth=truth,
        prediction_id=args.prediction_id,
        sha256=sha,
        source="cli",
        note=args.note,
    )
    print(f"label {label_id} stored: {truth}")
    if prediction is not None:
        print(
            f"  prediction {prediction['id']}: verdict {printable(prediction['verdict'])}, "
            f"p(fake)={prediction['fake_probability']:.3f}, model "
            f"{printable(prediction['model_name'])} {printable(prediction['model_version'])}"
            + (f", input {printable(prediction['input_name'])}" if prediction["input_name"] else "")
        )
    print(f"  image sha256 {prediction['sha256'] if args.prediction_id is not None else sha}")
    if args.prediction_id is not None:
        print(f"  applies to prediction {args.prediction_id} only")
    else:
        state = "" if prediction is not None else " (none logged yet)"
        print(f"  applies to every prediction of this image{state}")
    if args.note:
        print(f"  note: {printable(args.note)}")
    if kept is not None:
        print(f"  copy kept: {printable(kept)}")
    return EXIT_OK


def _plain(value: Any) -> Any:
    """A frame cell as JSON/CSV wants it: None for missing, ISO text for times, Python numbers."""
    import pandas as pd

    if value is None or (not isinstance(value, (str, dict, list)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _cmd_labels_list(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.store import LABEL_COLUMNS, PredictionStore

    if args.limit < 0:
        raise UsageError("--limit must be 0 (all) or more")
    frame = PredictionStore.from_settings(settings).labels(limit=args.limit or None)
    rows = [
        {name: _plain(row[name]) for name in LABEL_COLUMNS}
        for _, row in frame.iloc[::-1].iterrows()
    ]
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    if not rows:
        print("no labels recorded yet (fakescope label --help)")
        return EXIT_OK
    for row in rows:
        prediction = f"prediction {row['prediction_id']}" if row["prediction_id"] else "by hash"
        note = f"  {printable(row['note'])}" if row["note"] else ""
        print(
            f"{row['id']:>6}  {row['recorded_at'][:19].replace('T', ' ')}  {row['truth']:<4}  "
            f"{prediction:<18} {row['sha256'][:16]}  {printable(row['source'])}{note}"
        )
    return EXIT_OK


def _cmd_labels_export(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.store import LABEL_COLUMNS, LABELLED_COLUMNS, PredictionStore

    store = PredictionStore.from_settings(settings)
    if args.predictions:
        frame = store.labelled_predictions()
        fields = [
            "id",
            "recorded_at",
            "source",
            "model_name",
            "model_version",
            "verdict",
            "fake_probability",
            "confidence",
            *LABELLED_COLUMNS,
            "sha256",
            "input_name",
        ]
        what = "labelled predictions"
    else:
        frame = store.labels()
        fields = list(LABEL_COLUMNS)
        what = "labels"
    # Notes and names are untrusted: no cell may start a spreadsheet formula.
    rows = [csv_row({f: _plain(row[f]) for f in fields}) for _, row in frame.iterrows()]
    if args.file == "-":
        writer = csv.DictWriter(sys.stdout, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.flush()
        print(f"{len(rows)} {what} written", file=sys.stderr)
        return EXIT_OK
    try:
        with open(args.file, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as exc:
        raise FakeScopeError(
            f"cannot write {printable(args.file)}: {exc.strerror or exc}"
        ) from None
    print(f"{len(rows)} {what} written to {printable(args.file)}")
    return EXIT_OK


def _cmd_labels_mistakes(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.errors import InvalidArgumentError
    from fakescope.feedback import export_mistakes, labelled_images_dir
    from fakescope.store import PredictionStore

    for folder in args.search:
        if not Path(folder).is_dir():
            raise UsageError(f"--search {printable(folder)} is not a folder")
    labelled = PredictionStore.from_settings(settings).labelled_predictions()
    try:
        summary = export_mistakes(
            labelled,
            args.out_dir,
            search_dirs=args.search,
            kept_dir=labelled_images_dir(settings),
            include_uncertain=args.include_uncertain,
        )
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise FakeScopeError(
            f"cannot write to {printable(args.out_dir)}: {exc.strerror or exc}"
        ) from None
    if not summary.mistakes:
        kinds = "wrong or uncertain" if args.include_uncertain else "wrong"
        print(f"no labelled prediction was {kinds} ({len(labelled)} labelled); nothing to export")
        return EXIT_OK
    images = f"{summary.mistakes} image{'s' if summary.mistakes != 1 else ''} judged wrong"
    if summary.total_written:
        print(
            f"{images}: wrote {summary.written['real']} to real/ and {summary.written['fake']} "
            f"to fake/ in {printable(summary.out_dir)}"
        )
    else:
        print(f"{images}: nothing new written to {printable(summary.out_dir)}")
    if summary.already_there:
        print(f"  already there: {summary.already_there}")
    problems = [
        ("not found (no kept copy; add --search DIR)", summary.not_found),
        ("not overwritten (another file has the name)", summary.not_overwritten),
        ("already in the other class's folder (label changed?)", summary.in_other_class),
    ]
    for title, hashes in problems:
        if hashes:
            print(f"  {title}: {len(hashes)}")
            for sha in hashes[:20]:
                print(f"    {sha}")
            if len(hashes) > 20:
                print(f"    ... and {len(hashes) - 20} more")
    return EXIT_OK


# -- simulate-traffic -------------------------------------------------------------------------


def _cmd_simulate_traffic(args: argparse.Namespace, settings: Settings) -> int:
    import math
    from datetime import datetime

    from fakescope.errors import ConfigError, DriftError
    from fakescope.predictor import Predictor
    from fakescope.reference import ReferenceChoice, load_reference
    from fakescope.store import PredictionStore
    from fakescope.traffic import resolve_fake_share, simulate_traffic

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    if not 0 < args.strength <= 1:
        raise UsageError("--strength must be in (0, 1]")
    if args.fake_share is not None and not 0 <= args.fake_share <= 1:
        raise UsageError(f"--fake-share must be in [0, 1], got {args.fake_share:g}")
    if not math.isfinite(args.interval_seconds) or args.interval_seconds < 0:
        raise UsageError("--interval-seconds must be 0 or more")
    start = None
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise UsageError(
                f"--start must be an ISO 8601 time such as 2025-01-31T09:00:00Z, got {args.start!r}"
            ) from None
    # The pool is built and checked before the model loads: a bad folder fails at once.
    try:
        pool = _pool_from_args(args)
        base_share, share = resolve_fake_share(
            pool, args.fake_share, shift=args.shift, strength=args.strength
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    predictor = Predictor.from_source(args.model, settings)
    store = PredictionStore.from_settings(settings)
    reference = None
    version = predictor.info.version
    try:
        reference = load_reference(ReferenceChoice.model(), _registry(settings), store, version)
    except DriftError as exc:
        print(f"no drift check: {exc}")
    print(
        f"simulating {args.count} images with {predictor.info.name} {version} from a pool of "
        f"{pool.describe()}, fake share {share:g} ..."
    )
    result = simulate_traffic(
        predictor,
        store,
        count=args.count,
        shift=args.shift,
        strength=args.strength,
        seed=args.seed,
        start=start,
        interval_seconds=args.interval_seconds,
        pool=pool,
        fake_share=base_share,
        reference=reference,
    )
    for line in result.summary_lines():
        print(line)
    return EXIT_OK


def _add_pool_arguments(parser: argparse.ArgumentParser) -> None:
    """--pool, --real, --fake, --samples: where simulated (or reference) images come from."""
    parser.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="DIR",
        help="a report set (a manifest.jsonl as scripts/export_report_set.py writes, e.g. "
        "tests/quality/generated: generator outputs are fake, their real twins real) or a folder "
        "with real/ and fake/ sub-folders; repeatable",
    )
    parser.add_argument(
        "--real",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of real photos (every image under it; hidden files skipped); repeatable",
    )
    parser.add_argument(
        "--fake",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of generated images (one generator group per folder); repeatable",
    )
    parser.add_argument(
        "--samples",
        metavar="DIR",
        help="a folder of sample images named real_* / fake_* (the bundled samples are used when "
        "no source is given and the checkout's test data is not there)",
    )


def _pool_from_args(args: argparse.Namespace) -> Any:
    """The pool the flags name; without any, the project's pool (the bundled samples where the
    checkout's test data is not there)."""
    from fakescope.traffic import ImagePool, project_pool

    if not (args.pool or args.real or args.fake or args.samples):
        return project_pool()
    return ImagePool.from_sources(
        pools=args.pool, real=args.real, fake=args.fake, samples=args.samples
    )


# -- reference --------------------------------------------------------------------------------


def _add_reference_commands(commands: Any) -> None:
    reference = commands.add_parser("reference", help="drift references: build, save, list")
    sub = reference.add_subparsers(dest="reference_command", metavar="COMMAND")
    build = sub.add_parser(
        "build",
        help="build a version's reference from images sent through the serving predictor",
        description="Send a stream of pool images (as simulate-traffic draws them, unshifted) "
        "through the serving predictor, fit the embedding projection (PCA) on their pooled "
        "features, and write reference_profile.json and embedding_projection.json into the "
        "registry version.",
    )
    build.add_argument("--version", help="registry version (default: the active one)")
    build.add_argument(
        "--count", type=int, default=600, help="images (default 600: a third fits the projection)"
    )
    build.add_argument("--fake-share", type=float, metavar="F", help="share of generated images")
    build.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    _add_pool_arguments(build)
    build.set_defaults(handler=_cmd_reference_build)
    save = sub.add_parser("save", help="save a window of the log as a named reference")
    save.add_argument("name", help="1-64 letters, digits, spaces, _ . -")
    save.add_argument("--version", help="model version (default: the active one)")
    save.add_argument("--since", help="first time, ISO 8601 (default: the log's start)")
    save.add_argument("--until", help="end time, ISO 8601, exclusive (default: now)")
    save.add_argument("--last", type=int, help="only the newest N predictions of that span")
    save.add_argument("--description", default="", help="what the window holds")
    save.add_argument("--replace", action="store_true", help="replace a reference of that name")
    save.set_defaults(handler=_cmd_reference_save)
    listing = sub.add_parser("list", help="list the named references")
    listing.add_argument("--version", help="only this model version's")
    listing.set_defaults(handler=_cmd_reference_list)
    delete = sub.add_parser("delete", help="delete a named reference")
    delete.add_argument("name")
    delete.set_defaults(handler=_cmd_reference_delete)
    reference.set_defaults(
        handler=lambda args, settings: _usage("reference needs a command: " + _cmds(sub))
    )


def _version_or_active(settings: Settings, version: str | None) -> str:
    if version:
        return version
    active = _registry(settings).active_version()
    if active is None:
        raise UsageError("the registry has no active version; give --version")
    return active


def _cmd_reference_build(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.embedding import PROJECTION_FILE
    from fakescope.errors import ConfigError
    from fakescope.predictor import Predictor
    from fakescope.reference import build_reference
    from fakescope.traffic import generate_images, resolve_fake_share

    if args.count < 1:
        raise UsageError("--count must be at least 1")
    try:
        pool = _pool_from_args(args)
        _, share = resolve_fake_share(pool, args.fake_share)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    registry = _registry(settings)
    version = _version_or_active(settings, args.version)
    predictor = Predictor(registry.load(version, settings), settings)
    stream = generate_images(pool, args.count, fake_share=share, seed=args.seed)
    print(f"scoring {args.count} images from {pool.describe()} with {version} ...")
    description = (
        f"{args.count} images served as files at their own sizes and qualities, drawn from "
        f"{pool.describe()} with fake share {share:g} (seed {args.seed})"
    )
    built = build_reference(
        predictor,
        ((item.name, item.data) for item in stream),
        description=description,
        built_from={
            "pool": pool.describe(),
            "count": args.count,
            "fake_share": share,
            "seed": args.seed,
        },
    )
    registry.write_monitoring_files(
        version,
        {
            "reference_profile.json": built.profile.to_dict(),
            PROJECTION_FILE: built.projection.to_dict(),
        },
    )
    print(
        f"{version}: reference of {built.profile.n_images} images ({built.rejected} refused), "
        f"embeddings in space {built.projection.space}; wrote reference_profile.json and "
        f"{PROJECTION_FILE}"
    )
    return EXIT_OK


def _parse_time(text: str | None, flag: str) -> Any:
    from datetime import datetime

    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} must be an ISO 8601 time such as 2025-01-31T09:00:00Z, got {text!r}"
        ) from None


def _cmd_reference_save(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.reference import reference_from_window
    from fakescope.store import PredictionStore, check_reference_name

    version = _version_or_active(settings, args.version)
    store = PredictionStore.from_settings(settings)
    check_reference_name(args.name)
    rows = store.predictions(
        since=_parse_time(args.since, "--since"),
        until=_parse_time(args.until, "--until"),
        model_version=version,
        limit=args.last,
        embeddings=True,
    )
    if rows.empty:
        raise UsageError(f"no prediction by {version} in that span")
    start, end = rows["recorded_at"].min(), rows["recorded_at"].max()
    description = (args.description.strip() + "; " if args.description.strip() else "") + (
        f"{len(rows):,} predictions by {version}, {start:%Y-%m-%d %H:%M} - "
        f"{end:%Y-%m-%d %H:%M} UTC"
    )
    profile = reference_from_window(
        rows, name=args.name, description=description, model_version=version
    )
    store.save_reference(
        args.name,
        profile.to_dict(),
        model_version=version,
        description=description,
        replace=args.replace,
    )
    print(f"saved reference {args.name!r}: {description}")
    return EXIT_OK


def _cmd_reference_list(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.store import PredictionStore

    rows = PredictionStore.from_settings(settings).references(model_version=args.version)
    if not rows:
        print("no named references")
    for row in rows:
        print(
            f"{printable(row['name'])}  {row['model_version']}  {row['n_images']} images  "
            f"{row['created_at']:%Y-%m-%d %H:%M}  {printable(row['description'])}"
        )
    return EXIT_OK


def _cmd_reference_delete(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.store import PredictionStore

    PredictionStore.from_settings(settings).delete_reference(args.name)
    print(f"deleted reference {args.name!r}")
    return EXIT_OK


# -- monitor ----------------------------------------------------------------------------------


def _add_monitor_command(commands: Any) -> None:
    monitor = commands.add_parser(
        "monitor",
        help="check the newest window of the log for drift (and alert, and write the report)",
        description="Run every drift test on the newest N predictions of a model version "
        "against its reference (or a named one), print the verdict, optionally send the "
        "webhook alerts (drift, estimated accuracy below the floor; once per window) and "
        "write the report as HTML or JSON. Exit 0 when quiet, 4 when drift is detected.",
    )
    monitor.add_argument("--version", help="model version (default: the active one)")
    monitor.add_argument("--reference", help="a named reference (default: the version's own)")
    monitor.add_argument("--window", type=int, default=200, help="newest N predictions (200)")
    monitor.add_argument("--alert", action="store_true", help="send the configured alerts")
    monitor.add_argument("--report", metavar="FILE", help="write the report (.html or .json)")
    monitor.set_defaults(handler=_cmd_monitor)


def _cmd_monitor(args: argparse.Namespace, settings: Settings) -> int:
    from fakescope.drift_checks import MIN_WINDOW, check_over_time
    from fakescope.monitor_report import to_html, to_json
    from fakescope.monitor_views import drift_document
    from fakescope.store import PredictionStore
    from fakescope.watch import check_and_alert

    if args.window < MIN_WINDOW:
        raise UsageError(f"--window must be at least {MIN_WINDOW}")
    if args.report and Path(args.report).suffix.lower() not in (".html", ".json"):
        raise UsageError("--report must name a .html or .json file")
    if args.alert and not settings.alert_webhook_url:
        print("alerts: off (set FAKESCOPE_ALERT_WEBHOOK_URL)")
    result = check_and_alert(
        PredictionStore.from_settings(settings),
        _registry(settings),
        settings,
        version=args.version,
        reference_name=args.reference,
        window=args.window,
        history_windows=12,
        alert=args.alert,
    )
    check = result.check
    print(f"reference: {check.reference_label}")
    print(f"window: {check.window_label}")
    for row in check.to_frame().itertuples(index=False):
        verdict = {True: "DRIFT", False: "ok", None: "no verdict"}[row.drifted]
        score = "-" if row.score is None or row.score != row.score else f"{row.score:.4f}"
        print(f"  {row.test:<22} {verdict:<10} score {score:<8} ({row.detail})")
    verdict = {True: "DRIFT DETECTED", False: "no drift", None: "no verdict"}[check.drifted]
    print(f"verdict: {verdict}")
    for kind, note in result.alerts.items():
        if note is not None:
            print(f"alert ({kind}): {note}")
    if args.report:
        history = check_over_time(result.reference, result.rows, window=args.window)
        document = drift_document(
            check, history, result.version, result.reference, result.rows.iloc[-args.window :]
        )
        text = to_html(document) if args.report.lower().endswith(".html") else to_json(document)
        Path(args.report).write_text(text, encoding="utf-8")
        print(f"report written to {args.report}")
    return EXIT_DRIFT if check.drifted else EXIT_OK


def _usage(message: str) -> int:
    raise UsageError(message)


def _cmds(subparsers: Any) -> str:
    return ", ".join(sorted(subparsers.choices))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
