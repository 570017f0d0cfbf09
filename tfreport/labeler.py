"""A rule-based labeler for the 14 CheXpert observations, in the spirit of the CheXpert labeler.

Per sentence: find mentions (phrase lists), then decide negation (a cue before the mention
in its clause, or a negating phrase after it), then uncertainty. Per report: positive wins
over uncertain, which wins over negative; unmentioned observations stay blank. No Finding
is 1 when no pathology (Support Devices aside) is positive or uncertain, else blank.

Values: 1 positive, 0 negative, -1 uncertain, ``None`` blank. Works offline, no weights.
Label CSVs from an external CheXbert/CheXpert run can be read with :func:`read_label_csv`.
"""
from __future__ import annotations

import csv
import math
import re
from typing import Dict, Mapping, Optional, Sequence

from tfreport import fileio
from tfreport.labels import CHEXPERT_OBSERVATIONS

Label = Optional[int]
Labels = Dict[str, Label]

# Mention phrases (regexes on lower-cased text). "Normal" phrasings that CheXpert reads as a
# negative mention of an observation are in _NORMAL_FORMS.
_MENTIONS = {
    "Enlarged Cardiomediastinum": [
        r"(widen\w*|enlarg\w*|prominen\w*) (of the )?(cardio)?mediastin\w*",
        r"(cardio)?mediastin\w* (silhouette |contours? )?(is |are |appears )?(widen\w*|enlarg\w*)",
        r"mediastinal (widening|enlargement)"],
    "Cardiomegaly": [
        r"cardiomegaly", r"enlarged (heart|cardiac)", r"cardiac (silhouette |shadow )?enlargement",
        r"(heart|cardiac silhouette|cardiac shadow|heart size|cardiac size)( is| are| appears| remains)?"
        r"( \w+ly)? (enlarged|increased|large|prominent)",
        r"enlargement of the (heart|cardiac)", r"(large|increased) heart size",
        r"(enlarged|increased|prominent) (heart size|cardiac size|cardiac silhouette)"],
    "Lung Lesion": [r"nodul\w*", r"\bmass(es)?\b", r"\blesions?\b", r"tumou?r", r"neoplasm",
                    r"carcinoma", r"metasta\w*", r"cavitary"],
    "Lung Opacity": [r"opaci\w*", r"infiltrat\w*", r"air ?space (disease|opaci\w*)",
                     r"\bdensit(y|ies)\b", r"haziness", r"hazy", r"ground glass"],
    "Edema": [r"edema", r"\bchf\b", r"congestive heart failure", r"(vascular|pulmonary) congestion",
              r"heart failure"],
    "Consolidation": [r"consolidat\w*"],
    "Pneumonia": [r"pneumoni\w*", r"\binfection\b", r"infectious process"],
    "Atelectasis": [r"atelecta\w*", r"\bcollapse\w*"],
    "Pneumothorax": [r"pneumothora\w*", r"pneumothoraces"],
    "Pleural Effusion": [r"(?<!pericardial )effusions?", r"pleural fluid", r"hydrothorax",
                         r"blunt\w* (of )?(the )?(\w+ )?costophrenic", r"costophrenic \w* ?blunt\w*"],
    "Pleural Other": [r"pleural (thickening|scar\w*|plaque\w*|calcification)", r"fibrothorax",
                      r"pleural-parenchymal"],
    "Fracture": [r"fractur\w*"],
    "Support Devices": [
        r"pacemaker", r"\bpacer\b", r"defibrillator", r"\bicd\b", r"\bleads?\b(?! to)", r"\bstents?\b",
        r"catheter", r"\b(picc|central venous|venous|arterial|ij|jugular|subclavian|swan[- ]ganz)"
        r" (line|catheter)s?", r"\bport\b", r"port-a-cath", r"(endotracheal|et|ng|nasogastric|"
        r"feeding|chest|enteric|tracheostomy|dobhoff) tubes?", r"tracheostomy",
        r"sternotomy", r"(sternal|sternotomy|surgical) (wires|sutures|clips)", r"surgical clips",
        r"\bclips\b", r"hardware", r"prosthe\w*", r"valve replacement", r"\bdevices?\b",
        r"\bwires?\b"],
}
_NORMAL_FORMS = {
    "Cardiomegaly": [r"(heart|cardiac) (size|silhouette|shadow)( is| are| appears| remains)?"
                     r"( \w+)? (normal|within normal limits|unremarkable|stable|upper limits of normal)",
                     r"normal (heart|cardiac) (size|silhouette|contour)",
                     r"heart is (normal|not enlarged)( in size)?", r"heart size normal"],
    "Enlarged Cardiomediastinum": [
        r"(cardio)?mediastin\w* (silhouette|contours?|structures)( is| are| appears| remains)?"
        r"( \w+)? (normal|within normal limits|unremarkable|stable)",
        r"normal (cardio)?mediastinal (silhouette|contours?)"],
}
# "clear lungs" is CheXpert's negative for the parenchymal observations.
_CLEAR_LUNGS = re.compile(r"lungs? (are |is |appear |remain )?(\w+ )?clear|clear lungs")
_CLEAR_LUNG_OBS = ("Lung Opacity", "Consolidation", "Pneumonia", "Edema", "Atelectasis")

_NEG_BEFORE = re.compile(
    r"\b(no|not|without|negative for|free of|clear of|absence of|rather than|resolved|"
    r"resolution of|removal of|removed|no evidence of|no signs? of|never)\b")
_NEG_AFTER = re.compile(
    r"^[^.;]{0,40}?\b(is|are|was|were|has|have)?\s*(not|no longer)\b"
    r"|^[^.;]{0,25}?\b(absent|resolved|removed|ruled out|excluded)\b")
_UNCERTAIN = re.compile(
    r"\b(may|might|could|possibl\w*|probabl\w*|likely|questionabl\w*|suggest\w*|suspicious|"
    r"suspected|concern(ing)? for|cannot be (excluded|ruled out)|can not be (excluded|ruled out)|"
    r"not (be )?excluded|versus|vs|differential|consider\w*|equivocal|indeterminate|"
    r"borderline (?!cardiomegaly|enlarge)|may represent|worrisome|r/o|rule out|possible)\b")
_CLAUSE = re.compile(r";|\bbut\b|\bhowever\b|\balthough\b|\bexcept\b|\bwhich\b|\bwith\b(?= \w+ (is|are))"
                     r"|, (?=and\b)|\bapart from\b")
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")

_COMPILED = {o: [re.compile(p) for p in ps] for o, ps in _MENTIONS.items()}
_NORMAL_COMPILED = {o: [re.compile(p) for p in ps] for o, ps in _NORMAL_FORMS.items()}
PATHOLOGIES = tuple(o for o in CHEXPERT_OBSERVATIONS if o not in ("No Finding", "Support Devices"))


def _clause_bounds(sentence: str, start: int, end: int):
    """The clause of ``sentence`` holding the span [start, end)."""
    lo, hi = 0, len(sentence)
    for m in _CLAUSE.finditer(sentence):
        if m.end() <= start:
            lo = m.end()
        elif m.start() >= end:
            hi = m.start()
            break
    return lo, hi


def _classify(sentence: str, start: int, end: int) -> int:
    """1, 0 or -1 for one mention in one sentence."""
    lo, hi = _clause_bounds(sentence, start, end)
    before, after = sentence[lo:start], sentence[end:hi]
    if _NEG_BEFORE.search(before) or _NEG_AFTER.search(after):
        # "cannot be excluded" / "not excluded" read as uncertain, not negative
        if _UNCERTAIN.search(sentence[lo:hi]) and re.search(r"exclud|ruled out", sentence[lo:hi]):
            return -1
        return 0
    if _UNCERTAIN.search(before) or _UNCERTAIN.search(after[:25]):
        return -1
    return 1


def _merge(old: Label, new: int) -> int:
    rank = {1: 3, -1: 2, 0: 1}
    return new if old is None or rank[new] > rank[old] else old


def label_report(text: str) -> Labels:
    """Labels for one report (any casing, punctuation kept or not)."""
    labels: Labels = {o: None for o in CHEXPERT_OBSERVATIONS}
    text = (text or "").lower()
    for sentence in _SENTENCES.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        for obs, patterns in _NORMAL_COMPILED.items():
            if any(p.search(sentence) for p in patterns):
                labels[obs] = _merge(labels[obs], 0)
        if _CLEAR_LUNGS.search(sentence) and not _NEG_BEFORE.search(
                sentence[:_CLEAR_LUNGS.search(sentence).start()]):
            for obs in _CLEAR_LUNG_OBS:
                labels[obs] = _merge(labels[obs], 0)
        for obs, patterns in _COMPILED.items():
            for p in patterns:
                for m in p.finditer(sentence):
                    if obs in _NORMAL_COMPILED and any(
                            n.search(sentence) and n.search(sentence).start() <= m.start()
                            < n.search(sentence).end() for n in _NORMAL_COMPILED[obs]):
                        continue  # inside a "normal" phrasing
                    labels[obs] = _merge(labels[obs], _classify(sentence, m.start(), m.end()))
    if not any(labels[o] in (1, -1) for o in PATHOLOGIES):
        labels["No Finding"] = 1
    return labels


def label_reports(reports: Mapping[str, str]) -> Dict[str, Labels]:
    return {k: label_report(v) for k, v in reports.items()}


# ---------------------------------------------------------------------------------------
# Label CSVs: tfreport's own, MIMIC's chexpert CSV, CheXbert's output.
# ---------------------------------------------------------------------------------------
def _value(cell: str, path: str, line: int, column: str) -> Label:
    cell = (cell or "").strip()
    if cell == "" or cell.lower() == "nan":
        return None
    try:
        v = float(cell)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column!r} has {cell!r}, expected 1, 0, -1 or blank")
    if math.isnan(v):
        return None
    if v not in (1.0, 0.0, -1.0):
        raise ValueError(f"{path}:{line}: column {column!r} has {cell!r}, expected 1, 0, -1 or blank")
    return int(v)


def write_label_csv(path: str, labels: Mapping[str, Labels]) -> None:
    """tfreport's format: ``id`` plus the 14 observation columns (blank for no mention)."""
    with fileio.open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", *CHEXPERT_OBSERVATIONS])
        for sid, row in labels.items():
            w.writerow([sid, *("" if row[o] is None else row[o] for o in CHEXPERT_OBSERVATIONS)])


def read_label_csv(path: str, ids_in_order: Optional[Sequence[str]] = None) -> Dict[str, Labels]:
    """Reads tfreport's (``id``), MIMIC's (``study_id``) or CheXbert's (``Reports``, joined by
    row order with ``ids_in_order``, which must have the same length) label CSV."""
    with fileio.open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [o for o in CHEXPERT_OBSERVATIONS if o not in header]
        if missing:
            raise ValueError(f"{path}: missing observation columns {missing}")
        rows = list(reader)
    if "id" in header:
        key = "id"
    elif "study_id" in header:
        key = "study_id"
    elif "Reports" in header:
        if ids_in_order is None or len(ids_in_order) != len(rows):
            raise ValueError(f"{path}: a CheXbert CSV (no id column) has {len(rows)} rows and is "
                             "joined by row order; the predictions file has "
                             f"{'no order' if ids_in_order is None else len(ids_in_order)} reports")
        key = None
    else:
        raise ValueError(f"{path}: needs an id, study_id or Reports column")
    out = {}
    for i, row in enumerate(rows):
        sid = str(ids_in_order[i]) if key is None else str(row[key]).strip()
        if key == "study_id":
            sid = sid.split(".")[0]
        out[sid] = {o: _value(row[o], path, i + 2, o) for o in CHEXPERT_OBSERVATIONS}
    return out
