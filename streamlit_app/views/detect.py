"""Detect: upload images (or try the bundled samples) and read Real / Fake / Uncertain verdicts.

Each image is scored once per model version: results are kept in session state by SHA-256 and
version, so moving the threshold slider only relabels them. Each upload (and each sample shown) is
logged once per session and model version with source="dashboard", rejected uploads included.

Built for a live demo: the summary and the downloads come first, then a compact grid of cards
(several a row on a desktop; Streamlit stacks columns on a phone), each with the verdict large,
coloured and with an icon, and the details (spectrum, latency, hashes) folded away. A presenter can
load one bundled sample or all of them; a sample's known truth says whether the model got it right.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import components
import resources
import streamlit as st
from PIL import Image

from fakescope.config import BROWSER_MEGABYTE, Settings
from fakescope.errors import FakeScopeError
from fakescope.feedback import keep_labelled_image, labelled_images_dir, truth_from_feedback
from fakescope.images import ACCEPTED_FORMATS, fitted_size
from fakescope.safe_text import markdown_text
from fakescope.spectrum import spectrum_image
from fakescope.traffic import bundled_samples
from fakescope.verdicts import Prediction, Rejection

if TYPE_CHECKING:  # type names only: the page itself never imports torch
    from fakescope.predictor import Predictor
    from fakescope.store import PredictionStore

FEEDBACK = {
    "fake": ("Right", "Wrong"),
    "real": ("Right", "Wrong"),
    "uncertain": ("It's real", "It's fake"),
}
THUMBNAIL_SIDE = 360
CARDS_PER_ROW = 4  # desktop; a phone shows one a row
SOURCE = "dashboard"


def _jpeg(image: Image.Image) -> bytes:
    # Display copies only: JPEG keeps each session's cache small (a noisy spectrum as PNG is
    # several times larger).
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=88)
    return buffer.getvalue()


def _views(image: Image.Image) -> tuple[bytes, bytes]:
    """Thumbnail and Fourier-magnitude picture of an image being scored.

    Made from the pixels the Predictor decoded (``predict(on_image=...)``), while they still
    count against the server's pixel budget: the upload is not decoded a second time. The
    image is the Predictor's and is not modified: the thumbnail is a new, small image.
    """
    spectrum = _jpeg(spectrum_image(image))
    size = fitted_size(image.size, THUMBNAIL_SIDE)
    thumbnail = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return _jpeg(thumbnail), spectrum


SAMPLES_KEY = "detect_samples"  # names of the bundled samples on show


def _use_samples(names: list[str]) -> None:
    st.session_state[SAMPLES_KEY] = list(names)


def _hide_samples() -> None:
    st.session_state[SAMPLES_KEY] = []


def _items(uploads: list[Any]) -> list[dict[str, Any]]:
    """Uploaded files, then bundled samples when asked for: id, name, bytes, sha256, expected."""
    items = []
    for upload in uploads or []:
        data = upload.getvalue()
        items.append({"id": f"upload:{upload.file_id}", "name": upload.name, "data": data})
    shown = set(st.session_state.get(SAMPLES_KEY) or [])
    if shown:
        for path in (p for p in bundled_samples() if p.name in shown):
            data = path.read_bytes()
            expected = "fake" if path.name.startswith("fake") else "real"
            items.append(
                {"id": f"sample:{path.name}", "name": path.name, "data": data, "expected": expected}
            )
    for item in items:
        item["sha256"] = hashlib.sha256(item["data"]).hexdigest()
    return items


def _score(items: list[dict[str, Any]], predictor: Predictor, settings: Settings) -> dict[str, Any]:
    """Score the items not seen yet with this model version; returns the session's cache."""
    cache: dict[str, Any] = st.session_state.setdefault("detect_cache", {})
    version = predictor.info.version
    todo = [i for i in items if f"{i['sha256']}:{version}" not in cache]
    # The same bytes uploaded twice are scored once.
    todo = list({i["sha256"]: i for i in todo}.values())
    if todo:
        label = f"Scoring {len(todo)} image{'s' if len(todo) > 1 else ''}..."
        # Thumbnails and spectra are made by the Predictor's callback (from the predicting
        # threads), by input index, from the pixels it decoded.
        views: dict[int, tuple[bytes, bytes]] = {}
        view_errors: dict[int, str] = {}

        def keep_views(index: int, image: Image.Image) -> None:
            try:
                views[index] = _views(image)
            except FakeScopeError as exc:  # e.g. too small for a spectrum: the verdict stands
                view_errors[index] = str(exc)

        with st.spinner(label):
            outcomes = predictor.predict(
                [i["data"] for i in todo],
                errors="return",
                names=[i["name"] for i in todo],
                on_image=keep_views,
            )
            for index, (item, outcome) in enumerate(zip(todo, outcomes)):
                entry: dict[str, Any] = {"outcome": outcome, "thumbnail": None, "spectrum": None}
                if isinstance(outcome, Prediction) and index in views:
                    entry["thumbnail"], entry["spectrum"] = views[index]
                elif index in view_errors:
                    entry["preview_error"] = view_errors[index]
                cache[f"{item['sha256']}:{version}"] = entry
    return cache


def _record(
    items: list[dict[str, Any]],
    cache: dict[str, Any],
    predictor: Predictor,
    store: PredictionStore | None,
) -> None:
    """Log each item once per session and model version (reruns do not log again)."""
    if store is None:
        return
    info = predictor.info
    logged: set[str] = st.session_state.setdefault("detect_logged", set())
    for item in items:
        mark = f"{item['id']}:{info.version}"
        if mark in logged:
            continue
        # The cache is keyed by content: files with the same bytes share an outcome, but each is
        # logged under its own name.
        outcome = dataclasses.replace(
            cache[f"{item['sha256']}:{info.version}"]["outcome"], name=item["name"]
        )
        try:
            if isinstance(outcome, Prediction):
                store.record_prediction(outcome, source=SOURCE)
            else:
                store.record_rejection(
                    outcome, source=SOURCE, model_name=info.name, model_version=info.version
                )
        except FakeScopeError as exc:
            st.warning(f"{markdown_text(item['name'])} was not logged: {markdown_text(exc)}")
            continue
        logged.add(mark)


def _give_label(item: dict[str, Any], verdict: str, key: str) -> None:
    """Store the label picked on a card (the card's control calls this once per change)."""
    answer = st.session_state.get(key)
    if answer is None:
        return
    store = resources.store(resources.settings())
    if store is None:
        st.session_state[f"{key}_note"] = "not stored: the prediction log is not available"
        return
    try:
        if verdict == "uncertain":
            truth = "real" if answer == "It's real" else "fake"
        else:
            truth = truth_from_feedback(verdict, answer.lower())
        logged = store.find_prediction(sha256=item["sha256"])
        label_id = store.record_label(
            truth=truth,
            prediction_id=None if logged is None else int(logged["id"]),
            sha256=item["sha256"],
            source=SOURCE,
        )
        # The image is kept so the mistake can become a training case (fakescope labels mistakes).
        keep_labelled_image(labelled_images_dir(resources.settings()), item["data"], item["sha256"])
    except FakeScopeError as exc:
        st.session_state[f"{key}_note"] = f"not stored: {exc}"
        return
    st.session_state[f"{key}_note"] = f"Thanks: stored as {truth} (label {label_id})."


def _feedback(item: dict[str, Any], prediction: Prediction) -> None:
    """Right / Wrong (or the true label for an uncertain verdict): ground truth for Monitor."""
    key = f"detect_label_{item['sha256'][:16]}_{prediction.model_version}"
    st.segmented_control(
        "Was this verdict right?" if prediction.verdict != "uncertain" else "What is it really?",
        FEEDBACK.get(prediction.verdict, FEEDBACK["uncertain"]),
        key=key,
        on_change=_give_label,
        args=(item, prediction.verdict, key),
        help="Your answer is stored with the logged prediction (which never changes) and feeds "
        "the accuracy figures on the Monitor page.",
    )
    note = st.session_state.get(f"{key}_note")
    if note:
        st.caption(markdown_text(note))


def _show_prediction(item: dict[str, Any], prediction: Prediction, entry: dict[str, Any]) -> None:
    with st.container(border=True):
        # Captions are Markdown: a name like ![i](https://...) would fetch an image.
        if entry["thumbnail"] is not None:
            st.image(entry["thumbnail"], caption=markdown_text(item["name"]), width="stretch")
        else:
            # Only when the picture could not be made (an image too small for a spectrum).
            st.caption(f"{markdown_text(item['name'])}: no preview.")
        components.verdict_badge(prediction.verdict)
        if prediction.reason:
            # Why the score did not decide (e.g. not a photograph); FakeScope's own text.
            st.markdown(f":orange[:material/info: {markdown_text(prediction.reason)}]")
        components.probability_bar(prediction.fake_probability, prediction.verdict)
        st.metric("Confidence", f"{prediction.confidence:.1%}")
        if "expected" in item:
            st.markdown(components.truth_note(item["expected"], prediction.verdict))
        _feedback(item, prediction)
        with st.expander("Details"):
            if entry["spectrum"] is not None:
                st.image(entry["spectrum"], caption="Fourier magnitude (centre = low frequencies)")
            st.caption(f"Latency {prediction.latency_ms:.0f} ms")
            st.caption(f"Model {prediction.model_name} {prediction.model_version}")
            st.caption(f"SHA-256 {prediction.sha256}")


def _show_rejection(item: dict[str, Any], rejection: Rejection) -> None:
    with st.container(border=True):
        # The name is the uploader's data, the message FakeScope's own text.
        st.error(f"**{markdown_text(item['name'])}** was not scored: {rejection.message}")


def _grid(outcomes: list[tuple[dict[str, Any], Any]], cache: dict[str, Any], version: str) -> None:
    """Cards, CARDS_PER_ROW a row (Streamlit stacks the columns on a narrow screen)."""
    for start in range(0, len(outcomes), CARDS_PER_ROW):
        columns = st.columns(CARDS_PER_ROW, gap="small")
        for column, (item, outcome) in zip(columns, outcomes[start : start + CARDS_PER_ROW]):
            with column:
                if isinstance(outcome, Prediction):
                    _show_prediction(item, outcome, cache[f"{item['sha256']}:{version}"])
                else:
                    _show_rejection(item, outcome)


def _summary(outcomes: list[tuple[dict[str, Any], Any]]) -> str:
    """The heading over the grid: counts, and how many samples of known truth were right."""
    counts = {"fake": 0, "real": 0, "uncertain": 0}
    for _, outcome in outcomes:
        if isinstance(outcome, Prediction):
            counts[outcome.verdict] = counts.get(outcome.verdict, 0) + 1
    rejected = sum(isinstance(o, Rejection) for _, o in outcomes)
    text = (
        f"{len(outcomes)} image{'s' if len(outcomes) != 1 else ''}: "
        f"{counts['real']} real, {counts['fake']} fake, {counts['uncertain']} uncertain"
        + (f", {rejected} rejected" if rejected else "")
    )
    known = [(i, o) for i, o in outcomes if "expected" in i and isinstance(o, Prediction)]
    if known:
        right = sum(o.verdict == i["expected"] for i, o in known)
        text += f" · {right} of {len(known)} samples right"
    return text


def _limits_note(limits: str) -> None:
    if limits:
        st.info(f"**What this model cannot tell.** {limits}", icon=":material/info:")
    else:
        st.info(
            "This model's card states no limits. Treat a verdict as one signal among others, "
            "not as proof.",
            icon=":material/info:",
        )


def main() -> None:
    """Render the page."""
    settings = resources.settings()
    st.title("Detect")
    st.caption(
        "Is it a photograph or AI-generated? Drop images to get a verdict for each: Real, Fake, "
        "or Uncertain when the fake probability falls in the band around the threshold or the "
        "image is not a photograph (a chart, drawing or screenshot)."
    )
    # The model's loading notice, error or fallback note goes here, under the title; the page
    # waits for the model only below, once the uploader and sliders are drawn (and keep files).
    model_slot = st.empty()
    store = resources.store(settings)

    upload_col, control_col = st.columns([2, 1], gap="large")
    with upload_col:
        formats = ", ".join(ACCEPTED_FORMATS)
        # The package's limit is the one limit; the uploader's is derived from it.
        limit_mb = settings.max_file_bytes / BROWSER_MEGABYTE
        uploads = st.file_uploader(
            "Images",
            accept_multiple_files=True,
            key="detect_uploads",
            max_upload_size=components.uploader_limit_mb(settings),
            help=f"{formats}; up to {limit_mb:g} MB and {settings.max_pixels:,} pixels each.",
        )
        samples = [path.name for path in bundled_samples()]
        has_samples = bool(samples)
        buttons = st.container(horizontal=True, key="detect_sample_buttons")
        buttons.button(
            "Try all samples",
            key="detect_try_samples",
            on_click=_use_samples,
            args=(samples,),
            disabled=not has_samples,
            help="Bundled images: some real photographs, some made by real generators.",
            icon=":material/photo_library:",
        )
        for index, name in enumerate(samples):
            # One example at a time, as detector demos usually offer; the label hides the truth.
            buttons.button(
                components.sample_label(name),
                key=f"detect_sample_{index}",
                on_click=_use_samples,
                args=([name],),
                help="Score this one bundled sample.",
                icon=":material/image:",
            )
        if st.session_state.get(SAMPLES_KEY):
            buttons.button(
                "Hide samples",
                key="detect_hide_samples",
                on_click=_hide_samples,
                icon=":material/visibility_off:",
            )
    with control_col:
        threshold = st.slider(
            "Fake threshold",
            min_value=0.05,
            max_value=0.95,
            value=float(settings.threshold),
            step=0.01,
            key="detect_threshold",
            help="Fake probability at or above which an image is called Fake.",
        )
        band = st.slider(
            "Uncertain band",
            min_value=0.0,
            max_value=0.5,
            value=float(settings.uncertain_band),
            step=0.01,
            key="detect_band",
            help="Width of the band around the threshold that is called Uncertain (0: none).",
        )
        low, high = max(0.0, threshold - band / 2), min(1.0, threshold + band / 2)
        st.caption(
            f"Real below {low:.0%}, Uncertain {low:.0%} to {high:.0%}, Fake from {high:.0%}."
            if band > 0
            else f"Real below {threshold:.0%}, Fake from {threshold:.0%}."
        )

    predictor = resources.predictor(settings, slot=model_slot)
    with model_slot.container():
        components.fallback_note(predictor.info)

    items = _items(uploads)
    if not items:
        hint = " or press **Try all samples** (or one sample)" if has_samples else ""
        st.info(f"Drop one or more images above{hint} to get verdicts.")
        st.stop()

    try:
        cache = _score(items, predictor, settings)
    except FakeScopeError as exc:
        st.error(f"Scoring failed: {markdown_text(exc)}")
        st.stop()
    _record(items, cache, predictor, store)

    version = predictor.info.version
    outcomes = []
    for item in items:
        outcome = cache[f"{item['sha256']}:{version}"]["outcome"]
        if isinstance(outcome, Prediction):
            outcome = outcome.relabel(threshold, band)
        outcomes.append((item, outcome))

    st.subheader(_summary(outcomes))
    info = predictor.info
    meta = components.export_meta(info.name, version, threshold, band, datetime.now(timezone.utc))
    rows = [components.result_row(item["name"], outcome) for item, outcome in outcomes]
    downloads = st.container(horizontal=True)
    downloads.download_button(
        "Download CSV",
        data=components.results_csv(rows, meta),
        file_name=components.export_name(meta, "csv"),
        mime="text/csv",
        key="detect_download_csv",
        on_click="ignore",
        icon=":material/download:",
    )
    downloads.download_button(
        "Download JSON",
        data=components.results_json(rows, meta),
        file_name=components.export_name(meta, "json"),
        mime="application/json",
        key="detect_download_json",
        on_click="ignore",
        icon=":material/download:",
    )
    st.caption(
        f"Downloads record model {markdown_text(info.name)} {version}, threshold "
        f"{threshold:.2f}, uncertain band {band:.2f}, {meta.stamp} (UTC), in every row and in the "
        f"file name: {components.export_name(meta, 'csv')}"
    )
    _limits_note(info.limits)

    _grid(outcomes, cache, version)

    with st.expander("How to read the Fourier magnitude (in each card's details)"):
        st.markdown(
            "The picture in each card's details is the 2-D Fourier magnitude of the image's fine "
            "detail (a native-resolution crop, never resized). A camera photo gives a smooth glow "
            "fading from the centre. Generators upsample in steps of 2x, which repeats a small "
            "pattern every 2 or 4 pixels: it shows as **isolated bright dots** at the edges, "
            "corners and halfway points. JPEG's 8x8 blocks draw a regular grid of faint dots too, "
            "so dots alone are a hint, not proof."
        )
    # The model's name and version only: a local model's source is a server path.
    st.caption(
        f"Model {markdown_text(info.name)} {version}. Every verdict and every rejected file is "
        "logged for monitoring; image bytes are not."
    )


main()
