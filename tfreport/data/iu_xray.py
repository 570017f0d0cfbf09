"""IU X-Ray raw layouts -> :class:`Study` lists. One function per layout, one detector.

Normal means MeSH is exactly ``normal``; MeSH ``No Indexing`` is excluded from the
normal/abnormal breakdown (DESIGN §2).
"""
from __future__ import annotations

import csv
import os
from typing import Dict, List, Optional, Tuple

from tfreport.data.study import ABNORMAL, NORMAL, UNKNOWN, DropCounter, Study
from tfreport.text import report_sentences, select_sections

REPORT_COLUMNS = {"uid", "MeSH", "Problems", "image", "indication", "comparison", "findings",
                  "impression"}
PROJECTION_COLUMNS = {"uid", "filename", "projection"}
MISSING_VIEW = ("drop", "duplicate", "mask")


class LayoutError(ValueError):
    """A raw layout that cannot be read at all (as opposed to one bad study)."""


def detect_layout(raw_dir: str) -> str:
    """Names the IU X-Ray layout found in ``raw_dir``."""
    if not os.path.isdir(raw_dir):
        raise LayoutError(f"--raw_dir {raw_dir}: no such directory")
    if os.path.exists(os.path.join(raw_dir, "indiana_reports.csv")):
        return "kaggle"
    raise LayoutError(
        f"--raw_dir {raw_dir}: no IU X-Ray layout found (expected indiana_reports.csv and "
        "indiana_projections.csv with an images/ folder)")


def normal_flag(mesh: str) -> int:
    mesh = (mesh or "").strip()
    if mesh == "normal":
        return NORMAL
    if mesh in ("", "No Indexing"):
        return UNKNOWN
    return ABNORMAL


def _read_csv(path: str, required: set) -> List[Dict[str, str]]:
    """Reads a CSV, checking its header; rows with undecodable bytes are flagged."""
    if not os.path.exists(path):
        raise LayoutError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
        reader = csv.DictReader(f)
        header = set(reader.fieldnames or [])
        missing = required - header
        if missing:
            raise LayoutError(
                f"{path}: unknown CSV columns {sorted(header - required)}; missing required "
                f"columns {sorted(missing)} (expected {sorted(required)})")
        rows = []
        for line, row in enumerate(reader, start=2):
            row["_line"] = str(line)
            rows.append(row)
        return rows


def _has_bad_bytes(row: Dict[str, str]) -> bool:
    return any(any("\udc80" <= c <= "\udcff" for c in (v or "")) for v in row.values())


def _find_images_dir(raw_dir: str, images_dir: Optional[str]) -> str:
    if images_dir:
        if not os.path.isdir(images_dir):
            raise LayoutError(f"--images_dir {images_dir}: no such directory")
        return images_dir
    for name in ("images", "images_normalized", os.path.join("images", "images_normalized")):
        path = os.path.join(raw_dir, name)
        if os.path.isdir(path):
            return path
    raise LayoutError(f"{raw_dir}: no images/ or images_normalized/ folder; pass --images_dir")


def read_kaggle(raw_dir: str, drops: DropCounter, images_dir: Optional[str] = None,
                sections: str = "impression+findings", missing_view: str = "drop") -> List[Study]:
    """Reads ``indiana_reports.csv`` + ``indiana_projections.csv`` + images."""
    if missing_view not in MISSING_VIEW:
        raise ValueError(f"--missing_view {missing_view!r}; valid: {', '.join(MISSING_VIEW)}")
    reports_csv = os.path.join(raw_dir, "indiana_reports.csv")
    projections_csv = os.path.join(raw_dir, "indiana_projections.csv")
    reports = _read_csv(reports_csv, REPORT_COLUMNS)
    projections = _read_csv(projections_csv, PROJECTION_COLUMNS)
    images = _find_images_dir(raw_dir, images_dir)

    views: Dict[str, Dict[str, List[str]]] = {}
    for row in projections:
        proj = (row["projection"] or "").strip().lower()
        if proj not in ("frontal", "lateral"):
            drops.drop("unknown_projection",
                       f"{projections_csv}:{row['_line']}: projection {row['projection']!r} is not "
                       "Frontal or Lateral")
            continue
        views.setdefault(row["uid"].strip(), {"frontal": [], "lateral": []})[proj].append(
            row["filename"].strip())

    studies, seen = [], set()
    for row in reports:
        uid = (row["uid"] or "").strip()
        where = f"{reports_csv}:{row['_line']} (uid {uid})"
        if uid in seen:
            drops.drop("duplicate_uid", f"{where}: duplicate uid; the first row is kept")
            continue
        seen.add(uid)
        if _has_bad_bytes(row):
            drops.drop("non_utf8_text", f"{where}: text is not valid UTF-8")
            continue
        text = select_sections(row["findings"], row["impression"], sections)
        sentences = report_sentences(row["findings"], row["impression"], sections)
        if not sentences:
            drops.drop("empty_report", f"{where}: findings and impression are empty")
            continue
        frontal, lateral = _pick_views(views.get(uid, {"frontal": [], "lateral": []}))
        if frontal is None:
            drops.drop("missing_view", f"{where}: no frontal view in {projections_csv}")
            continue
        if lateral is None:
            if missing_view == "drop":
                drops.drop("missing_view", f"{where}: no lateral view in {projections_csv}")
                continue
            drops.counts["kept_" + missing_view + "_lateral"] += 1
            lateral = frontal if missing_view == "duplicate" else None
        studies.append(Study(
            id=uid, patient=uid, frontal=os.path.join(images, frontal),
            lateral=os.path.join(images, lateral) if lateral else None,
            text=text, sentences=sentences, normal=normal_flag(row["MeSH"])))
    return studies


def _pick_views(views: Dict[str, List[str]]) -> Tuple[Optional[str], Optional[str]]:
    """One frontal and one lateral, deterministically: the first file name in sort order."""
    frontal = sorted(views["frontal"])[0] if views["frontal"] else None
    lateral = sorted(views["lateral"])[0] if views["lateral"] else None
    return frontal, lateral


def read_layout(raw_dir: str, drops: DropCounter, **kwargs) -> Tuple[str, List[Study]]:
    """Detects the layout and reads it; returns (layout name, studies)."""
    layout = detect_layout(raw_dir)
    readers = {"kaggle": read_kaggle}
    return layout, readers[layout](raw_dir, drops, **kwargs)
