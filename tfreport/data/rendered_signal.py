"""How strongly the rendered images show each finding: a pixel classifier's test AUROC.

A linear probe (ridge regression on standardised, down-sampled pixels of both views) is
fitted on the training split and scored on the test split, per drawn observation. A finding
the probe reads well is there to be learned; one near 0.5 is too faint for pixels alone
(which a CNN may still find: the probe sees neither shape nor position invariance).
"""
from __future__ import annotations

import json
import os
from typing import Dict, List

import numpy as np
from PIL import Image

from tfreport.data.rendered import DRAWN, read_drawn
from tfreport.pretraining import auroc

PROBE_SIZE = 24  # pixels per side for each view
RIDGE = 10.0


def _study_images(raw_dir: str) -> Dict[str, List[str]]:
    """study id -> [frontal file, lateral file], picked as the ingest picks them."""
    from tfreport.data import iu_xray
    from tfreport.data.study import DropCounter
    path = os.path.join(raw_dir, "indiana_projections.csv")
    rows = iu_xray._read_csv(path, iu_xray.PROJECTION_COLUMNS)
    projections = iu_xray.read_projections(path, DropCounter(), rows)
    by_uid: Dict[str, List[str]] = {}
    for row in rows:
        by_uid.setdefault(row["uid"].strip(), []).append(row["filename"].strip())
    out = {}
    for uid, images in by_uid.items():
        frontal, lateral, _ = iu_xray.pick_views(images, projections)
        if frontal and lateral:
            out[iu_xray.study_id(uid)] = [frontal, lateral]
    return out


def _features(raw_dir: str, ids: List[str], files: Dict[str, List[str]], size: int) -> np.ndarray:
    out = np.zeros((len(ids), 2 * size * size), np.float32)
    for i, sid in enumerate(ids):
        pixels = [np.asarray(Image.open(os.path.join(raw_dir, "images", name)).convert("L")
                             .resize((size, size), Image.BILINEAR), np.float32).ravel()
                  for name in files[sid]]
        out[i] = np.concatenate(pixels) / 255.0
    return out


def pixel_probe(raw_dir: str, data_dir: str, size: int = PROBE_SIZE,
                ridge: float = RIDGE) -> Dict[str, dict]:
    """{observation: {auroc, train_positives, test_positives}} on ``data_dir``'s splits."""
    files = _study_images(raw_dir)
    drawn = read_drawn(raw_dir)
    split_ids = {}
    for split in ("train", "test"):
        with open(os.path.join(data_dir, f"{split}_split.json"), encoding="utf-8") as f:
            split_ids[split] = [i for i in json.load(f) if i in files and i in drawn]
    if not split_ids["train"] or not split_ids["test"]:
        raise ValueError(f"{data_dir}: no rendered studies of {raw_dir} in its train/test splits")
    x = {s: _features(raw_dir, ids, files, size) for s, ids in split_ids.items()}
    mean, std = x["train"].mean(0), x["train"].std(0) + 1e-6
    xs = {s: (v - mean) / std for s, v in x.items()}
    gram = xs["train"].T @ xs["train"] + ridge * len(xs["train"]) * np.eye(xs["train"].shape[1])
    out = {}
    for obs in DRAWN:
        y = {s: np.array([drawn[i][obs] for i in ids], np.float32) for s, ids in split_ids.items()}
        if y["train"].sum() < 2 or y["test"].sum() < 1:
            continue
        w = np.linalg.solve(gram, xs["train"].T @ (y["train"] - y["train"].mean()))
        out[obs] = {"auroc": auroc(xs["test"] @ w, y["test"] > 0.5),
                    "train_positives": int(y["train"].sum()),
                    "test_positives": int(y["test"].sum())}
    return out
