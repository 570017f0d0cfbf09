"""MIMIC-CXR-JPG (+ the MIMIC-CXR reports) -> :class:`Study` lists.

The official layout: ``files/pXX/p<subject>/s<study>/<dicom_id>.jpg`` (or MIMIC-CXR's
original ``<dicom_id>.dcm``, read through ``data/dicom.py`` where no JPG is there), the
``mimic-cxr-2.0.0-{metadata,split,chexpert}.csv`` tables (gzipped or plain) and the reports
``files/pXX/p<subject>/s<study>.txt`` (from MIMIC-CXR, possibly under their own root). An
R2Gen-style ``annotation.json`` is read too. Study ids are ``s<study_id>``; a study is normal
when CheXpert "No Finding" is 1.

Everything but the images is read here, row by row; images are only opened by the record
writer, in parallel and one shard at a time.
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Tuple

from tfreport import fileio
from tfreport.data.study import (ABNORMAL, DROPPED, NORMAL, UNKNOWN, DropCounter, LayoutError,
                                 Study, check_missing_view, resolve_views)
from tfreport.data.tables import read_table
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.text import report_sentences, select_sections

PREFIX = "mimic-cxr-2.0.0-"
METADATA_COLUMNS = {"dicom_id", "subject_id", "study_id", "ViewPosition"}
SPLIT_COLUMNS = {"dicom_id", "study_id", "subject_id", "split"}
CHEXPERT_COLUMNS = {"subject_id", "study_id"} | set(CHEXPERT_OBSERVATIONS)
SPLIT_NAMES = {"train": "train", "validate": "val", "validation": "val", "val": "val",
               "test": "test"}
FRONTAL = ("PA", "AP")  # in order of preference
LATERAL = ("LATERAL", "LL")
# Rare positions that are still frontal or lateral, used only when no standard one exists.
FRONTAL_RARE = ("AP AXIAL", "PA LLD", "AP LLD", "PA RLD", "AP RLD", "LAO", "RAO")
LATERAL_RARE = ("XTABLE LATERAL", "RL", "LATERAL LLD")
# An empty ViewPosition falls back on the DICOM view code meaning.
VIEW_CODES = {"postero-anterior": "PA", "antero-posterior": "AP", "lateral": "LATERAL",
              "left lateral": "LL", "right lateral": "LATERAL"}
FINDINGS_HEADERS = ("FINDINGS", "FINDING", "FINDINGS AND IMPRESSION", "REPORT")
IMPRESSION_HEADERS = ("IMPRESSION", "IMPRESSIONS", "CONCLUSION", "CONCLUSIONS", "SUMMARY",
                      "IMPRESSION AND RECOMMENDATION")
# A header: upper-case words and a colon at the start of a line (the authors' parser uses
# "\n ([A-Z ()/,-]+):\s"); leading spaces vary between report versions.
_HEADER = re.compile(r"^[ \t]*([A-Z][A-Z ()/,&-]*[A-Z)]):", re.M)
_FINAL_REPORT = re.compile(r"^\s*FINAL REPORT\s*$", re.M)


# -- tables ---------------------------------------------------------------------------------
def find_table(raw_dir: str, name: str, required: bool = True) -> Optional[str]:
    """``mimic-cxr-2.0.0-<name>.csv`` or ``.csv.gz`` in ``raw_dir``."""
    for suffix in (".csv.gz", ".csv"):
        path = os.path.join(raw_dir, PREFIX + name + suffix)
        if fileio.exists(path):
            return path
    if required:
        raise LayoutError(f"--raw_dir {raw_dir}: {PREFIX}{name}.csv(.gz) not found; expected "
                          "the MIMIC-CXR-JPG top level (files/ and the mimic-cxr-2.0.0-*.csv "
                          "tables)")
    return None


def read_rows(path: str, required: set) -> Iterator[Dict[str, str]]:
    """Rows of a plain or gzipped CSV, one at a time, its shape checked
    (``tables.read_table``); a broken table names the file and the line."""
    return read_table(path, required)


def view_of(row: Dict[str, str]) -> Tuple[str, bool]:
    """(view position, guessed): an empty ViewPosition falls back on the view code."""
    view = (row.get("ViewPosition") or "").strip().upper()
    if view:
        return view, False
    code = (row.get("ViewCodeSequence_CodeMeaning") or "").strip().lower()
    return VIEW_CODES.get(code, ""), True


def pick_views(images: List[Tuple[str, str]]) -> Tuple[Optional[str], Optional[str]]:
    """(frontal dicom_id, lateral dicom_id) from (dicom_id, view) pairs: PA over AP, then
    the rare frontal positions; LATERAL or LL, then the rare lateral ones. Ties go to the
    first dicom_id in sort order, so the choice is deterministic."""
    def first(preference):
        for view in preference:
            hits = sorted(d for d, v in images if v == view)
            if hits:
                return hits[0]
        return None
    return (first(FRONTAL) or first(FRONTAL_RARE), first(LATERAL) or first(LATERAL_RARE))


# -- reports ----------------------------------------------------------------------------------
def sections(text: str) -> Dict[str, str]:
    """{HEADER: text} of a report; the text before the first header is under ``""``."""
    text = _FINAL_REPORT.sub("", text.replace("\r\n", "\n"))
    out: Dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    out[""] = text[: matches[0].start()].strip() if matches else text.strip()
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = " ".join(text[m.end():end].split())
        header = " ".join(m.group(1).split())
        out[header] = (out.get(header, "") + " " + body).strip()
    return out


def findings_and_impression(text: str) -> Tuple[str, str]:
    """The findings and impression of a report. A report with no headers at all is taken
    as findings; one with headers but neither section has neither."""
    parts = sections(text)
    findings = " ".join(parts[h] for h in FINDINGS_HEADERS if parts.get(h))
    impression = " ".join(parts[h] for h in IMPRESSION_HEADERS if parts.get(h))
    if len(parts) == 1:  # no headers: the whole text
        findings = " ".join(parts[""].split())
    return findings, impression


def _float(value: str) -> float:
    value = (value or "").strip()
    return math.nan if value == "" else float(value)


def read_chexpert(path: Optional[str], drops: DropCounter) -> Dict[str, Dict[str, float]]:
    """study_id -> {observation: 1/0/-1} (blanks left out)."""
    out: Dict[str, Dict[str, float]] = {}
    if path is None:
        return out
    for row in read_rows(path, CHEXPERT_COLUMNS):
        try:
            values = {o: _float(row[o]) for o in CHEXPERT_OBSERVATIONS}
        except ValueError as e:
            drops.drop("bad_labels", f"{path}, line {row['_line']}: study "
                       f"{row.get('study_id')}: {e}", f"s{(row.get('study_id') or '').strip()}",
                       path)
            continue
        out[row["study_id"].strip()] = {k: v for k, v in values.items() if not math.isnan(v)}
    return out


def normal_of(labels: Optional[Dict[str, float]]) -> int:
    if labels is None:
        return UNKNOWN
    return NORMAL if labels.get("No Finding") == 1 else ABNORMAL


# -- layouts --------------------------------------------------------------------------------
def detect(raw_dir: str) -> str:
    if not fileio.isdir(raw_dir):
        raise LayoutError(f"--raw_dir {raw_dir}: no such directory")
    if find_table(raw_dir, "metadata", required=False):
        return "mimic_jpg"
    if fileio.exists(os.path.join(raw_dir, "annotation.json")):
        return "r2gen"
    raise LayoutError(f"--raw_dir {raw_dir}: no MIMIC-CXR layout found. Expected "
                      f"{PREFIX}metadata.csv(.gz) with files/ (MIMIC-CXR-JPG) or annotation.json "
                      "(R2Gen)")


def _study_dir(root: str, subject: str, study: str) -> str:
    return os.path.join(root, "files", f"p{subject[:2]}", f"p{subject}", f"s{study}")


class _Maker:
    """Turns one study's parts into a Study, or a counted drop naming the problem."""

    def __init__(self, drops: DropCounter, sections_flag: str, missing_view: str):
        self.drops, self.sections = drops, sections_flag
        self.missing_view = check_missing_view(missing_view)
        drops.source.update(studies=0, with_both_views=0)

    def make(self, sid: str, patient: str, where: str, text: Optional[str],
             frontal: Optional[str], lateral: Optional[str], labels, split, *,
             report_file: str = "", image_dir: str = "", split_file: str = "",
             text_problem: Optional[Tuple[str, str]] = None,
             no_frontal: Tuple[str, str] = ("missing_view", "no frontal view with an image file")
             ) -> Optional[Study]:
        """``text_problem`` and ``no_frontal`` are (reason, detail) pairs naming the cause;
        the files name what each drop is about in the skip log."""
        d = self.drops
        d.source["studies"] += 1
        d.source["with_both_views"] += frontal is not None and lateral is not None
        if text_problem is not None:
            d.drop(text_problem[0], f"{where}: {report_file}: {text_problem[1]}", sid,
                   report_file)
            return None
        if text is None:
            d.drop("missing_report", f"{where}: report not found ({report_file})", sid,
                   report_file)
            return None
        findings, impression = findings_and_impression(text)
        sentences = report_sentences(findings, impression, self.sections)
        if not sentences:
            d.drop("empty_report", f"{where}: no usable {self.sections} text", sid, report_file)
            return None
        views = resolve_views(d, self.missing_view, where, frontal, lateral,
                              no_frontal=no_frontal[1], no_frontal_reason=no_frontal[0],
                              study=sid, file=image_dir)
        if views is DROPPED:
            return None
        frontal, lateral = views
        split = SPLIT_NAMES.get((split or "").strip().lower())
        if split is None:
            d.drop("not_in_split", f"{where}: not in the official split", sid, split_file)
            return None
        return Study(id=sid, patient=patient, frontal=frontal, lateral=lateral,
                     text=select_sections(findings, impression, self.sections),
                     sentences=sentences, normal=normal_of(labels), labels=dict(labels or {}),
                     split=split)


GARBAGE_SHARE = 0.01  # more control or replacement characters than this: not a report
_GARBAGE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")  # not tab, line ends, form feed


def decode_report(data: bytes) -> Tuple[Optional[str], Optional[Tuple[str, str]]]:
    """(text, None), or (None, (reason, detail)) for bytes that are not report text: not
    UTF-8 (as IU X-Ray drops non-UTF-8 text), or valid UTF-8 that is mostly control or
    replacement characters (a binary file, UTF-16 text)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, ("non_utf8_text", f"text is not valid UTF-8 ({e})")
    bad = len(_GARBAGE.findall(text))
    if text and bad > GARBAGE_SHARE * len(text):
        return None, ("binary_text", f"{bad} of {len(text)} characters are control or "
                                     "replacement characters: not report text")
    return text, None


def _read_text(path: str) -> Tuple[Optional[str], Optional[Tuple[str, str]]]:
    """A report file's text (None when there is no file) and its problem, if any."""
    if not fileio.exists(path):
        return None, None
    with fileio.open(path, "rb") as f:
        return decode_report(f.read())


def _no_frontal(metadata: str, present: List[Tuple[str, str]]) -> Tuple[str, str]:
    """(reason, detail) for a study without a usable frontal view, naming the real cause."""
    if not present:
        return "missing_view", "no image file (every image the metadata lists is missing)"
    unknown = sorted(d for d, v in present if not v)
    if unknown and not any(v in FRONTAL + FRONTAL_RARE for _, v in present):
        return "unknown_view", (
            f"no frontal view: {', '.join(d + '.jpg' for d in unknown)} exist but have an "
            f"empty ViewPosition and no known ViewCodeSequence_CodeMeaning in {metadata}")
    views = sorted({v for _, v in present if v})
    return "missing_view", f"no frontal view with an image file (views: {', '.join(views)})"


def read_jpg_layout(raw_dir: str, drops: DropCounter, maker: _Maker,
                    reports_dir: Optional[str] = None) -> List[Study]:
    """The official MIMIC-CXR-JPG layout."""
    metadata = find_table(raw_dir, "metadata")
    split_path = find_table(raw_dir, "split")
    labels = read_chexpert(find_table(raw_dir, "chexpert", required=False), drops)
    reports_root = reports_dir or raw_dir
    images: Dict[str, List[Tuple[str, str]]] = defaultdict(list)
    subject_of: Dict[str, str] = {}
    guessed = 0
    for row in read_rows(metadata, METADATA_COLUMNS):
        study, subject = row["study_id"].strip(), row["subject_id"].strip()
        view, was_guessed = view_of(row)
        guessed += was_guessed and bool(view)
        images[study].append((row["dicom_id"].strip(), view))
        subject_of[study] = subject
    split_of: Dict[str, str] = {}
    for row in read_rows(split_path, SPLIT_COLUMNS):
        split_of[row["study_id"].strip()] = row["split"]
    drops.source["images"] = sum(len(v) for v in images.values())
    if guessed:
        drops.counts["views_from_view_code"] += guessed
    for study in sorted(set(split_of) - set(images)):  # e.g. a metadata table cut short
        drops.drop("not_in_metadata", f"study {study}: listed in {split_path} but not in "
                   f"{metadata} (a table cut short?)", f"s{study}", metadata)
    out = []
    for study in sorted(images):
        subject = subject_of[study]
        folder = _study_dir(raw_dir, subject, study)
        present, files = [], {}
        for dicom, view in images[study]:
            path = os.path.join(folder, dicom + ".jpg")
            original = os.path.join(folder, dicom + ".dcm")  # MIMIC-CXR's own DICOM
            if fileio.exists(path) or fileio.exists(original):
                present.append((dicom, view))
                files[dicom] = path if fileio.exists(path) else original
            else:  # named, and counted; the study goes on with its other views
                drops.drop("missing_image_file", f"study {study}: {path} (or {original}): "
                           f"image file listed in {metadata} not found", f"s{study}", path)
        frontal, lateral = pick_views(present)
        report_path = _study_dir(reports_root, subject, study) + ".txt"
        text, problem = _read_text(report_path)
        s = maker.make(
            f"s{study}", subject, f"study {study} ({folder})", text,
            files[frontal] if frontal else None,
            files[lateral] if lateral else None,
            labels.get(study), split_of.get(study), report_file=report_path,
            image_dir=folder, split_file=split_path, text_problem=problem,
            no_frontal=_no_frontal(metadata, present))
        if s is not None:
            out.append(s)
    return out


def read_r2gen_layout(raw_dir: str, drops: DropCounter, maker: _Maker,
                      images_dir: Optional[str] = None) -> List[Study]:
    """R2Gen's MIMIC ``annotation.json``: {split: [{id, study_id, subject_id, report,
    image_path: [...], split}]} with images under ``images/`` (or --images_dir)."""
    path = os.path.join(raw_dir, "annotation.json")
    try:
        with fileio.open(path, encoding="utf-8") as f:
            annotation = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LayoutError(f"{path}: not valid JSON ({e})") from None
    root = images_dir or os.path.join(raw_dir, "images")
    labels = read_chexpert(find_table(raw_dir, "chexpert", required=False), drops)
    out, seen = [], set()
    for split, entries in annotation.items():
        for e in entries:
            study = str(e.get("study_id", "")).strip()
            if not study or study in seen:
                drops.drop("duplicate_or_unnamed", f"{path}: entry {e.get('id')}: no or a "
                                                   "repeated study_id", f"s{study}", path)
                continue
            seen.add(study)
            files = [os.path.join(root, p) for p in e.get("image_path", [])]
            files = [p for p in files if fileio.exists(p)]
            s = maker.make(f"s{study}", str(e.get("subject_id", study)), f"{path}: {study}",
                           "FINDINGS: " + e.get("report", ""),
                           files[0] if files else None, files[1] if len(files) > 1 else None,
                           labels.get(study), e.get("split", split), report_file=path,
                           image_dir=root, split_file=path)
            if s is not None:
                out.append(s)
    return out


def read_layout(raw_dir: str, drops: DropCounter, sections: str = "findings_or_impression",
                missing_view: str = "mask", reports_dir: Optional[str] = None,
                images_dir: Optional[str] = None) -> Tuple[str, List[Study]]:
    """(layout name, studies) for a MIMIC-CXR raw directory."""
    layout = detect(raw_dir)
    maker = _Maker(drops, sections, missing_view)
    if layout == "mimic_jpg":
        return layout, read_jpg_layout(raw_dir, drops, maker, reports_dir)
    return layout, read_r2gen_layout(raw_dir, drops, maker, images_dir)


def official_splits(studies: List[Study]) -> Dict[str, List[Study]]:
    out: Dict[str, List[Study]] = {"train": [], "val": [], "test": []}
    for s in studies:
        out[s.split].append(s)
    return out
