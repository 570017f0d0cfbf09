"""The built-in demo dataset: synthetic chest X-ray studies in the IU X-Ray Kaggle raw layout.

Each study has a frontal and a lateral view in which its findings are drawn with random
position, size and noise, and a report that states them and negates others. Writing the
Kaggle layout (``indiana_reports.csv``, ``indiana_projections.csv``, ``images/``) means the
demo goes through the same ingest code as real IU X-Ray. ``labels.csv`` holds the ground truth.

Normal means "the study has no findings" (docs/design.md §2); about 36% of studies are normal.
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from tfreport import fileio
from tfreport.data.drawing import blob, ellipse, finish, line, lung_boxes, soft
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.progress import progress

FINDINGS = ("cardiomegaly", "pleural_effusion", "consolidation", "pneumothorax", "nodule",
            "support_device")
# Demo finding -> CheXpert observation (for labels.csv and backbone pretraining).
CHEXPERT_OF = {
    "cardiomegaly": "Cardiomegaly",
    "pleural_effusion": "Pleural Effusion",
    "consolidation": "Consolidation",
    "pneumothorax": "Pneumothorax",
    "nodule": "Lung Lesion",
    "support_device": "Support Devices",
}
MESH_OF = {
    "cardiomegaly": "Cardiomegaly/mild",
    "pleural_effusion": "Pleural Effusion/{side}",
    "consolidation": "Consolidation/lung/{side}",
    "pneumothorax": "Pneumothorax/{side}",
    "nodule": "Nodule/lung/{side}",
    "support_device": "Pacemaker, Artificial",
}
NORMAL_FRACTION = 0.36
DEFAULT_NUM_STUDIES = 2000
DEFAULT_IMAGE_SIZE = 128  # raw PNG side; noise makes larger PNGs big
DEFAULT_RAW_DIR = os.path.join("data", "demo", "raw")
REPORT_COLUMNS = ("uid", "MeSH", "Problems", "image", "indication", "comparison", "findings",
                  "impression")
PROJECTION_COLUMNS = ("uid", "filename", "projection")


# --------------------------------------------------------------------------------------------
# Findings: what each study has, with the attributes the report mentions.
# --------------------------------------------------------------------------------------------
@dataclass
class Finding:
    name: str
    side: str  # "right" | "left" (patient side; drawn mirrored on the frontal view)
    zone: str  # "upper" | "lower"
    x: float  # centre within the lung, 0..1 of the lung box
    y: float
    size: float  # relative size 0..1


def sample_findings(rng: np.random.Generator) -> List[Finding]:
    """Draws the study's findings: none for ~36% of studies, else 1-3."""
    if rng.random() < NORMAL_FRACTION:
        return []
    k = int(rng.choice([1, 2, 3], p=[0.55, 0.33, 0.12]))
    names = rng.choice(len(FINDINGS), size=k, replace=False)
    out = []
    for i in sorted(names):
        y = float(rng.uniform(0.15, 0.85))
        out.append(Finding(FINDINGS[i], side=str(rng.choice(["right", "left"])),
                           zone="upper" if y < 0.5 else "lower", x=float(rng.uniform(0.2, 0.8)),
                           y=y, size=float(rng.uniform(0.0, 1.0))))
    return out


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def _record(regions: Optional[Dict[str, np.ndarray]], name: str, before: np.ndarray,
            after: np.ndarray) -> None:
    """Where drawing ``name`` changed the image (for the attention localisation check)."""
    if regions is not None:
        changed = np.abs(after - before) > 1.0
        regions[name] = changed | regions[name] if name in regions else changed


def render_frontal(findings: Sequence[Finding], size: int, rng: np.random.Generator,
                   regions: Optional[Dict[str, np.ndarray]] = None) -> np.ndarray:
    """The frontal view; ``regions`` (a dict) receives each finding's drawn pixels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    s = rng.uniform(0.92, 1.08)
    cx, cy = 0.5 + rng.uniform(-0.04, 0.04), 0.52 + rng.uniform(-0.04, 0.04)
    img = np.full((size, size), 18.0, np.float32)
    img += 95 * soft(ellipse(xx, yy, cx, cy + 0.03, 0.42 * s, 0.47 * s), 0.15)  # body
    lungs = lung_boxes(cx, cy, s)
    lung_mask = np.zeros_like(img)
    for lx, ly, rx, ry in lungs.values():
        lung_mask = np.maximum(lung_mask, soft(ellipse(xx, yy, lx, ly, rx, ry), 0.12))
    img -= 60 * lung_mask
    # Faint lung markings and ribs.
    for k in range(6):
        img += 10 * lung_mask * np.clip(1 - np.abs(yy - (cy - 0.25 * s + k * 0.09 * s
                                                          + 0.02 * np.sin(xx * 9))) / 0.012, 0, 1)
    img += 50 * soft(ellipse(xx, yy, cx, cy, 0.035 * s, 0.5 * s), 0.3)  # spine / mediastinum
    names = {f.name: f for f in findings}
    heart_w = (0.2 if "cardiomegaly" in names else 0.125) * s * rng.uniform(0.92, 1.08)
    heart = soft(ellipse(xx, yy, cx + 0.04 * s, cy + 0.16 * s, heart_w, 0.1 * s), 0.25)
    img += 70 * heart
    if "cardiomegaly" in names and regions is not None:  # the enlarged heart
        regions["cardiomegaly"] = heart > 0.5
    for f in findings:
        before = img.copy() if regions is not None else None
        lx, ly, rx, ry = lungs[f.side]
        px, py = lx - rx + 2 * rx * f.x, ly - ry + 2 * ry * f.y
        if f.name == "pleural_effusion":
            level = ly + ry * (0.35 - 0.4 * f.size)
            meniscus = level - 0.05 * np.abs(xx - lx) / rx
            fluid = (yy > meniscus) * soft(ellipse(xx, yy, lx, ly, rx * 1.05, ry * 1.05), 0.1)
            img += 75 * fluid
        elif f.name == "consolidation":
            img = blob(img, xx, yy, px, py, (0.035 + 0.03 * f.size) * s, 80, rng)
        elif f.name == "nodule":
            r = (0.014 + 0.008 * f.size) * s
            img += 110 * soft(ellipse(xx, yy, px, py, r, r), 0.5)
        elif f.name == "pneumothorax":
            # Collapsed lung edge: a pleural line with no lung markings beyond it.
            edge_x = lx + (-1 if f.side == "right" else 1) * rx * (0.25 + 0.35 * (1 - f.size))
            outside = (xx < edge_x) if f.side == "right" else (xx > edge_x)
            region = outside * soft(ellipse(xx, yy, lx, ly, rx, ry), 0.1) * (yy < ly + 0.3 * ry)
            img -= 30 * region
            img = line(img, xx, yy, (edge_x, ly - 0.9 * ry), (edge_x, ly + 0.3 * ry), 0.006, 60)
        elif f.name == "support_device":
            dx = cx + (0.28 if f.side == "left" else -0.28) * s
            dy = cy - 0.32 * s
            img += 160 * ((np.abs(xx - dx) < 0.035 * s) & (np.abs(yy - dy) < 0.022 * s))
            img = line(img, xx, yy, (dx, dy), (cx + 0.05 * s, cy + 0.14 * s), 0.005, 120)
        if f.name != "cardiomegaly":
            _record(regions, f.name, before, img)
    return finish(img, rng)


def render_lateral(findings: Sequence[Finding], size: int, rng: np.random.Generator,
                   regions: Optional[Dict[str, np.ndarray]] = None) -> np.ndarray:
    """The lateral view; ``regions`` (a dict) receives each finding's drawn pixels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    s = rng.uniform(0.92, 1.08)
    cx, cy = 0.5 + rng.uniform(-0.04, 0.04), 0.52 + rng.uniform(-0.04, 0.04)
    img = np.full((size, size), 18.0, np.float32)
    img += 95 * soft(ellipse(xx, yy, cx, cy + 0.03, 0.36 * s, 0.47 * s), 0.15)
    lx, ly, rx, ry = cx, cy - 0.04 * s, 0.26 * s, 0.3 * s
    img -= 50 * soft(ellipse(xx, yy, lx, ly, rx, ry), 0.12)
    img += 60 * soft(ellipse(xx, yy, cx + 0.3 * s, cy, 0.04 * s, 0.5 * s), 0.3)  # spine
    names = {f.name: f for f in findings}
    heart_r = (0.19 if "cardiomegaly" in names else 0.12) * s * rng.uniform(0.92, 1.08)
    heart = soft(ellipse(xx, yy, cx - 0.12 * s, cy + 0.14 * s, heart_r, 0.12 * s), 0.25)
    img += 60 * heart
    if "cardiomegaly" in names and regions is not None:
        regions["cardiomegaly"] = heart > 0.5
    for f in findings:
        before = img.copy() if regions is not None else None
        px, py = lx - rx + 2 * rx * f.x, ly - ry + 2 * ry * f.y
        if f.name == "pleural_effusion":
            level = ly + ry * (0.45 - 0.35 * f.size)
            fluid = (yy > level + 0.06 * (xx - lx)) * soft(ellipse(xx, yy, lx, ly, rx, ry), 0.1)
            img += 65 * fluid
        elif f.name == "consolidation":
            img = blob(img, xx, yy, px, py, (0.035 + 0.03 * f.size) * s, 70, rng)
        elif f.name == "nodule":
            r = (0.013 + 0.008 * f.size) * s
            img += 100 * soft(ellipse(xx, yy, px, py, r, r), 0.5)
        elif f.name == "pneumothorax":
            img = line(img, xx, yy, (lx - 0.6 * rx, ly - 0.85 * ry), (lx + 0.6 * rx, ly - 0.6 * ry),
                        0.006, 55)
            img -= 25 * (yy < ly - 0.6 * ry) * soft(ellipse(xx, yy, lx, ly, rx, ry), 0.1)
        elif f.name == "support_device":
            dx, dy = cx - 0.25 * s, cy - 0.3 * s
            img += 160 * ((np.abs(xx - dx) < 0.02 * s) & (np.abs(yy - dy) < 0.03 * s))
            img = line(img, xx, yy, (dx, dy), (cx - 0.1 * s, cy + 0.12 * s), 0.005, 110)
        if f.name != "cardiomegaly":
            _record(regions, f.name, before, img)
    return finish(img, rng)


# --------------------------------------------------------------------------------------------
# Reports
# --------------------------------------------------------------------------------------------
_POSITIVE = {
    "cardiomegaly": ["The heart is enlarged.", "Cardiomegaly is present.",
                     "The cardiac silhouette is enlarged.", "There is moderate cardiomegaly."],
    "pleural_effusion": ["There is a small {side} pleural effusion.",
                         "{Side} pleural effusion is present.",
                         "Blunting of the {side} costophrenic angle consistent with pleural effusion."],
    "consolidation": ["Focal consolidation in the {side} {zone} lobe.",
                      "There is {side} {zone} lobe airspace consolidation.",
                      "Airspace consolidation in the {side} {zone} lung, XXXX pneumonia."],
    "pneumothorax": ["There is a small {side} pneumothorax.", "{Side} apical pneumothorax.",
                     "A {side} pneumothorax is present."],
    "nodule": ["There is a {sz} nodule in the {side} {zone} lung.",
               "{Side} {zone} lung nodule measuring XXXX cm.",
               "A {sz} pulmonary nodule is seen in the {side} lung."],
    "support_device": ["{Side} chest wall pacemaker with leads in the heart.",
                       "A cardiac pacemaker is in place.",
                       "Dual lead pacemaker overlies the {side} chest."],
}
_IMPRESSION = {
    "cardiomegaly": ["Cardiomegaly.", "Enlarged heart."],
    "pleural_effusion": ["{Side} pleural effusion.", "Small {side} pleural effusion."],
    "consolidation": ["{Side} {zone} lobe consolidation.", "{Side} {zone} lobe pneumonia."],
    "pneumothorax": ["{Side} pneumothorax.", "Small {side} pneumothorax."],
    "nodule": ["{Side} lung nodule.", "{Sz} {side} pulmonary nodule."],
    "support_device": ["Pacemaker in place.", "Cardiac pacemaker."],
}
_NEGATIVE = {
    "cardiomegaly": ["Heart size is normal.", "The heart is normal in size.",
                     "The cardiomediastinal silhouette is within normal limits.",
                     "Normal heart size."],
    "pleural_effusion": ["No pleural effusion.", "There is no pleural effusion.",
                         "No pleural effusions."],
    "consolidation": ["No focal consolidation.", "No focal airspace disease.",
                      "No airspace consolidation."],
    "pneumothorax": ["No pneumothorax.", "There is no pneumothorax.",
                     "No visible pneumothorax."],
    "nodule": ["No suspicious pulmonary nodules.", "No nodules or masses."],
    "support_device": [],  # reports rarely say "no pacemaker"
}
_NORMAL_IMPRESSION = ["No acute cardiopulmonary abnormality.", "No active disease.",
                      "Normal chest XXXX.", "No acute cardiopulmonary disease.",
                      "Negative chest XXXX."]
_BONES = ["XXXX are intact.", "The osseous structures are intact.",
          "Visualized osseous structures of the thorax are without acute abnormality.",
          "No acute bony abnormality."]


def _fill(template: str, f: Optional[Finding]) -> str:
    if f is None:
        return template
    sz = "small" if f.size < 0.5 else "large"
    return template.format(side=f.side, Side=f.side.capitalize(), zone=f.zone, sz=sz,
                           Sz=sz.capitalize())


def write_report(findings: Sequence[Finding], rng: np.random.Generator) -> Tuple[str, str]:
    """(findings text, impression text) stating the findings and negating others."""
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    present = {f.name for f in findings}
    if not findings:
        impression = pick(_NORMAL_IMPRESSION)
    else:
        impression = " ".join(_fill(pick(_IMPRESSION[f.name]), f) for f in findings[:2])
    body = [_fill(pick(_POSITIVE[f.name]), f) for f in findings]
    absent = [n for n in FINDINGS if n not in present and _NEGATIVE[n]]
    keep = rng.permutation(len(absent))[: int(rng.integers(2, len(absent) + 1))]
    negatives = [pick(_NEGATIVE[absent[i]]) for i in sorted(keep)]
    findings_text = body + negatives
    if len(findings_text) < 6 and rng.random() < 0.6:
        findings_text.append(pick(_BONES))
    return " ".join(findings_text[:7]), impression


# --------------------------------------------------------------------------------------------
# Mentions: which demo findings a (generated) report asserts.
# --------------------------------------------------------------------------------------------
_MENTION = {
    "cardiomegaly": re.compile(r"cardiomegaly|(heart|cardiac silhouette) is enlarged|enlarged heart"),
    "pleural_effusion": re.compile(r"effusion|costophrenic"),
    "consolidation": re.compile(r"consolidation|pneumonia"),
    "pneumothorax": re.compile(r"pneumothorax"),
    "nodule": re.compile(r"nodule"),
    "support_device": re.compile(r"pacemaker"),
}
_NEGATION = re.compile(r"\b(no|without|negative for|not)\b")


def findings_mentioned(sentences: Sequence[str]) -> Dict[str, int]:
    """1 for each demo finding a report asserts positively, 0 otherwise.

    A mention counts when no negation cue precedes it in its sentence ("no pleural
    effusion" is negative, "cardiomegaly without effusion" asserts cardiomegaly only).
    """
    out = {n: 0 for n in FINDINGS}
    for sentence in sentences:
        s = sentence.lower()
        for name, pattern in _MENTION.items():
            for m in pattern.finditer(s):
                if not _NEGATION.search(s[: m.start()]):
                    out[name] = 1
    return out


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------
def generate(raw_dir: str = DEFAULT_RAW_DIR, num_studies: int = DEFAULT_NUM_STUDIES, seed: int = 0,
             image_size: int = DEFAULT_IMAGE_SIZE, quiet: bool = False) -> str:
    """Writes the demo in the Kaggle raw layout under ``raw_dir`` and returns it.

    Deterministic in (num_studies, seed, image_size). Written to ``raw_dir.partial`` and
    renamed at the end, so an interrupted run never leaves a layout that looks complete.
    """
    if num_studies < 1:
        raise ValueError(f"--num_studies must be at least 1, got {num_studies}")
    tmp = raw_dir.rstrip("/") + ".partial"
    fileio.rmtree(tmp, ignore_errors=True)
    fileio.makedirs(os.path.join(tmp, "images"))
    reports, projections, labels = [], [], []
    for uid in progress(range(1, num_studies + 1), desc="demo studies", disable=quiet):
        rng = np.random.default_rng([seed, uid])
        findings = sample_findings(rng)
        frontal = render_frontal(findings, image_size, rng)
        lateral = render_lateral(findings, image_size, rng)
        for img, suffix, proj in ((frontal, 1001, "Frontal"), (lateral, 2001, "Lateral")):
            name = f"{uid}_IM-{uid:04d}-{suffix}.dcm.png"
            with fileio.open(os.path.join(tmp, "images", name), "wb") as f:  # local or a URL
                Image.fromarray(img, mode="L").save(f, format="PNG", compress_level=1)
            projections.append({"uid": uid, "filename": name, "projection": proj})
        findings_text, impression = write_report(findings, rng)
        mesh = ";".join(_fill(MESH_OF[f.name], f) for f in findings) or "normal"
        problems = ";".join(CHEXPERT_OF[f.name] for f in findings) or "normal"
        reports.append({
            "uid": uid, "MeSH": mesh, "Problems": problems, "image": "Xray Chest PA and Lateral",
            "indication": "XXXX-year-old with " + str(rng.choice(["chest pain", "cough", "dyspnea"])),
            "comparison": str(rng.choice(["None.", "XXXX", "Chest radiographs XXXX."])),
            "findings": findings_text, "impression": impression,
        })
        labels.append(_label_row(uid, findings))
    _write_csv(os.path.join(tmp, "indiana_reports.csv"), REPORT_COLUMNS, reports)
    _write_csv(os.path.join(tmp, "indiana_projections.csv"), PROJECTION_COLUMNS, projections)
    _write_csv(os.path.join(tmp, "labels.csv"), LABEL_COLUMNS, labels)
    if fileio.exists(raw_dir):
        fileio.rmtree(raw_dir)
    fileio.makedirs(os.path.dirname(fileio.abspath(raw_dir)))
    fileio.replace(tmp, raw_dir)
    return raw_dir


LABEL_COLUMNS = ("uid", "findings") + tuple(CHEXPERT_OBSERVATIONS)


def study_regions(uid: int, seed: int = 0, image_size: int = DEFAULT_IMAGE_SIZE
                  ) -> Tuple[Dict[str, Tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Where a demo study's findings are drawn: ({finding: (frontal mask, lateral mask)},
    frontal image), replayed from the study's own random stream exactly as
    :func:`generate` drew it (the image lets a caller check it matches the raw PNG)."""
    rng = np.random.default_rng([seed, uid])
    findings = sample_findings(rng)
    frontal_regions: Dict[str, np.ndarray] = {}
    lateral_regions: Dict[str, np.ndarray] = {}
    frontal = render_frontal(findings, image_size, rng, frontal_regions)
    render_lateral(findings, image_size, rng, lateral_regions)
    empty = np.zeros((image_size, image_size), bool)
    return ({f.name: (frontal_regions.get(f.name, empty), lateral_regions.get(f.name, empty))
             for f in findings}, frontal)


def is_demo_raw(raw_dir: str) -> bool:
    """Whether ``raw_dir`` was written by :func:`generate` (its labels.csv has the demo's
    own header, with the drawn ``findings``)."""
    try:
        with fileio.open(os.path.join(raw_dir, "labels.csv"), newline="", encoding="utf-8") as f:
            return next(csv.reader(f), None) == list(LABEL_COLUMNS)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def _label_row(uid: int, findings: Sequence[Finding]) -> dict:
    """Ground truth: the demo findings, and the CheXpert observations they map to.

    The demo knows the truth exactly, so a modelled observation is 1 or 0; the
    observations the demo does not model are blank; No Finding is 1 or blank.
    """
    row = {"uid": uid, "findings": ";".join(f.name for f in findings)}
    present = {CHEXPERT_OF[f.name] for f in findings}
    for obs in CHEXPERT_OBSERVATIONS:
        if obs == "No Finding":
            row[obs] = "" if findings else 1
        elif obs in CHEXPERT_OF.values():
            row[obs] = int(obs in present)
        else:
            row[obs] = ""
    return row


def _write_csv(path: str, columns: Sequence[str], rows: Sequence[dict]) -> None:
    with fileio.open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        w.writerows(rows)


def read_labels(raw_dir: str) -> Dict[str, Dict[str, int]]:
    """study id (``CXR<uid>``) -> {demo finding: 0/1} from ``labels.csv``."""
    path = os.path.join(raw_dir, "labels.csv")
    out = {}
    with fileio.open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names = set(filter(None, row["findings"].split(";")))
            out["CXR" + row["uid"]] = {n: int(n in names) for n in FINDINGS}
    return out
