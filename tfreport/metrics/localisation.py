"""Do the heatmaps point at the finding? The demo draws each finding at a known place.

For every generated sentence that states a demo finding the study truly has, the sentence's
map (soft attention, or Grad-CAM: ``attention_maps.study_maps``) is laid over both views and
its mass inside the finding's drawn pixels is taken, against the region's share of the
visible area (what a uniform map puts there). Lift = mean mass / mean share: 1 is chance,
above 1 the map concentrates on the finding. 95% intervals resample the studies. The ceiling
is the lift of the best map the grid allows (all mass on the cell the region fills most).
"""
from __future__ import annotations

import io
import json
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfreport import fileio

ALL = "all findings"


def cell_fractions(mask: np.ndarray, side: int) -> np.ndarray:
    """[H, W] bool -> [side, side]: the share of each grid cell's pixels inside the mask."""
    from PIL import Image
    img = Image.fromarray(mask.astype(np.float32), mode="F")
    return np.asarray(img.resize((side, side), Image.BOX), np.float64)


def sentence_hit(entry: Dict, frontal: np.ndarray, lateral: np.ndarray) -> tuple:
    """(mass in the region, region's share of the visible cells) for one sentence's maps."""
    side = entry["frontal"].shape[0]
    views = [(entry["frontal"], frontal)]
    if entry["lateral"] is not None:
        views.append((entry["lateral"], lateral))
    mass = sum(float((w * cell_fractions(m, side)).sum()) for w, m in views)
    share = float(np.mean([cell_fractions(m, side).mean() for _, m in views]))
    return mass, share


def best_mass(entry: Dict, frontal: np.ndarray, lateral: np.ndarray) -> float:
    """The most any map over these grids could put in the region: all of it on the visible
    cell the region fills most. Its lift is the ceiling the grid allows (a region smaller
    than a cell can never be hit squarely)."""
    side = entry["frontal"].shape[0]
    views = [frontal] + ([lateral] if entry["lateral"] is not None else [])
    return max(float(cell_fractions(m, side).max()) for m in views)


def _lift(mass: np.ndarray, share: np.ndarray, studies: np.ndarray, resamples: int,
          seed: int, best: Optional[np.ndarray] = None) -> Dict:
    out = {"sentences": int(len(mass)), "studies": int(len(np.unique(studies))),
           "mass": float(mass.mean()), "share": float(share.mean()),
           "lift": float(mass.mean() / max(share.mean(), 1e-12))}
    if best is not None:
        out["ceiling"] = float(best.mean() / max(share.mean(), 1e-12))
    rng = np.random.default_rng(seed)
    ids = np.unique(studies)
    rows = {s: np.flatnonzero(studies == s) for s in ids}
    lifts = []
    for _ in range(resamples):
        pick = np.concatenate([rows[s] for s in rng.choice(ids, len(ids))])
        lifts.append(mass[pick].mean() / max(share[pick].mean(), 1e-12))
    out["lift_ci"] = ([float(np.percentile(lifts, 2.5)), float(np.percentile(lifts, 97.5))]
                      if lifts else [out["lift"], out["lift"]])
    return out


def localise(model_dir: str, raw_dir: str, split: str = "test", seed: int = 0,
             resamples: int = 1000, data_dir: Optional[str] = None,
             quiet: bool = False) -> Dict:
    """Per demo finding (and all together): sentences, mean mass, mean share, lift [CI], for
    the decoded model folder ``model_dir`` (its ``predictions_<split>.json``) on the demo
    whose raw folder is ``raw_dir`` (generated with ``seed``)."""
    from PIL import Image
    from tfreport.attention_maps import study_maps
    from tfreport.data import demo, pipeline
    from tfreport.inference import load_model
    from tfreport.progress import progress
    from tfreport.text import split_sentences
    from tfreport.vocab import Vocabulary

    if not demo.is_demo_raw(raw_dir):
        raise ValueError(f"{raw_dir}: not a demo raw folder (no demo labels.csv); the "
                         "localisation check needs the demo, whose findings are drawn at "
                         "known places")
    pred_path = os.path.join(model_dir, f"predictions_{split}.json")
    if not fileio.exists(pred_path):
        raise FileNotFoundError(f"{pred_path}: not found; decode the split first "
                                f"(python scripts/evaluate.py --model_dir {model_dir})")
    with fileio.open(pred_path, encoding="utf-8") as f:
        predictions = json.load(f)
    with fileio.open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    data_dir = data_dir or config["data_dir"]
    truth = demo.read_labels(raw_dir)
    model = load_model(os.path.join(model_dir, "best.keras"))
    vocab = Vocabulary.load(os.path.join(model_dir, "vocabulary.json"))
    mc = config["model_config"]
    ds = pipeline.dataset(data_dir, split, batch_size=16, image_size=mc["image_size"],
                          max_sentences=mc["max_sentences"], max_words=mc["max_words"])
    size, checked = None, False
    records: List[tuple] = []  # (finding, mass, share, study index, best possible mass)
    kind = None
    for batch in progress(ds, desc="localisation", disable=quiet, unit="batch"):
        ids = [s.decode() for s in batch["id"].numpy()]
        sentences = [[s.strip(" .") for s in split_sentences(predictions.get(i, ""))]
                     for i in ids]
        sentences = [[s for s in r if s] for r in sentences]
        inputs = {k: np.asarray(batch[k]) for k in ("frontal", "lateral", "lateral_present")}
        maps, kind = study_maps(model, inputs, sentences, vocab)
        for i, sid, study in zip(range(len(ids)), ids, maps):
            present = [f for f, v in truth.get(sid, {}).items() if v]
            if not present:
                continue
            uid = int(sid.replace("CXR", ""))
            if size is None:
                frontal_png = os.path.join(raw_dir, "images", f"{uid}_IM-{uid:04d}-1001.dcm.png")
                size = Image.open(io.BytesIO(fileio.read_bytes(frontal_png))).size[0]
            regions, frontal = demo.study_regions(uid, seed, size)
            if not checked:  # the replay must draw what the raw folder holds
                raw = np.asarray(Image.open(io.BytesIO(fileio.read_bytes(frontal_png))))
                if not np.array_equal(raw, frontal):
                    raise ValueError(f"{raw_dir}: its images were not drawn with seed {seed}; "
                                     "pass the seed the demo was generated with")
                checked = True
            for entry in study:
                stated = demo.findings_mentioned([entry["sentence"]])
                for f in present:
                    if stated[f] and f in regions:
                        mass, share = sentence_hit(entry, *regions[f])
                        records.append((f, mass, share, uid, best_mass(entry, *regions[f])))
    if not records:
        raise ValueError(f"{pred_path}: no generated sentence states a finding its study has, "
                         "so there is nothing to localise")
    names = np.array([r[0] for r in records])
    mass = np.array([r[1] for r in records])
    share = np.array([r[2] for r in records])
    studies = np.array([r[3] for r in records])
    best = np.array([r[4] for r in records])
    out = {"model": config.get("model"), "map_kind": kind, "split": split, "findings": {}}
    for f in list(demo.FINDINGS) + [ALL]:
        keep = names == f if f != ALL else np.ones(len(names), bool)
        if keep.any():
            out["findings"][f] = _lift(mass[keep], share[keep], studies[keep], resamples, seed,
                                       best[keep])
    return out


def markdown(results: Dict[str, Dict]) -> str:
    """One table: a row per (run, finding)."""
    lines = ["| run | map | finding | sentences | studies | mass in region | region share "
             "| lift [95% CI] | ceiling |", "|---|---|---|---|---|---|---|---|---|"]
    for run, r in results.items():
        for f, v in r["findings"].items():
            lo, hi = v["lift_ci"]
            ceiling = f"{v['ceiling']:.2f}" if "ceiling" in v else ""
            lines.append(f"| {run} | {r['map_kind']} | {f} | {v['sentences']} | {v['studies']} "
                         f"| {v['mass']:.3f} | {v['share']:.3f} | {v['lift']:.2f} "
                         f"[{lo:.2f}, {hi:.2f}] | {ceiling} |")
    return "\n".join(lines)


def seed_summary(results: Sequence[Dict]) -> Dict[str, Dict]:
    """Mean ± sd over seeds of each finding's lift (runs of one model, several seeds)."""
    out = {}
    for f in list(results[0]["findings"]):
        lifts = [r["findings"][f]["lift"] for r in results if f in r["findings"]]
        out[f] = {"mean": float(np.mean(lifts)), "sd": float(np.std(lifts, ddof=1))
                  if len(lifts) > 1 else 0.0, "seeds": len(lifts)}
    return out


def seeds_markdown(groups: Dict[str, Sequence[Dict]]) -> str:
    """One row per (model, finding): the lift's mean ± sd over the model's seeds."""
    lines = ["| model | map | finding | seeds | sentences (total) | lift mean ± sd | per seed "
             "| ceiling (mean) |", "|---|---|---|---|---|---|---|---|"]
    for name, runs in groups.items():
        summary = seed_summary(runs)
        for f, v in summary.items():
            per = [r["findings"][f] for r in runs if f in r["findings"]]
            lifts = ", ".join(f"{x['lift']:.2f}" for x in per)
            ceilings = [x["ceiling"] for x in per if "ceiling" in x]
            ceiling = f"{np.mean(ceilings):.2f}" if ceilings else ""
            lines.append(f"| {name} | {runs[0]['map_kind']} | {f} | {v['seeds']} "
                         f"| {sum(x['sentences'] for x in per)} | {v['mean']:.2f} ± {v['sd']:.2f} "
                         f"| {lifts} | {ceiling} |")
    return "\n".join(lines)
