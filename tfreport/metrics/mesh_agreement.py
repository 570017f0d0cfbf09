"""Labeler agreement with IU X-Ray MeSH terms (the indexers' reading of the same report).

MeSH is not ground truth for the 14 observations: many MeSH-abnormal reports hold only
findings outside them (docs/design.md §4). This measures agreement; it is not a target to tune to.
"""
from __future__ import annotations

import csv
from typing import Dict, List

from tfreport import fileio
from tfreport.labeler import label_report

# CheXpert observation -> the MeSH main headings (before the first '/') that mean it.
MESH_FOR = {
    "Cardiomegaly": ["Cardiomegaly"],
    "Pleural Effusion": ["Pleural Effusion"],
    "Atelectasis": ["Pulmonary Atelectasis"],
    "Pneumothorax": ["Pneumothorax"],
    "Edema": ["Pulmonary Edema"],
    "Fracture": ["Fractures, Bone"],
    "Lung Lesion": ["Nodule", "Mass"],
    "Consolidation": ["Consolidation"],
    "Pneumonia": ["Pneumonia"],
    "Support Devices": ["Catheters, Indwelling", "Surgical Instruments", "Implanted Medical Device",
                        "Tube, Inserted", "Medical Device", "Stents", "Pacemaker, Artificial"],
}
FREQUENT = ("Cardiomegaly", "Atelectasis", "Pleural Effusion")  # >= 100 MeSH positives


def mesh_headings(mesh: str) -> set:
    return {t.split("/")[0].strip() for t in (mesh or "").split(";")}


def agreement(reports_csv: str) -> Dict[str, Dict[str, float]]:
    """Per observation: MeSH positives, labeler positives, precision, recall, F1 (labeler
    positive = 1; MeSH `No Indexing` reports are left out). ``No Finding`` is compared
    with MeSH `normal`."""
    counts: Dict[str, List[int]] = {o: [0, 0, 0] for o in list(MESH_FOR) + ["No Finding"]}
    n = 0
    with fileio.open(reports_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["MeSH"].strip() == "No Indexing":
                continue
            n += 1
            headings = mesh_headings(row["MeSH"])
            labels = label_report(f"{row['findings'] or ''} {row['impression'] or ''}")
            for obs, c in counts.items():
                truth = (row["MeSH"].strip() == "normal" if obs == "No Finding"
                         else bool(headings & set(MESH_FOR[obs])))
                pred = labels[obs] == 1
                c[0] += truth and pred
                c[1] += pred and not truth
                c[2] += truth and not pred
    out = {}
    for obs, (tp, fp, fn) in counts.items():
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out[obs] = {"mesh_positives": tp + fn, "labeler_positives": tp + fp, "precision": p,
                    "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}
    out["_reports"] = {"count": n}
    return out
