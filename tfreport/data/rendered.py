"""IU X-Ray rendered: the real IU X-Ray reports, each with two images drawn from its own findings.

Real IU X-Ray images cannot be had here, but the real reports can. This module pairs every
report of the Kaggle CSVs with a synthetic frontal and lateral view in which the findings
that report states are drawn, as tfreport's labeler reads them (a negated or uncertain
mention draws nothing), with their laterality, zone and severity taken from the sentence
that states them. A report with no positive finding draws none. The anatomy is jittered
(scale, position, lung and heart shape, rib spacing) and every image gets contrast jitter
and noise, so no fixed pixel gives a finding away.

The output is the Kaggle raw layout (the real CSVs, the rendered ``images/`` under the
projection file names, and ``labels.csv`` with what was drawn), so it goes through the same
ingest as real IU X-Ray and takes the same splits (legacy, R2Gen). docs/iu_xray_rendered.md
says what is drawn and how strong each finding's signal is.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from tfreport import labeler
from tfreport.data.drawing import blob, ellipse, finish, line, soft
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.progress import progress
from tfreport.text import split_sentences

# The observations the renderer can draw: every CheXpert observation but No Finding.
DRAWN = tuple(o for o in CHEXPERT_OBSERVATIONS if o != "No Finding")
DEFAULT_IMAGE_SIZE = 128
DEFAULT_RAW_DIR = os.path.join("data", "iu_xray_rendered", "raw")
RENDER_VERSION = 1  # bump when the drawing changes: a raw folder of another version is rebuilt


# --------------------------------------------------------------------------------------------
# What a report states: observation, side, zone, severity (and a device kind)
# --------------------------------------------------------------------------------------------
@dataclass
class Stated:
    observation: str
    side: str  # "right" | "left" | "both" (patient side; image side is mirrored)
    zone: str  # "upper" | "middle" | "lower"
    severity: float  # 0..1
    kind: str = ""  # Support Devices: pacemaker | sternotomy | line | clips; Lung Lesion: mass
    count: int = 1  # Lung Lesion: several nodules


_BOTH = re.compile(r"\b(bilateral\w*|both|bibasilar|bibasal|biapical|diffuse\w*)\b")
_RIGHT = re.compile(r"\bright\b")
_LEFT = re.compile(r"\b(left|lingul\w*)\b")
_UPPER = re.compile(r"\b(upper|apex|apices|apical\w*)\b")
_MIDDLE = re.compile(r"\b(middle|mid|lingul\w*|perihilar|hilar|hila|hilum)\b")
_LOWER = re.compile(r"\b(lower|base|bases|basilar|basal|costophrenic|retrocardiac|infrahilar)\b")
_MILD = re.compile(r"\b(trace|minimal|tiny|subtle|mild\w*|small|slight\w*|borderline|minor|"
                    r"faint|early)\b")
_MODERATE = re.compile(r"\b(moderate\w*)\b")
_SEVERE = re.compile(r"\b(large|severe\w*|marked\w*|extensive|massive|significant\w*|"
                      r"prominent|dense)\b")
_PLURAL = re.compile(r"\b(nodules|masses|lesions|multiple|several|numerous|scattered)\b")
# Observations that are never one-sided, and default zones where the text is silent.
_ALWAYS_BOTH = {"Edema", "Cardiomegaly", "Enlarged Cardiomediastinum"}
_DEFAULT_ZONE = {"Pleural Effusion": "lower", "Pneumothorax": "upper", "Atelectasis": "lower"}


def _device_kind(sentence: str) -> str:
    if re.search(r"pacemaker|pacer|defibrillator|\bicd\b|\bleads?\b", sentence):
        return "pacemaker"
    if re.search(r"sternotomy|sternal|\bwires?\b", sentence):
        return "sternotomy"
    if re.search(r"tube|line|catheter|picc|port", sentence):
        return "line"
    return "clips"


def stated_findings(text: str, rng: np.random.Generator) -> List[Stated]:
    """The findings ``text`` states positively, one per observation, with the attributes of
    the first sentence that states it; what the text leaves open is drawn at random."""
    out: Dict[str, Stated] = {}
    for sentence in split_sentences((text or "").lower()):
        labels = labeler.label_report(sentence)
        for obs in DRAWN:
            if labels[obs] != 1 or obs in out:
                continue
            if obs in _ALWAYS_BOTH or _BOTH.search(sentence) or (
                    _RIGHT.search(sentence) and _LEFT.search(sentence)):
                side = "both"
            elif _RIGHT.search(sentence):
                side = "right"
            elif _LEFT.search(sentence):
                side = "left"
            else:
                side = str(rng.choice(["right", "left"]))
            zone = ("upper" if _UPPER.search(sentence) else "middle" if _MIDDLE.search(sentence)
                    else "lower" if _LOWER.search(sentence)
                    else _DEFAULT_ZONE.get(obs) or str(rng.choice(["upper", "middle", "lower"])))
            if _SEVERE.search(sentence):
                severity = rng.uniform(0.75, 1.0)
            elif _MODERATE.search(sentence):
                severity = rng.uniform(0.45, 0.7)
            elif _MILD.search(sentence):
                severity = rng.uniform(0.15, 0.4)
            else:
                severity = rng.uniform(0.3, 0.8)
            kind = _device_kind(sentence) if obs == "Support Devices" else (
                "mass" if obs == "Lung Lesion" and re.search(r"\bmass", sentence) else "")
            count = (int(rng.integers(2, 5)) if obs == "Lung Lesion" and _PLURAL.search(sentence)
                     else 1)
            out[obs] = Stated(obs, side, zone, float(severity), kind, count)
    return [out[o] for o in DRAWN if o in out]


# --------------------------------------------------------------------------------------------
# Anatomy and findings
# --------------------------------------------------------------------------------------------
@dataclass
class Anatomy:
    """One patient's jittered geometry, shared by both views."""
    scale: float
    cx: float
    cy: float
    lung_w: float
    lung_h: float
    asym: float  # right lung height relative to the left
    heart_w: float
    heart_h: float
    heart_dx: float
    rib_gap: float
    rib_phase: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Anatomy":
        return cls(scale=rng.uniform(0.9, 1.1), cx=0.5 + rng.uniform(-0.05, 0.05),
                   cy=0.52 + rng.uniform(-0.05, 0.05), lung_w=rng.uniform(0.12, 0.16),
                   lung_h=rng.uniform(0.25, 0.31), asym=rng.uniform(0.93, 1.03),
                   heart_w=rng.uniform(0.11, 0.135), heart_h=rng.uniform(0.09, 0.11),
                   heart_dx=rng.uniform(0.02, 0.06), rib_gap=rng.uniform(0.08, 0.1),
                   rib_phase=rng.uniform(0, 2 * np.pi))

    def lungs(self) -> Dict[str, tuple]:
        """Frontal lung fields (cx, cy, rx, ry): the patient's right is on the image left."""
        s = self.scale
        return {"right": (self.cx - 0.17 * s, self.cy - 0.04 * s, self.lung_w * s,
                          self.lung_h * s * self.asym),
                "left": (self.cx + 0.17 * s, self.cy - 0.04 * s, self.lung_w * s,
                         self.lung_h * s)}


_ZONE_Y = {"upper": (0.1, 0.38), "middle": (0.38, 0.62), "lower": (0.62, 0.88)}


def _sides(f: Stated) -> List[str]:
    return ["right", "left"] if f.side == "both" else [f.side]


def _spot(box: tuple, zone: str, rng: np.random.Generator) -> tuple:
    """A random point inside a lung box, within the stated zone."""
    lx, ly, rx, ry = box
    lo, hi = _ZONE_Y[zone]
    return (lx - rx + 2 * rx * rng.uniform(0.25, 0.75), ly - ry + 2 * ry * rng.uniform(lo, hi))


def render_frontal(findings: Sequence[Stated], anatomy: Anatomy, size: int,
                   rng: np.random.Generator) -> np.ndarray:
    a, s = anatomy, anatomy.scale
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.full((size, size), 18.0, np.float32)
    img += 95 * soft(ellipse(xx, yy, a.cx, a.cy + 0.03, 0.42 * s, 0.47 * s), 0.15)  # body
    lungs = a.lungs()
    lung_mask = np.zeros_like(img)
    for lx, ly, rx, ry in lungs.values():
        lung_mask = np.maximum(lung_mask, soft(ellipse(xx, yy, lx, ly, rx, ry), 0.12))
    img -= 60 * lung_mask
    ribs = [a.cy - 0.25 * s + k * a.rib_gap * s for k in range(6)]
    for y0 in ribs:
        img += 10 * lung_mask * np.clip(
            1 - np.abs(yy - (y0 + 0.02 * np.sin(xx * 9 + a.rib_phase))) / 0.012, 0, 1)
    by = {f.observation: f for f in findings}
    mediastinum = 0.035 * s
    if "Enlarged Cardiomediastinum" in by:
        mediastinum *= 1.6 + 1.2 * by["Enlarged Cardiomediastinum"].severity
    img += 50 * soft(ellipse(xx, yy, a.cx, a.cy, mediastinum, 0.5 * s), 0.3)
    heart_w = a.heart_w * s
    if "Cardiomegaly" in by:
        heart_w *= 1.3 + 0.45 * by["Cardiomegaly"].severity
    img += 70 * soft(ellipse(xx, yy, a.cx + a.heart_dx * s, a.cy + 0.16 * s, heart_w,
                              a.heart_h * s), 0.25)
    for f in findings:
        sev = f.severity
        for side in _sides(f):
            lx, ly, rx, ry = lungs[side]
            inside = soft(ellipse(xx, yy, lx, ly, rx * 1.02, ry * 1.02), 0.1)
            if f.observation == "Pleural Effusion":
                level = ly + ry * (0.6 - 0.75 * sev)
                meniscus = level - 0.05 * np.abs(xx - lx) / rx
                img += 75 * (yy > meniscus) * inside
            elif f.observation == "Pneumothorax":
                edge = lx + (-1 if side == "right" else 1) * rx * (0.3 + 0.4 * (1 - sev))
                outside = (xx < edge) if side == "right" else (xx > edge)
                img -= 30 * outside * inside * (yy < ly + 0.3 * ry)
                img = line(img, xx, yy, (edge, ly - 0.9 * ry), (edge, ly + 0.3 * ry), 0.006, 60)
            elif f.observation == "Consolidation":
                px, py = _spot(lungs[side], f.zone, rng)
                img = blob(img, xx, yy, px, py, (0.04 + 0.04 * sev) * s, 85, rng)
            elif f.observation == "Pneumonia":
                px, py = _spot(lungs[side], f.zone, rng)
                img = blob(img, xx, yy, px, py, (0.045 + 0.035 * sev) * s, 60, rng, lobes=5)
            elif f.observation == "Lung Opacity":
                px, py = _spot(lungs[side], f.zone, rng)
                img = blob(img, xx, yy, px, py, (0.05 + 0.04 * sev) * s, 38, rng, lobes=4)
            elif f.observation == "Lung Lesion":
                for _ in range(f.count):
                    px, py = _spot(lungs[side], f.zone, rng)
                    r = ((0.035 + 0.03 * sev) if f.kind == "mass" else (0.014 + 0.014 * sev)) * s
                    img += 110 * soft(ellipse(xx, yy, px, py, r, r), 0.5)
            elif f.observation == "Atelectasis":  # a plate-like band, tilted
                px, py = _spot(lungs[side], f.zone, rng)
                half = (0.05 + 0.05 * sev) * s
                tilt = rng.uniform(-0.3, 0.3) * half
                img = line(img, xx, yy, (px - half, py - tilt), (px + half, py + tilt),
                           (0.008 + 0.008 * sev) * s, 55)
            elif f.observation == "Edema":  # perihilar haze and septal lines
                hx = lx + (0.5 if side == "right" else -0.5) * rx
                img += (25 + 30 * sev) * soft(ellipse(xx, yy, hx, ly, rx * 0.7, ry * 0.45), 0.9)
                for k in range(3):
                    y0 = ly + ry * (0.45 + 0.12 * k)
                    x0 = lx - rx if side == "right" else lx + rx
                    x1 = x0 + (0.05 if side == "right" else -0.05) * s
                    img = line(img, xx, yy, (x0, y0), (x1, y0), 0.004, 40)
            elif f.observation == "Pleural Other":  # thickening along the lateral wall
                wall = lx - rx if side == "right" else lx + rx
                band = np.abs(xx - wall) < (0.008 + 0.012 * sev) * s
                img += 55 * band * soft(ellipse(xx, yy, lx, ly, rx * 1.15, ry), 0.2)
            elif f.observation == "Fracture":  # a bright rib with a step in it
                y0 = ribs[int(rng.integers(1, 5))]
                x_mid = lx + rng.uniform(-0.5, 0.5) * rx
                gap = 0.01 * s
                img = line(img, xx, yy, (x_mid - 0.07 * s, y0), (x_mid - gap, y0), 0.007, 70)
                img = line(img, xx, yy, (x_mid + gap, y0 + 0.015 * s),
                           (x_mid + 0.07 * s, y0 + 0.015 * s), 0.007, 70)
        if f.observation == "Support Devices":
            img = _device_frontal(img, xx, yy, f, a, rng)
    return finish(img, rng)


def _device_frontal(img, xx, yy, f: Stated, a: Anatomy, rng) -> np.ndarray:
    s, cx, cy = a.scale, a.cx, a.cy
    if f.kind == "pacemaker":
        dx = cx + (0.28 if f.side != "right" else -0.28) * s
        dy = cy - 0.32 * s
        img += 160 * ((np.abs(xx - dx) < 0.035 * s) & (np.abs(yy - dy) < 0.022 * s))
        return line(img, xx, yy, (dx, dy), (cx + 0.05 * s, cy + 0.14 * s), 0.005, 120)
    if f.kind == "sternotomy":  # a column of wire loops over the sternum
        for k in range(int(rng.integers(4, 7))):
            y0 = cy - 0.22 * s + k * 0.07 * s
            ring = np.abs(np.sqrt(ellipse(xx, yy, cx, y0, 0.018 * s, 0.01 * s)) - 1.0) < 0.35
            img += 130 * ring
        return img
    if f.kind == "line":  # a catheter from the shoulder towards the heart
        x0 = cx + (-0.3 if f.side == "right" else 0.3) * s
        img = line(img, xx, yy, (x0, cy - 0.36 * s), (cx - 0.02 * s, cy - 0.2 * s), 0.004, 110)
        return line(img, xx, yy, (cx - 0.02 * s, cy - 0.2 * s), (cx, cy + 0.05 * s), 0.004, 110)
    for _ in range(int(rng.integers(2, 5))):  # surgical clips
        px, py = cx + rng.uniform(-0.2, 0.2) * s, cy + rng.uniform(-0.25, 0.1) * s
        img += 150 * ((np.abs(xx - px) < 0.012 * s) & (np.abs(yy - py) < 0.004 * s))
    return img


def render_lateral(findings: Sequence[Stated], anatomy: Anatomy, size: int,
                   rng: np.random.Generator) -> np.ndarray:
    a, s = anatomy, anatomy.scale
    cx, cy = a.cx, a.cy
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.full((size, size), 18.0, np.float32)
    img += 95 * soft(ellipse(xx, yy, cx, cy + 0.03, 0.36 * s, 0.47 * s), 0.15)
    lx, ly, rx, ry = cx, cy - 0.04 * s, 0.26 * s * (a.lung_w / 0.14), a.lung_h * s * 1.05
    lung = soft(ellipse(xx, yy, lx, ly, rx, ry), 0.12)
    img -= 50 * lung
    img += 60 * soft(ellipse(xx, yy, cx + 0.3 * s, cy, 0.04 * s, 0.5 * s), 0.3)  # spine
    by = {f.observation: f for f in findings}
    heart_r = a.heart_w * 1.5 * s
    if "Cardiomegaly" in by:
        heart_r *= 1.3 + 0.4 * by["Cardiomegaly"].severity
    img += 60 * soft(ellipse(xx, yy, cx - 0.12 * s, cy + 0.14 * s, heart_r, 0.12 * s), 0.25)
    if "Enlarged Cardiomediastinum" in by:
        sev = by["Enlarged Cardiomediastinum"].severity
        img += 45 * soft(ellipse(xx, yy, cx - 0.02 * s, cy - 0.18 * s, (0.06 + 0.05 * sev) * s,
                                  0.12 * s), 0.4)
    box = (lx, ly, rx, ry)
    for f in findings:
        sev, sides = f.severity, len(_sides(f))
        if f.observation == "Pleural Effusion":
            level = ly + ry * (0.65 - 0.6 * sev)
            img += (55 + 15 * (sides - 1)) * (yy > level + 0.06 * (xx - lx)) * lung
        elif f.observation == "Pneumothorax":
            img = line(img, xx, yy, (lx - 0.6 * rx, ly - 0.85 * ry), (lx + 0.6 * rx, ly - 0.6 * ry),
                       0.006, 55)
            img -= 25 * (yy < ly - 0.6 * ry) * lung
        elif f.observation in ("Consolidation", "Pneumonia", "Lung Opacity"):
            value = {"Consolidation": 75, "Pneumonia": 55, "Lung Opacity": 35}[f.observation]
            for _ in range(sides):
                px, py = _spot(box, f.zone, rng)
                img = blob(img, xx, yy, px, py, (0.045 + 0.04 * sev) * s, value, rng)
        elif f.observation == "Lung Lesion":
            for _ in range(f.count * sides):
                px, py = _spot(box, f.zone, rng)
                r = ((0.033 + 0.03 * sev) if f.kind == "mass" else (0.013 + 0.013 * sev)) * s
                img += 100 * soft(ellipse(xx, yy, px, py, r, r), 0.5)
        elif f.observation == "Atelectasis":
            px, py = _spot(box, f.zone, rng)
            half = (0.06 + 0.05 * sev) * s
            img = line(img, xx, yy, (px - half, py + 0.3 * half), (px + half, py - 0.3 * half),
                       (0.008 + 0.008 * sev) * s, 50)
        elif f.observation == "Edema":
            img += (20 + 25 * sev) * soft(ellipse(xx, yy, lx - 0.05 * s, ly + 0.05 * s, rx * 0.6,
                                                   ry * 0.5), 0.9)
        elif f.observation == "Pleural Other":
            band = np.abs(yy - (ly + ry * 0.85)) < (0.01 + 0.01 * sev) * s
            img += 45 * band * lung
        elif f.observation == "Fracture":
            x_mid = lx + rng.uniform(-0.4, 0.4) * rx
            y0 = ly + rng.uniform(-0.5, 0.3) * ry
            img = line(img, xx, yy, (x_mid - 0.06 * s, y0), (x_mid - 0.01 * s, y0), 0.007, 60)
            img = line(img, xx, yy, (x_mid + 0.01 * s, y0 + 0.014 * s),
                       (x_mid + 0.06 * s, y0 + 0.014 * s), 0.007, 60)
        elif f.observation == "Support Devices":
            if f.kind == "pacemaker":
                dx, dy = cx - 0.25 * s, cy - 0.3 * s
                img += 160 * ((np.abs(xx - dx) < 0.02 * s) & (np.abs(yy - dy) < 0.03 * s))
                img = line(img, xx, yy, (dx, dy), (cx - 0.1 * s, cy + 0.12 * s), 0.005, 110)
            elif f.kind == "sternotomy":
                for k in range(5):
                    y0 = cy - 0.22 * s + k * 0.07 * s
                    img += 120 * soft(ellipse(xx, yy, cx - 0.3 * s, y0, 0.01 * s, 0.008 * s), 0.5)
            elif f.kind == "line":
                img = line(img, xx, yy, (cx - 0.05 * s, cy - 0.4 * s), (cx - 0.08 * s, cy + 0.02 * s),
                           0.004, 100)
            else:
                px, py = cx + rng.uniform(-0.2, 0.1) * s, cy + rng.uniform(-0.2, 0.1) * s
                img += 140 * ((np.abs(xx - px) < 0.012 * s) & (np.abs(yy - py) < 0.004 * s))
    return finish(img, rng)


# --------------------------------------------------------------------------------------------
# The raw layout
# --------------------------------------------------------------------------------------------
LABEL_COLUMNS = ("uid", "drawn") + tuple(CHEXPERT_OBSERVATIONS)


def find_reports_dir(source: str) -> str:
    """The folder holding ``indiana_reports.csv``: ``source`` itself or its ``iu_xray/``
    (``../shared/data`` works as it is)."""
    for d in (source, os.path.join(source, "iu_xray")):
        if os.path.exists(os.path.join(d, "indiana_reports.csv")) and os.path.exists(
                os.path.join(d, "indiana_projections.csv")):
            return d
    raise FileNotFoundError(
        f"{source}: no indiana_reports.csv and indiana_projections.csv here or in "
        f"{os.path.join(source, 'iu_xray')} (pass the folder with the real IU X-Ray report CSVs, "
        "e.g. ../shared/data)")


def _fingerprint(paths: Sequence[str], seed: int, image_size: int) -> str:
    h = hashlib.sha256(f"v{RENDER_VERSION} seed{seed} size{image_size}".encode())
    for p in paths:
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def render(source: str, raw_dir: str = DEFAULT_RAW_DIR, seed: int = 0,
           image_size: int = DEFAULT_IMAGE_SIZE, quiet: bool = False) -> str:
    """Writes the rendered Kaggle layout under ``raw_dir`` (unless an identical one is there)
    and returns it. Deterministic in (the CSVs, seed, image size).

    Built in ``raw_dir.partial`` and renamed at the end, so an interrupted render never
    leaves a layout that looks complete."""
    from tfreport.data.iu_xray import PROJECTION_COLUMNS, REPORT_COLUMNS, _read_csv
    src = find_reports_dir(source)
    csvs = [os.path.join(src, n) for n in ("indiana_reports.csv", "indiana_projections.csv")]
    key = _fingerprint(csvs, seed, image_size)
    info_path = os.path.join(raw_dir, "render_info.json")
    if os.path.exists(info_path):
        with open(info_path, encoding="utf-8") as f:
            if json.load(f).get("fingerprint") == key:
                return raw_dir
    reports = _read_csv(csvs[0], REPORT_COLUMNS)
    projections = _read_csv(csvs[1], PROJECTION_COLUMNS)
    by_uid: Dict[str, List[dict]] = {}
    for row in projections:
        by_uid.setdefault(row["uid"].strip(), []).append(row)
    tmp = raw_dir.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "images"))
    labels, counts = [], {o: 0 for o in DRAWN}
    for row in progress(reports, desc="rendering studies", disable=quiet):
        uid = (row["uid"] or "").strip()
        if not uid.isdigit():
            continue  # the ingest names and counts such rows
        rng = np.random.default_rng([seed, int(uid)])
        text = " ".join(t for t in (row.get("impression") or "", row.get("findings") or "") if t)
        findings = stated_findings(text, rng)
        anatomy = Anatomy.sample(rng)
        for image in by_uid.get(uid, []):
            lateral = image["projection"].strip().lower() == "lateral"
            draw = render_lateral if lateral else render_frontal
            pixels = draw(findings, anatomy, image_size, rng)
            Image.fromarray(pixels, mode="L").save(
                os.path.join(tmp, "images", image["filename"].strip()), compress_level=1)
        labels.append(_label_row(uid, findings))
        for f in findings:
            counts[f.observation] += 1
    for name, path in zip(("indiana_reports.csv", "indiana_projections.csv"), csvs):
        shutil.copyfile(path, os.path.join(tmp, name))
    with open(os.path.join(tmp, "labels.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(LABEL_COLUMNS))
        w.writeheader()
        w.writerows(labels)
    with open(os.path.join(tmp, "render_info.json"), "w", encoding="utf-8") as f:
        json.dump({"fingerprint": key, "source": os.path.abspath(src), "seed": seed,
                   "image_size": image_size, "version": RENDER_VERSION,
                   "studies": len(labels), "drawn": counts}, f, indent=1)
    if os.path.exists(raw_dir):
        shutil.rmtree(raw_dir)
    os.makedirs(os.path.dirname(os.path.abspath(raw_dir)), exist_ok=True)
    os.replace(tmp, raw_dir)
    return raw_dir


def _label_row(uid: str, findings: Sequence[Stated]) -> dict:
    """What was drawn: 1 for a drawn observation, 0 for the others; No Finding 1 or blank."""
    drawn = {f.observation for f in findings}
    row = {"uid": uid, "drawn": ";".join(f.observation for f in findings)}
    for obs in CHEXPERT_OBSERVATIONS:
        row[obs] = ("" if drawn else 1) if obs == "No Finding" else int(obs in drawn)
    return row


def read_drawn(raw_dir: str) -> Dict[str, Dict[str, int]]:
    """study id (``CXR<uid>``) -> {observation: 0/1 drawn} from ``labels.csv``."""
    out = {}
    with open(os.path.join(raw_dir, "labels.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out["CXR" + row["uid"]] = {o: int(row[o] == "1") for o in DRAWN}
    return out


def shared_split_files(source: str) -> Dict[str, Optional[str]]:
    """Where the split files lie beside the report CSVs: R2Gen's annotation.json and the
    legacy lists (``iu_xray_legacy/``), as ``../shared/data`` holds them."""
    src = find_reports_dir(source)
    parent = os.path.dirname(os.path.abspath(src))
    annotation = os.path.join(src, "annotation.json")
    legacy = next((d for d in (os.path.join(parent, "iu_xray_legacy"),
                               os.path.join(source, "iu_xray_legacy"), src)
                   if os.path.exists(os.path.join(d, "train_split.json"))), None)
    return {"r2gen_annotation": annotation if os.path.exists(annotation) else None,
            "legacy_splits": legacy}
