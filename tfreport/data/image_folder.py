"""Studies in a plain folder of images, for generating reports on new data.

Two layouts:
- one sub-folder per study, ``DIR/<study>/``: the frontal view is the file whose name holds
  "frontal" (or "pa"/"ap" as a word), the lateral the one holding "lateral"/"lat"; failing
  names, the first and second files in sorted order. One image: frontal only.
- flat files ``DIR/<study>_frontal.<ext>`` and ``DIR/<study>_lateral.<ext>``.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

from tfreport import fileio

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".dcm", ".dicom")
_FRONTAL = re.compile(r"(frontal|(^|[^a-z])(pa|ap)([^a-z]|$))", re.I)
_LATERAL = re.compile(r"(lateral|(^|[^a-z])(lat|ll)([^a-z]|$))", re.I)
_FLAT = re.compile(r"^(?P<id>.+)_(?P<view>frontal|lateral)$", re.I)

Study = Tuple[str, str, Optional[str]]  # (id, frontal path, lateral path or None)


def _images(folder: str) -> List[str]:
    return sorted(f for f in fileio.listdir(folder)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))


def _pick(folder: str, files: List[str]) -> Tuple[Optional[str], Optional[str]]:
    frontal = next((f for f in files if _FRONTAL.search(os.path.splitext(f)[0])), None)
    lateral = next((f for f in files if f != frontal
                    and _LATERAL.search(os.path.splitext(f)[0])), None)
    rest = [f for f in files if f not in (frontal, lateral)]
    frontal = frontal or (rest.pop(0) if rest else None)
    lateral = lateral or (rest.pop(0) if rest else None)
    return (os.path.join(folder, frontal) if frontal else None,
            os.path.join(folder, lateral) if lateral else None)


def find_studies(images_dir: str) -> Tuple[List[Study], List[str]]:
    """(studies sorted by id, problems): each problem names the folder or file."""
    if not fileio.isdir(images_dir):
        raise FileNotFoundError(f"{images_dir}: not a directory")
    studies, problems = [], []
    flat: Dict[str, Dict[str, str]] = {}
    for name in sorted(fileio.listdir(images_dir)):
        path = os.path.join(images_dir, name)
        if fileio.isdir(path):
            files = _images(path)
            if not files:
                problems.append(f"{path}: no images (expected PNG, JPEG or DICOM files)")
                continue
            frontal, lateral = _pick(path, files)
            studies.append((name, frontal, lateral))
        elif name.lower().endswith(IMAGE_EXTENSIONS):
            m = _FLAT.match(os.path.splitext(name)[0])
            if not m:
                problems.append(f"{path}: loose image not named <study>_frontal or "
                                "<study>_lateral; skipped")
                continue
            flat.setdefault(m["id"], {})[m["view"].lower()] = path
    for sid, views in flat.items():
        if "frontal" not in views:
            problems.append(f"{views['lateral']}: lateral view without a frontal one; skipped")
            continue
        studies.append((sid, views["frontal"], views.get("lateral")))
    if not studies and not problems:
        raise ValueError(f"{images_dir}: no studies found (see generate.py --help for the "
                         "layouts)")
    return sorted(studies), problems
