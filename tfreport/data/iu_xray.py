"""IU X-Ray raw layouts -> :class:`Study` lists: one reader per layout, one detector.

Layouts: Kaggle (``indiana_reports.csv`` + ``indiana_projections.csv``), NLM original
(``ecgen-radiology/*.xml`` + ``NLMCXR_png/``), R2Gen (``annotation.json`` +
``images/<id>/0.png, 1.png``) and legacy (``data_entry.json`` + split files + images).
Study ids are ``CXR<uid>`` everywhere, as in the legacy files.

Normal means MeSH is exactly ``normal``; MeSH ``No Indexing`` is excluded from the
normal/abnormal breakdown (docs/design.md §2).
"""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from typing import Dict, Iterable, List, Optional, Tuple

from tfreport import fileio
from tfreport.data.study import (ABNORMAL, DROPPED, NORMAL, UNKNOWN, DropCounter, LayoutError,
                                 Study, check_missing_view, resolve_views)
from tfreport.data.tables import read_table
from tfreport.text import report_sentences, select_sections

REPORT_COLUMNS = {"uid", "MeSH", "Problems", "image", "indication", "comparison", "findings",
                  "impression"}
PROJECTION_COLUMNS = {"uid", "filename", "projection"}
LAYOUTS = ("kaggle", "nlm", "r2gen", "legacy")


def detect_layout(raw_dir: str) -> str:
    """Names the IU X-Ray layout found in ``raw_dir``."""
    if not fileio.isdir(raw_dir):
        raise LayoutError(f"--raw_dir {raw_dir}: no such directory")
    if fileio.exists(os.path.join(raw_dir, "indiana_reports.csv")):
        return "kaggle"
    if fileio.isdir(os.path.join(raw_dir, "ecgen-radiology")):
        return "nlm"
    if fileio.exists(os.path.join(raw_dir, "annotation.json")):
        return "r2gen"
    if fileio.exists(os.path.join(raw_dir, "data_entry.json")):
        return "legacy"
    raise LayoutError(
        f"--raw_dir {raw_dir}: no IU X-Ray layout found. Expected one of: indiana_reports.csv "
        "(Kaggle), ecgen-radiology/ (NLM), annotation.json (R2Gen), data_entry.json (legacy)")


def study_id(uid: str) -> str:
    uid = str(uid).strip()
    return uid if uid.startswith("CXR") else "CXR" + uid


def uid_of(name: str) -> str:
    """'CXR2384_IM-0942' / 'CXR1_1_IM-0001-3001' / '2384' -> '2384'."""
    m = re.match(r"(?:CXR)?(\d+)", os.path.basename(str(name)))
    if not m:
        raise ValueError(f"cannot read an IU X-Ray uid from {name!r}")
    return m.group(1)


def image_stem(name: str) -> str:
    """A view's name without 'CXR', extension or '.dcm': the key shared by all layouts."""
    base = os.path.basename(name)
    base = re.sub(r"(\.dcm)?\.(png|jpe?g)$", "", base, flags=re.I)
    return base[3:] if base.startswith("CXR") else base


def normal_flag(mesh: str) -> int:
    mesh = (mesh or "").strip()
    if mesh == "normal":
        return NORMAL
    if mesh in ("", "No Indexing"):
        return UNKNOWN
    return ABNORMAL


# ---------------------------------------------------------------------------------------
# Shared readers
# ---------------------------------------------------------------------------------------
def _read_csv(path: str, required: set) -> List[Dict[str, str]]:
    """A CSV's rows, its shape checked (``tables.read_table``); each row has its ``_line``
    and keeps undecodable bytes, so the row can be dropped as non-UTF-8 text."""
    return list(read_table(path, required, errors="surrogateescape"))


def _has_bad_bytes(values: Iterable[str]) -> bool:
    return any(any("\udc80" <= c <= "\udcff" for c in (v or "")) for v in values)


def _find_dir(raw_dir: str, given: Optional[str], candidates: Tuple[str, ...], flag: str) -> str:
    if given:
        if not fileio.isdir(given):
            raise LayoutError(f"{flag} {given}: no such directory")
        return given
    for name in candidates:
        path = os.path.join(raw_dir, name)
        if fileio.isdir(path):
            return path
    raise LayoutError(f"{raw_dir}: no image folder ({', '.join(candidates)}); pass {flag}")


def read_projections(path: str, drops: DropCounter,
                     rows: Optional[List[Dict[str, str]]] = None) -> Dict[str, str]:
    """Kaggle's indiana_projections.csv -> {image stem: 'frontal'|'lateral'}."""
    out = {}
    for row in rows if rows is not None else _read_csv(path, PROJECTION_COLUMNS):
        proj = (row["projection"] or "").strip().lower()
        if proj not in ("frontal", "lateral"):
            drops.drop("unknown_projection", f"{path}:{row['_line']}: projection "
                       f"{row['projection']!r} is not Frontal or Lateral",
                       study_id(row["uid"]), path)
            continue
        out[image_stem(row["filename"])] = proj
    return out


def read_mesh(path: str) -> Dict[str, str]:
    """indiana_reports.csv -> {study id: MeSH}, to give other layouts their normal flag."""
    return {study_id(r["uid"]): r["MeSH"] for r in _read_csv(path, {"uid", "MeSH"})}


def pick_views(images: List[str], projections: Optional[Dict[str, str]]
               ) -> Tuple[Optional[str], Optional[str], bool]:
    """(frontal, lateral, guessed): one of each, deterministically (the first in name order).

    With a projection table the views are known. Without one, the IU file-name convention
    is used (``-1001`` frontal, ``-2001`` lateral), then name order; ``guessed`` says so.
    """
    images = sorted(images)
    if projections is not None:
        frontal = [i for i in images if projections.get(image_stem(i)) == "frontal"]
        lateral = [i for i in images if projections.get(image_stem(i)) == "lateral"]
        return (frontal[0] if frontal else None), (lateral[0] if lateral else None), False
    frontal = [i for i in images if image_stem(i).endswith("-1001")]
    lateral = [i for i in images if image_stem(i).endswith("-2001")]
    if frontal and lateral:
        return frontal[0], lateral[0], True
    if len(images) >= 2:
        return images[0], images[1], True
    return (images[0] if images else None), None, True


class _Builder:
    """Turns one study's parts into a Study, or a counted drop with the file named."""

    def __init__(self, drops: DropCounter, sections: str, missing_view: str):
        self.drops, self.sections = drops, sections
        self.missing_view = check_missing_view(missing_view)
        self.seen = set()
        drops.source.update(reports=0, with_both_views=0)

    def make(self, sid: str, where: str, findings: str, impression: str, mesh: Optional[str],
             frontal: Optional[str], lateral: Optional[str], guessed: bool = False,
             sentences: Optional[List[str]] = None, file: str = "") -> Optional[Study]:
        """``where`` locates the study in ``file`` (the report table or file) for messages."""
        d = self.drops
        if sid in self.seen:
            d.drop("duplicate_uid", f"{where}: duplicate study {sid}; the first is kept", sid,
                   file)
            return None
        self.seen.add(sid)
        d.source["reports"] += 1
        d.source["with_both_views"] += frontal is not None and lateral is not None
        if _has_bad_bytes([findings, impression, mesh or ""]):
            d.drop("non_utf8_text", f"{where}: text is not valid UTF-8", sid, file)
            return None
        if sentences is None:
            sentences = report_sentences(findings, impression, self.sections)
            text = select_sections(findings, impression, self.sections)
        else:
            text = ". ".join(sentences)
        if not sentences:
            d.drop("empty_report", f"{where}: findings and impression are empty", sid, file)
            return None
        views = resolve_views(d, self.missing_view, where, frontal, lateral, study=sid,
                              file=file)
        if views is DROPPED:
            return None
        frontal, lateral = views
        if guessed:
            d.counts["views_from_file_names"] += 1
        return Study(id=sid, patient=sid, frontal=frontal, lateral=lateral, text=text,
                     sentences=sentences, normal=normal_flag(mesh) if mesh is not None else UNKNOWN)


# ---------------------------------------------------------------------------------------
# The four layouts
# ---------------------------------------------------------------------------------------
def read_kaggle(raw_dir: str, builder: _Builder, images_dir: Optional[str] = None,
                projections: Optional[Dict[str, str]] = None, **_) -> List[Study]:
    reports_csv = os.path.join(raw_dir, "indiana_reports.csv")
    projections_csv = os.path.join(raw_dir, "indiana_projections.csv")
    reports = _read_csv(reports_csv, REPORT_COLUMNS)
    images = _find_dir(raw_dir, images_dir, ("images", "images_normalized",
                                              os.path.join("images", "images_normalized")),
                       "--images_dir")
    rows = _read_csv(projections_csv, PROJECTION_COLUMNS)
    projections = projections or read_projections(projections_csv, builder.drops, rows)
    by_uid: Dict[str, List[str]] = {}
    for row in rows:
        by_uid.setdefault(row["uid"].strip(), []).append(row["filename"].strip())
    studies = []
    for row in reports:
        uid = (row["uid"] or "").strip()
        frontal, lateral, _ = pick_views(by_uid.get(uid, []), projections)
        study = builder.make(study_id(uid), f"{reports_csv}:{row['_line']} (uid {uid})",
                             row["findings"], row["impression"], row["MeSH"],
                             os.path.join(images, frontal) if frontal else None,
                             os.path.join(images, lateral) if lateral else None,
                             file=reports_csv)
        if study:
            studies.append(study)
    return studies


def _xml_text(root, label: str) -> str:
    for node in root.iter("AbstractText"):
        if (node.get("Label") or "").upper() == label:
            return "".join(node.itertext()).strip()
    return ""


def _xml_study(path: str) -> str:
    """The study id an NLM report file's name gives (its uid), or "" when it gives none."""
    try:
        return study_id(uid_of(path))
    except ValueError:
        return ""


def read_nlm(raw_dir: str, builder: _Builder, images_dir: Optional[str] = None,
             projections: Optional[Dict[str, str]] = None, **_) -> List[Study]:
    images = _find_dir(raw_dir, images_dir, ("NLMCXR_png", "images"), "--images_dir")
    files = sorted(fileio.glob(os.path.join(raw_dir, "ecgen-radiology", "*.xml")),
                   key=lambda p: (len(p), p))
    studies = []
    for path in files:
        try:
            with fileio.open(path, "rb") as f:
                data = f.read()
            data.decode("utf-8")
            root = ET.fromstring(data)
        except UnicodeDecodeError as e:
            builder.drops.drop("non_utf8_text", f"{path}: text is not valid UTF-8 ({e})",
                               _xml_study(path), path)
            continue
        except ET.ParseError as e:
            builder.drops.drop("malformed_xml", f"{path}: malformed XML ({e})",
                               _xml_study(path), path)
            continue
        node = root.find(".//uId")
        uid = uid_of(node.get("id") if node is not None and node.get("id") else
                     os.path.basename(path))
        majors = [(m.text or "").strip() for m in root.iter("major")]
        mesh = ";".join(majors)
        names = [n.get("id") + ".png" for n in root.iter("parentImage") if n.get("id")]
        frontal, lateral, guessed = pick_views(names, projections)
        study = builder.make(study_id(uid), path, _xml_text(root, "FINDINGS"),
                             _xml_text(root, "IMPRESSION"), mesh,
                             os.path.join(images, frontal) if frontal else None,
                             os.path.join(images, lateral) if lateral else None, guessed,
                             file=path)
        if study:
            studies.append(study)
    if not files:
        raise LayoutError(f"{raw_dir}/ecgen-radiology: no .xml reports")
    return studies


def _load_json(path: str):
    try:
        with fileio.open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise LayoutError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LayoutError(f"{path}: not valid JSON ({e})") from None


def read_r2gen(raw_dir: str, builder: _Builder, images_dir: Optional[str] = None,
               mesh: Optional[Dict[str, str]] = None, **_) -> List[Study]:
    """R2Gen's annotation.json: the report is findings only; images/<id>/0.png is the
    frontal view and 1.png the lateral (R2Gen's convention)."""
    path = os.path.join(raw_dir, "annotation.json")
    ann = _load_json(path)
    images = _find_dir(raw_dir, images_dir, ("images",), "--images_dir")
    studies = []
    for split, entries in ann.items():
        for i, e in enumerate(entries):
            sid = study_id(uid_of(e["id"]))
            paths = [os.path.join(images, p) for p in e.get("image_path", [])]
            frontal = paths[0] if paths else None
            lateral = paths[1] if len(paths) > 1 else None
            study = builder.make(sid, f"{path}: {split}[{i}] ({e['id']})", e.get("report", ""),
                                 "", (mesh or {}).get(sid), frontal, lateral, file=path)
            if study:
                study.split = split
                studies.append(study)
    return studies


def read_legacy(raw_dir: str, builder: _Builder, images_dir: Optional[str] = None,
                projections: Optional[Dict[str, str]] = None,
                mesh: Optional[Dict[str, str]] = None, **_) -> List[Study]:
    """The legacy project's data_entry.json (already-normalised sentences) + images named
    ``CXR<uid>_IM-....png``."""
    path = os.path.join(raw_dir, "data_entry.json")
    entry = _load_json(path)
    images = _find_dir(raw_dir, images_dir, ("images", "experiments"), "--images_dir")
    by_uid: Dict[str, List[str]] = {}
    for name in sorted(fileio.listdir(images)):
        if re.search(r"\.(png|jpe?g)$", name, re.I):
            by_uid.setdefault(study_id(uid_of(name)), []).append(name)
    studies = []
    for sid, sentences in entry.items():
        sid = study_id(uid_of(sid))
        frontal, lateral, guessed = pick_views(by_uid.get(sid, []), projections)
        study = builder.make(sid, f"{path} ({sid})", "", "", (mesh or {}).get(sid),
                             os.path.join(images, frontal) if frontal else None,
                             os.path.join(images, lateral) if lateral else None, guessed,
                             sentences=[s for s in sentences if len(s.split()) >= 2],
                             file=path)
        if study:
            studies.append(study)
    return studies


READERS = {"kaggle": read_kaggle, "nlm": read_nlm, "r2gen": read_r2gen, "legacy": read_legacy}


def read_layout(raw_dir: str, drops: DropCounter, images_dir: Optional[str] = None,
                sections: str = "impression+findings", missing_view: str = "drop",
                projections_csv: Optional[str] = None, reports_csv: Optional[str] = None
                ) -> Tuple[str, List[Study]]:
    """Detects the layout and reads it; returns (layout name, studies).

    ``projections_csv`` (Kaggle's indiana_projections.csv) gives the views of the NLM and
    legacy layouts; ``reports_csv`` (indiana_reports.csv) gives MeSH, hence the normal
    flag, to the R2Gen and legacy layouts.
    """
    layout = detect_layout(raw_dir)
    builder = _Builder(drops, sections, missing_view)
    projections = read_projections(projections_csv, drops) if projections_csv else None
    mesh = read_mesh(reports_csv) if reports_csv else None
    studies = READERS[layout](raw_dir, builder, images_dir=images_dir, projections=projections,
                              mesh=mesh)
    return layout, studies
