"""The real photographs behind the demo model: a curated list, fetching, normalising, splitting.

Nothing can be downloaded from a dataset host here, so the demo data set is built from photographs
that ship inside installed Python packages (scikit-image, scikit-learn, matplotlib) and inside three
Debian packages that are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` (never
installed). Every entry below was looked at by a person: photographs only, no renders, drawings,
logos, charts, text scans or abstract wallpapers. Photos whose pixels already carry an up-sampling
pattern (an upscaled moon, interlaced video frames, webcam frames) are left out: they would teach
the detector that such traces are real.

Photos of the same scene (stereo pairs, two frames of one video) share a ``group``: the split is
made by group, so no scene contributes to two splits.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil

# Runs apt-get download / dpkg-deb with fixed arguments, never a shell.
import subprocess  # nosec B404
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from fakescope.errors import TrainingError
from fakescope.images import fitted_size

DEBIAN_PACKAGES = ("opencv-doc", "mate-backgrounds", "lomiri-wallpapers-16.04")
PYTHON_PACKAGES = ("skimage", "sklearn", "matplotlib")

# Longest side after normalisation: large photos are downscaled once, with a good antialiasing
# filter, so their own camera/JPEG traces are averaged away and every photo starts equally clean.
DEFAULT_MAX_SIDE = 768
STORE_QUALITY = 95

_LOMIRI = "usr/share/backgrounds"
_MATE = "usr/share/backgrounds/mate/nature"
_CV = "usr/share/doc/opencv-doc/examples"
_CV_HTML = "usr/share/doc/opencv-doc/opencv4/html"

_LIC_CV = "Apache-2.0/BSD-3-Clause (OpenCV samples, see opencv-doc's debian/copyright)"
_LIC_MATE = "GPL-2+ (mate-backgrounds' debian/copyright)"


@dataclass(frozen=True)
class PhotoSource:
    """One curated photograph.

    Attributes:
        key: stable short name, used for file names and splits.
        origin: ``skimage``, ``sklearn``, ``matplotlib`` (package data) or a Debian package name.
        path: path inside the Python package, or inside the unpacked Debian package.
        group: scene id; photos of one scene always land in the same split.
        licence: licence as far as the package documents it.
    """

    key: str
    origin: str
    path: str
    group: str
    licence: str

    @property
    def is_debian(self) -> bool:
        """True when the photo comes from a Debian package."""
        return self.origin in DEBIAN_PACKAGES


def _p(key: str, origin: str, path: str, licence: str, group: str | None = None) -> PhotoSource:
    return PhotoSource(key=key, origin=origin, path=path, group=group or key, licence=licence)


CURATED_PHOTOS: tuple[PhotoSource, ...] = (
    # scikit-image's bundled data (licences from skimage.data docstrings)
    _p("sk_astronaut", "skimage", "data/astronaut.png", "public domain (NASA)"),
    _p("sk_camera", "skimage", "data/camera.png", "CC0 (Lav Varshney)"),
    _p("sk_chelsea", "skimage", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    _p("sk_coffee", "skimage", "data/coffee.png", "CC0 (Rachel Michetti)"),
    _p("sk_coins", "skimage", "data/coins.png", "no known copyright (Brooklyn Museum)"),
    _p("sk_grass", "skimage", "data/grass.png", "CC0"),
    _p("sk_gravel", "skimage", "data/gravel.png", "CC0"),
    _p("sk_hubble", "skimage", "data/hubble_deep_field.jpg", "public domain (NASA)"),
    _p("sk_moto_l", "skimage", "data/motorcycle_left.png", "Middlebury stereo", "sk_moto"),
    _p("sk_moto_r", "skimage", "data/motorcycle_right.png", "Middlebury stereo", "sk_moto"),
    _p("sk_rocket", "skimage", "data/rocket.jpg", "public domain (SpaceX)"),
    # scikit-learn's sample images
    _p("skl_china", "sklearn", "datasets/images/china.jpg", "CC-BY-2.0 (danielbuechele)"),
    _p("skl_flower", "sklearn", "datasets/images/flower.jpg", "CC-BY-2.0 (vultilion)"),
    # matplotlib's sample data
    _p("mpl_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "public domain"),
    # lomiri-wallpapers-16.04 (licences from its debian/copyright)
    _p(
        "lo_bridge",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/Bridge_by_Sander_Klootwijk.jpg",
        "CC-BY-SA-4.0 (Sander Klootwijk)",
    ),
    _p(
        "lo_dragonfly",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/Dragonfly_by_Bolly.jpg",
        "CC-BY-SA-4.0 (Bolly)",
    ),
    _p(
        "lo_fig",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/Picture_0B_by_freespace.jpg",
        "CC-BY-4.0 (Trevor Freespace)",
    ),
    _p(
        "lo_brushes",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/Picture_1A_by_freespace.jpg",
        "CC-BY-4.0 (Trevor Freespace)",
    ),
    _p(
        "lo_wine",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/Wine_by_Jakkub_Mede.jpg",
        "CC-BY-4.0 (Jakub Mede)",
    ),
    _p(
        "lo_aitzgorri",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/aitzgorri_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
    ),
    _p(
        "lo_free",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/free_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0 (Peter Nerlich)",
    ),
    _p(
        "lo_friends",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/friends_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
    ),
    _p(
        "lo_clock",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/greentock_by_Peter_Nerlich.jpg",
        "CC-BY-SA-4.0 (Peter Nerlich)",
    ),
    _p(
        "lo_life",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/life_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
    ),
    _p(
        "lo_picos",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
    ),
    _p(
        "lo_seeding",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/seeding_by_Clements_Engelhardt.jpg",
        "CC0-1.0 (Clemens Engelhardt)",
    ),
    _p(
        "lo_sunset",
        "lomiri-wallpapers-16.04",
        f"{_LOMIRI}/sunset_by_Aitzol_Berasategi.jpg",
        "CC-BY-4.0 (Aitzol Berasategi)",
    ),
    # mate-backgrounds, nature photographs only
    _p("ma_aqua", "mate-backgrounds", f"{_MATE}/Aqua.jpg", _LIC_MATE),
    _p("ma_blinds", "mate-backgrounds", f"{_MATE}/Blinds.jpg", _LIC_MATE),
    _p("ma_dune", "mate-backgrounds", f"{_MATE}/Dune.jpg", _LIC_MATE),
    _p("ma_freshflower", "mate-backgrounds", f"{_MATE}/FreshFlower.jpg", _LIC_MATE),
    _p("ma_garden", "mate-backgrounds", f"{_MATE}/Garden.jpg", _LIC_MATE),
    _p("ma_meadow", "mate-backgrounds", f"{_MATE}/GreenMeadow.jpg", _LIC_MATE),
    _p("ma_ladybird", "mate-backgrounds", f"{_MATE}/LadyBird.jpg", _LIC_MATE),
    _p("ma_raindrops", "mate-backgrounds", f"{_MATE}/RainDrops.jpg", _LIC_MATE),
    _p("ma_storm", "mate-backgrounds", f"{_MATE}/Storm.jpg", _LIC_MATE),
    _p("ma_twowings", "mate-backgrounds", f"{_MATE}/TwoWings.jpg", _LIC_MATE),
    _p("ma_wood", "mate-backgrounds", f"{_MATE}/Wood.jpg", _LIC_MATE),
    _p("ma_yellowflower", "mate-backgrounds", f"{_MATE}/YellowFlower.jpg", _LIC_MATE),
    # opencv-doc: the samples' photographs
    _p("cv_plant", "opencv-doc", f"{_CV}/alphamat/input_images/plant.jpg", _LIC_CV),
    _p("cv_aero1", "opencv-doc", f"{_CV}/data/aero1.jpg", _LIC_CV, "cv_aero"),
    _p("cv_aero3", "opencv-doc", f"{_CV}/data/aero3.jpg", _LIC_CV, "cv_aero"),
    _p("cv_aloe_l", "opencv-doc", f"{_CV}/data/aloeL.jpg", _LIC_CV, "cv_aloe"),
    _p("cv_aloe_r", "opencv-doc", f"{_CV}/data/aloeR.jpg", _LIC_CV, "cv_aloe"),
    _p("cv_apple", "opencv-doc", f"{_CV}/data/apple.jpg", _LIC_CV),
    _p("cv_baboon", "opencv-doc", f"{_CV}/data/baboon.jpg", _LIC_CV),
    _p("cv_board", "opencv-doc", f"{_CV}/data/board.jpg", _LIC_CV),
    _p("cv_box_scene", "opencv-doc", f"{_CV}/data/box_in_scene.png", _LIC_CV),
    _p("cv_building", "opencv-doc", f"{_CV}/data/building.jpg", _LIC_CV),
    _p("cv_butterfly", "opencv-doc", f"{_CV}/data/butterfly.jpg", _LIC_CV),
    _p("cv_chicky", "opencv-doc", f"{_CV}/data/chicky_512.png", _LIC_CV),
    _p("cv_notebook", "opencv-doc", f"{_CV}/data/ela_original.jpg", _LIC_CV),
    _p("cv_fruits", "opencv-doc", f"{_CV}/data/fruits.jpg", _LIC_CV),
    _p("cv_graf1", "opencv-doc", f"{_CV}/data/graf1.png", _LIC_CV, "cv_graf"),
    _p("cv_graf3", "opencv-doc", f"{_CV}/data/graf3.png", _LIC_CV, "cv_graf"),
    _p("cv_home", "opencv-doc", f"{_CV}/data/home.jpg", _LIC_CV),
    _p("cv_leuven_a", "opencv-doc", f"{_CV}/data/leuvenA.jpg", _LIC_CV, "cv_leuven"),
    _p("cv_leuven_b", "opencv-doc", f"{_CV}/data/leuvenB.jpg", _LIC_CV, "cv_leuven"),
    _p("cv_messi", "opencv-doc", f"{_CV}/data/messi5.jpg", _LIC_CV),
    _p("cv_orange", "opencv-doc", f"{_CV}/data/orange.jpg", _LIC_CV),
    _p("cv_whale1", "opencv-doc", f"{_CV}/data/rubberwhale1.png", _LIC_CV, "cv_whale"),
    _p("cv_whale2", "opencv-doc", f"{_CV}/data/rubberwhale2.png", _LIC_CV, "cv_whale"),
    _p("cv_smarties", "opencv-doc", f"{_CV}/data/smarties.png", _LIC_CV),
    _p("cv_squirrel", "opencv-doc", f"{_CV}/data/squirrel_cls.jpg", _LIC_CV),
    _p("cv_monarch", "opencv-doc", f"{_CV}/dnn_superres/butterfly.png", _LIC_CV),
    _p("cv_robin", "opencv-doc", f"{_CV}/hfs/data/000.jpg", _LIC_CV),
    _p("cv_lake", "opencv-doc", f"{_CV}/hfs/data/001.jpg", _LIC_CV),
    _p("cv_tree", "opencv-doc", f"{_CV}/hfs/data/002.jpg", _LIC_CV),
    _p("cv_scene1", "opencv-doc", f"{_CV}/text/scenetext01.jpg", _LIC_CV),
    _p("cv_scene2", "opencv-doc", f"{_CV}/text/scenetext02.jpg", _LIC_CV),
    _p("cv_scene3", "opencv-doc", f"{_CV}/text/scenetext03.jpg", _LIC_CV),
    _p("cv_scene4", "opencv-doc", f"{_CV}/text/scenetext04.jpg", _LIC_CV),
    _p("cv_scene5", "opencv-doc", f"{_CV}/text/scenetext05.jpg", _LIC_CV),
    _p("cv_scene6", "opencv-doc", f"{_CV}/text/scenetext06.jpg", _LIC_CV),
    _p("cv_hotel", "opencv-doc", f"{_CV}/text/scenetext_segmented_word01.jpg", _LIC_CV),
    _p("cv_shopsign", "opencv-doc", f"{_CV}/text/scenetext_segmented_word02.jpg", _LIC_CV),
    _p("cv_hiresign", "opencv-doc", f"{_CV}/text/scenetext_segmented_word03.jpg", _LIC_CV),
    _p("cv_fosters", "opencv-doc", f"{_CV}/text/scenetext_segmented_word04.jpg", _LIC_CV),
    _p("cv_projector", "opencv-doc", f"{_CV}/text/scenetext_segmented_word05.jpg", _LIC_CV),
    _p("cv_portrait1", "opencv-doc", f"{_CV_HTML}/227943776_1.jpg", _LIC_CV),
    _p("cv_portrait2", "opencv-doc", f"{_CV_HTML}/230501201_1.jpg", _LIC_CV),
    _p("cv_pumpkin", "opencv-doc", f"{_CV_HTML}/astra_color.jpg", _LIC_CV),
    _p("cv_bus", "opencv-doc", f"{_CV_HTML}/pexels_double_decker_bus.jpg", _LIC_CV),
    _p("cv_heath", "opencv-doc", f"{_CV_HTML}/retina_TreeHdr_small.jpg", _LIC_CV),
    _p("cv_lecture", "opencv-doc", f"{_CV_HTML}/studentsSample_input.jpg", _LIC_CV),
    _p("cv_markers", "opencv-doc", f"{_CV_HTML}/singlemarkersoriginal.jpg", _LIC_CV),
)


@dataclass(frozen=True)
class CollectedPhoto:
    """A curated photo after normalisation, on disk.

    Attributes:
        source: the curated entry.
        path: the normalised file (JPEG, quality 95, no chroma subsampling).
        width, height: its size in pixels.
    """

    source: PhotoSource
    path: Path
    width: int
    height: int

    @property
    def key(self) -> str:
        """The photo's stable key."""
        return self.source.key

    @property
    def group(self) -> str:
        """The photo's scene group."""
        return self.source.group


@dataclass(frozen=True)
class PhotoSplit:
    """Photos split by scene group: no group appears in two of the lists."""

    train: tuple[CollectedPhoto, ...]
    validation: tuple[CollectedPhoto, ...]
    heldout: tuple[CollectedPhoto, ...]


def python_package_root(origin: str) -> Path:
    """The folder of an installed Python package whose data holds curated photos.

    Raises:
        TrainingError: the package is not installed (it is a development requirement).
    """
    spec = importlib.util.find_spec(origin)
    if spec is None or not spec.submodule_search_locations:
        raise TrainingError(
            f"the Python package {origin!r} is not installed; the demo photos need "
            f"{', '.join(PYTHON_PACKAGES)} (pip install -r requirements-dev.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def fetch_debian_packages(
    cache_dir: Path,
    packages: Sequence[str] = DEBIAN_PACKAGES,
    *,
    local_debs: Iterable[Path] = (),
) -> Path:
    """Download the Debian packages with ``apt-get download`` and unpack them with ``dpkg-deb -x``.

    Nothing is installed. A package already unpacked in the cache is not fetched again, and a
    ``.deb`` found in one of ``local_debs`` is used instead of downloading.

    Args:
        cache_dir: folder for the ``.deb`` files (``debs/``) and the unpacked tree (``root/``).
        packages: Debian package names.
        local_debs: folders that may already hold the ``.deb`` files.

    Returns:
        The folder the packages were unpacked into (paths inside it start with ``usr/``).

    Raises:
        TrainingError: apt-get or dpkg-deb is missing or fails.
    """
    cache_dir = Path(cache_dir).resolve()
    debs_dir = cache_dir / "debs"
    root = cache_dir / "root"
    debs_dir.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for package in packages:
        marker = root / f".unpacked-{package}"
        if marker.exists():
            continue
        deb = _find_deb(package, [debs_dir, *(Path(d).resolve() for d in local_debs)])
        if deb is None:
            _run(["apt-get", "download", package], cwd=debs_dir, what=f"download {package}")
            deb = _find_deb(package, [debs_dir])
            if deb is None:
                raise TrainingError(f"apt-get download {package} left no .deb file in {debs_dir}")
        _run(["dpkg-deb", "-x", str(deb), str(root)], cwd=cache_dir, what=f"unpack {deb.name}")
        marker.write_text(deb.name + "\n", encoding="utf-8")
    return root


def _find_deb(package: str, folders: Iterable[Path]) -> Path | None:
    for folder in folders:
        matches = sorted(Path(folder).glob(f"{package}_*.deb"))
        if matches:
            return matches[-1]
    return None


def _run(command: list[str], *, cwd: Path, what: str) -> None:
    if shutil.which(command[0]) is None:
        raise TrainingError(
            f"cannot {what}: {command[0]} is not available. The demo photos need a Debian-based "
            "system with apt-get and dpkg-deb, or the .deb files in a folder given as local_debs"
        )
    # An argument list (no shell) built from the curated package names above.
    result = subprocess.run(  # nosec B603
        command, cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise TrainingError(
            f"cannot {what}: {' '.join(command)} exited with {result.returncode}: "
            f"{result.stderr.strip()[-500:]}"
        )


def source_path(photo: PhotoSource, deb_root: Path | None) -> Path:
    """Where a curated photo's original file is.

    Raises:
        TrainingError: a Debian photo is asked for without an unpacked tree, or the file is missing.
    """
    if photo.is_debian:
        if deb_root is None:
            raise TrainingError(
                f"photo {photo.key} comes from the Debian package {photo.origin}; "
                "fetch it first with fetch_debian_packages(cache_dir)"
            )
        path = deb_root / photo.path
    else:
        path = python_package_root(photo.origin) / photo.path
    if not path.is_file():
        raise TrainingError(f"photo {photo.key}: {path} does not exist ({photo.origin})")
    return path


def normalize_photo(image: Image.Image, max_side: int = DEFAULT_MAX_SIDE) -> Image.Image:
    """RGB, EXIF orientation applied, longest side at most ``max_side`` (Lanczos, antialiased).

    Grey photos become three equal channels; transparent ones are laid on white.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    image = image.convert("RGB")
    size = fitted_size(image.size, max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def save_photo(image: Image.Image, path: Path) -> None:
    """Store a normalised photo: JPEG quality 95 without chroma subsampling (keeps colour sharp)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=STORE_QUALITY, subsampling=0, optimize=True)


def collect_photos(
    output_dir: Path,
    *,
    deb_root: Path | None,
    photos: Sequence[PhotoSource] = CURATED_PHOTOS,
    max_side: int = DEFAULT_MAX_SIDE,
) -> list[CollectedPhoto]:
    """Normalise every curated photo once into ``output_dir/<key>.jpg`` (skipped when present).

    Args:
        output_dir: where the normalised photos go.
        deb_root: the tree from :func:`fetch_debian_packages` (None: Debian photos cannot be used).
        photos: the curated entries.
        max_side: longest side after normalisation.

    Returns:
        The collected photos, in the order given.

    Raises:
        TrainingError: a source file is missing or unreadable.
    """
    collected = []
    for photo in photos:
        target = output_dir / f"{photo.key}.jpg"
        if not target.is_file():
            original = source_path(photo, deb_root)
            try:
                with Image.open(original) as opened:
                    image = normalize_photo(opened, max_side)
            except OSError as exc:
                raise TrainingError(f"photo {photo.key}: cannot read {original}: {exc}") from None
            save_photo(image, target)
        with Image.open(target) as stored:
            width, height = stored.size
        collected.append(CollectedPhoto(source=photo, path=target, width=width, height=height))
    return collected


def _rank(group: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def split_photos(
    photos: Sequence[CollectedPhoto],
    *,
    heldout_fraction: float = 0.25,
    validation_fraction: float = 0.15,
    seed: int = 0,
) -> PhotoSplit:
    """Split photos by scene group into train / validation / held-out, deterministically.

    Groups are ordered by a hash of (seed, group), so adding a photo moves no other photo. The
    held-out share is taken first, then validation, the rest is training.

    Raises:
        TrainingError: fractions out of range, or too few groups for three non-empty splits.
    """
    if not (0 < heldout_fraction < 1 and 0 < validation_fraction < 1):
        raise TrainingError("held-out and validation fractions must be between 0 and 1")
    if heldout_fraction + validation_fraction >= 1:
        raise TrainingError("held-out + validation fractions must leave photos for training")
    groups = sorted({p.group for p in photos}, key=lambda g: _rank(g, seed))
    if len(groups) < 3:
        raise TrainingError(f"need photos of at least 3 scenes to split, got {len(groups)}")
    n_heldout = max(1, round(len(groups) * heldout_fraction))
    n_val = max(1, round(len(groups) * validation_fraction))
    n_heldout = min(n_heldout, len(groups) - 2)
    n_val = min(n_val, len(groups) - n_heldout - 1)
    heldout_groups = set(groups[:n_heldout])
    val_groups = set(groups[n_heldout : n_heldout + n_val])
    return PhotoSplit(
        train=tuple(p for p in photos if p.group not in heldout_groups | val_groups),
        validation=tuple(p for p in photos if p.group in val_groups),
        heldout=tuple(p for p in photos if p.group in heldout_groups),
    )
