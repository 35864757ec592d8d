"""Container "images" for the rigs whose platform runtime cannot share the test runner's environment: a virtualenv
per ``tests/rigs/images/<name>.txt`` (pinned published packages), built once and kept in ``CLOUDML_RIG_IMAGES``
(default ``<repo>/.rig-images``), keyed by the file's hash so a changed pin builds a new one.

The image's own packages come first; then a "base layer" (``.pth`` written after the install, so pip resolved the
image's pins on their own): links to the test runner's torch and numpy and what they need, as a framework image
holds them. Nothing is ever
installed into the test runner's environment.

``python -m tests.rigs.images`` builds every image (``scripts/test`` runs it before the tests, as it installs
Azurite); a test that needs an image and finds none builds it then (about a minute, from the package index).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent / "images"
REPO = Path(__file__).resolve().parents[2]


#: what the platform's framework images hold besides their runtime: torch by default; an image named ``*-tf``
#: (the TensorFlow environments cloudml deploys TensorFlow models with) holds TensorFlow instead
BASE_PACKAGES = ("torch", "numpy")
TF_BASE_PACKAGES = ("tensorflow", "tensorflow-cpu", "numpy")


def base_packages(name: str) -> tuple[str, ...]:
    return TF_BASE_PACKAGES if name.endswith("-tf") else BASE_PACKAGES


def _closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, with their requirements (markers evaluated, extras not)."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def base_layer(folder: Path, names: tuple[str, ...]) -> Path:
    """A folder of links to the test runner's copies of ``names`` and what they need (top-level modules and
    dist-info only): the image sees torch and numpy, not every package of the test environment (whose namespace
    packages, e.g. ``azure.*``, would mix with the image's own)."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in _closure(names):
        for file in dist.files or []:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.endswith(".pth"):
                continue
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)
    return folder


def images_dir() -> Path:
    return Path(os.environ.get("CLOUDML_RIG_IMAGES") or REPO / ".rig-images")


def image_python(name: str) -> str:
    """The interpreter of image ``name``, built if missing (under a lock, so parallel users build it once)."""
    spec = (HERE / f"{name}.txt").read_bytes()
    digest = hashlib.sha256(spec + sys.version.encode() + repr(base_packages(name)).encode()).hexdigest()[:12]
    root = images_dir()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{name}-{digest}"
    python = folder / "bin" / "python"
    if (folder / ".ready").exists():
        return str(python)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / ".ready").exists():
            return str(python)
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                              str(HERE / f"{name}.txt")], capture_output=True, text=True)
        if pip.returncode:
            raise RuntimeError(f"building rig image {name} failed:\n{pip.stdout}{pip.stderr}")
        site = next(folder.glob("lib/python*/site-packages"))
        layer = base_layer(folder / "base-layer", base_packages(name))
        (site / "zz_rig_base_layer.pth").write_text(str(layer) + "\n")
        (folder / ".ready").write_text(spec.decode())
    return str(python)


def main() -> None:
    for spec in sorted(HERE.glob("*.txt")):
        print(f"rig image {spec.stem}: {image_python(spec.stem)}")


if __name__ == "__main__":
    main()
