"""A static review page of generated reports: one folder that opens from the file system.

Per study: both views, the generated and the reference report side by side, the labeler's
findings of each (agreements and disagreements marked), per-report scores, and each
sentence's heatmaps on demand (soft attention, or Grad-CAM for the other models). Filters: normal or
abnormal, a finding the two reports disagree on, the model (several runs); sort by any
per-report score. Built from model folders that ``evaluate.py`` (or the benchmark) has
decoded: their ``predictions_<split>.json`` is read, not decoded again.

    out/index.html          the page (inline CSS and script; no network)
    out/images/<id>_{frontal,lateral}.png
    out/attention/<run>/<id>/sentence_NN.png
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from tfreport import fileio
from tfreport.labels import CHEXPERT_OBSERVATIONS

SCORES = ("BLEU-4", "ROUGE-L", "CIDEr", "CE-F1", "words")  # per report, sortable
CREDENTIALED = ("mimic_cxr",)  # datasets whose text must not leave its licence holders


@dataclass
class Run:
    """One model's reports on a split, with what the page shows of each study."""
    name: str
    studies: List[Dict] = field(default_factory=list)
    dataset: str = ""  # the prepared dataset's name (MIMIC-CXR text is credentialed)


def findings_f1(generated: Mapping[str, Optional[int]], reference: Mapping[str, Optional[int]],
                observations: Sequence[str] = CHEXPERT_OBSERVATIONS[1:]) -> float:
    """F1 of one report's positive findings against its reference's (1.0 when neither
    states any): the per-report view of CE-F1."""
    gen = {o for o in observations if generated.get(o) == 1}
    ref = {o for o in observations if reference.get(o) == 1}
    if not gen and not ref:
        return 1.0
    return 2 * len(gen & ref) / (len(gen) + len(ref))


def findings_rows(generated: Mapping[str, Optional[int]],
                  reference: Mapping[str, Optional[int]]) -> List[Dict]:
    """The observations either report mentions: {"observation", "generated", "reference",
    "state"}, state one of agree (both positive), agree-negative, missed (reference positive
    only) or extra (generated positive only)."""
    rows = []
    for o in CHEXPERT_OBSERVATIONS[1:]:
        g, r = generated.get(o), reference.get(o)
        if g is None and r is None:
            continue
        if (g == 1) == (r == 1):
            state = "agree" if g == 1 else "agree-negative"
        else:
            state = "missed" if r == 1 else "extra"
        rows.append({"observation": o, "generated": g, "reference": r, "state": state})
    return rows


def disagreements(rows: Sequence[Dict]) -> List[str]:
    return [r["observation"] for r in rows if r["state"] in ("missed", "extra")]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "run"


def _save_png(path: str, image: np.ndarray) -> None:
    from PIL import Image
    if fileio.exists(path):
        return
    img = np.clip(np.asarray(image, np.float32).squeeze(), 0, 255).astype(np.uint8)
    tmp = path + ".tmp"
    with fileio.open(tmp, "wb") as f:  # local or a URL
        Image.fromarray(img).save(f, format="PNG")
    fileio.replace(tmp, path)


def collect(model_dir: str, out_dir: str, split: str = "test", name: Optional[str] = None,
            data_dir: Optional[str] = None, checkpoint: str = "best.keras",
            limit: Optional[int] = None, heatmaps: bool = True, quiet: bool = False) -> Run:
    """Reads a decoded model folder (``predictions_<split>.json``) and writes what the page
    needs of each study into ``out_dir``: the views' PNGs and each sentence's heatmaps (soft
    attention where the model has it, else Grad-CAM: ``attention_maps.study_maps``).
    ``limit`` keeps the first studies of the split."""
    from tfreport import labeler
    from tfreport.data import pipeline
    from tfreport.data.prepared import PreparedDataset
    from tfreport.metrics import nlg
    from tfreport.progress import progress
    from tfreport.text import split_sentences

    pred_path = os.path.join(model_dir, f"predictions_{split}.json")
    if not fileio.exists(pred_path):
        raise FileNotFoundError(f"{pred_path}: not found; decode the {split} split first "
                                f"(python scripts/evaluate.py --model_dir {model_dir} "
                                f"--split {split})")
    with fileio.open(pred_path, encoding="utf-8") as f:
        predictions: Dict[str, str] = json.load(f)
    if not predictions:
        raise ValueError(f"{pred_path}: holds no report")
    with fileio.open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    data = PreparedDataset(data_dir or config["data_dir"])
    name = name or os.path.basename(os.path.normpath(model_dir))
    refs = data.references(split)
    normal = data.normal(split)
    ids = [i for i in data.ids(split) if i in predictions][:limit]
    if not ids:
        raise ValueError(f"{pred_path}: none of its {len(predictions)} reports is a study of "
                         f"the {split} split of {data.path}")
    keep = set(ids)
    scores = nlg.per_report({i: predictions[i] for i in ids}, {i: refs[i] for i in ids})
    gen_labels = labeler.label_reports({i: predictions[i] for i in ids})
    ref_labels = labeler.label_reports({i: refs[i] for i in ids})

    from tfreport.attention_maps import study_maps, write_study
    from tfreport.inference import load_model
    from tfreport.vocab import Vocabulary
    model = load_model(os.path.join(model_dir, checkpoint))
    vocab = Vocabulary.load(os.path.join(model_dir, "vocabulary.json"))
    mc = config["model_config"]
    fileio.makedirs(os.path.join(out_dir, "images"))
    heat_dir = os.path.join(out_dir, "attention", _slug(name))
    ds = pipeline.dataset(data.path, split, batch_size=16, image_size=mc["image_size"],
                          max_sentences=mc["max_sentences"], max_words=mc["max_words"])
    run = Run(name)
    for batch in progress(ds, desc=f"review page: {name}", disable=quiet, unit="batch"):
        batch_ids = [s.decode() for s in batch["id"].numpy()]
        rows = [k for k, i in enumerate(batch_ids) if i in keep]
        if not rows:
            continue
        sentences = [[s.strip(" .") for s in split_sentences(predictions[batch_ids[k]])]
                     for k in rows]
        sub = {key: np.asarray(batch[key])[rows]
               for key in ("frontal", "lateral", "lateral_present")}
        maps, kind = (study_maps(model, sub, [[s for s in r if s] for r in sentences], vocab)
                      if heatmaps else (None, None))
        present = np.asarray(batch["lateral_present"])
        for j, k in enumerate(rows):
            sid = batch_ids[k]
            frontal = np.asarray(batch["frontal"][k])
            lateral = np.asarray(batch["lateral"][k]) if present[k] > 0 else None
            views = {"frontal": f"images/{_slug(sid)}_frontal.png",
                     "lateral": f"images/{_slug(sid)}_lateral.png" if lateral is not None else None}
            _save_png(os.path.join(out_dir, views["frontal"]), frontal)
            if lateral is not None:
                _save_png(os.path.join(out_dir, views["lateral"]), lateral)
            heat = []
            if maps is not None:
                entry = write_study(heat_dir, _slug(sid), frontal, lateral, predictions[sid],
                                    maps[j])
                heat = [{"sentence": s["sentence"],
                         "png": f"attention/{_slug(name)}/{s['png']}".replace(os.sep, "/")}
                        for s in entry["sentences"]]
            rows_f = findings_rows(gen_labels[sid], ref_labels[sid])
            per = dict(scores[sid])
            per["CE-F1"] = findings_f1(gen_labels[sid], ref_labels[sid])
            per["words"] = float(len(predictions[sid].split()))
            run.studies.append({
                "id": sid, "model": name, "views": views,
                "generated": predictions[sid], "reference": refs[sid],
                "normal": {True: "normal", False: "abnormal"}.get(normal.get(sid), "unknown"),
                "findings": rows_f, "disagree": disagreements(rows_f),
                "scores": {k2: per[k2] for k2 in SCORES}, "heatmaps": heat,
                "map_kind": kind})
        if len(run.studies) >= len(ids):
            break
    if not run.studies:
        raise ValueError(f"{data.path}: the {split} split's records hold none of the studies "
                         f"in {pred_path}")
    run.dataset = data.name
    return run


_LABEL = {1: "+", 0: "−", -1: "?", None: "·"}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{background:#1d3557;color:#fff;padding:10px 16px;position:sticky;top:0;z-index:2}
header h1{font-size:18px;margin:0 0 6px}
header label{margin-right:14px}
.warn{background:#b00020;color:#fff;padding:8px 16px;font-weight:bold}
main{padding:12px 16px}
.study{background:#fff;border:1px solid #ccc;border-radius:6px;margin:0 0 12px;padding:10px;
 display:grid;grid-template-columns:auto 1fr;gap:12px}
.study[hidden]{display:none}
.views img{height:180px;image-rendering:pixelated;background:#000;margin-right:4px}
.views .none{display:inline-block;height:180px;width:180px;background:#333;color:#aaa;
 text-align:center;line-height:180px;vertical-align:top}
.texts{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.texts ol{margin:4px 0;padding-left:22px}
.texts h3{font-size:13px;margin:0;color:#555}
.meta{font-size:12px;color:#555}
.chip{color:#222;display:inline-block;border-radius:10px;padding:1px 8px;margin:2px;font-size:12px}
.agree{background:#c8e6c9}.agree-negative{background:#eee}
.missed{background:#bbdefb;border:1px solid #1565c0}.extra{background:#ffcdd2;border:1px solid #c62828}
table.scores td{padding:0 8px 0 0;font-size:12px}
details img{height:160px;image-rendering:pixelated;display:block}
figure{display:inline-block;margin:4px 8px 4px 0;max-width:340px;vertical-align:top}
figcaption{font-size:12px}
"""

_SCRIPT = """
(function(){
  const $ = id => document.getElementById(id);
  const cards = Array.from(document.querySelectorAll('.study'));
  const box = $('studies');
  function apply(){
    const normal = $('f-normal').value, finding = $('f-finding').value;
    const model = $('f-model') ? $('f-model').value : '';
    const key = $('sort').value, asc = $('order').value === 'asc';
    let shown = 0;
    for (const c of cards){
      const dis = c.dataset.disagree ? c.dataset.disagree.split('|') : [];
      const ok = (!normal || c.dataset.normal === normal)
        && (!model || c.dataset.model === model)
        && (!finding || (finding === '*' ? dis.length > 0
                         : finding === '=' ? dis.length === 0 : dis.includes(finding)));
      c.hidden = !ok; shown += ok ? 1 : 0;
    }
    const sorted = cards.slice();
    if (key){
      sorted.sort((a, b) => {
        const d = parseFloat(a.dataset['s' + key]) - parseFloat(b.dataset['s' + key]);
        return asc ? d : -d;
      });
    } else {
      sorted.sort((a, b) => a.dataset.order - b.dataset.order);
    }
    for (const c of sorted) box.appendChild(c);
    $('count').textContent = shown + ' of ' + cards.length + ' reports shown';
  }
  for (const id of ['f-normal','f-finding','f-model','sort','order']){
    if ($(id)) $(id).addEventListener('change', apply);
  }
  apply();
  document.body.dataset.ready = '1';
})();
"""


def _score_key(name: str) -> str:
    """A score name as a data-attribute suffix (dataset key: 's' + this)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _report_html(text: str) -> str:
    """Numbered sentences (the numbers of the heatmaps), as the labeler splits them."""
    from tfreport.text import split_sentences
    items = "".join(f"<li>{html.escape(s.strip(' .'))}</li>" for s in split_sentences(text))
    return f"<ol>{items}</ol>" if items else "<p><i>(empty report)</i></p>"


def _study_html(s: Dict, order: int) -> str:
    e = html.escape
    attrs = {"data-model": s["model"], "data-normal": s["normal"],
             "data-disagree": "|".join(s["disagree"]), "data-order": str(order),
             "data-id": s["id"]}
    attrs.update({f"data-s{_score_key(k)}": f"{v:.6f}" for k, v in s["scores"].items()})
    attr = " ".join(f'{k}="{e(v)}"' for k, v in attrs.items())
    views = "".join(
        f'<img src="{e(path)}" alt="{view} view of {e(s["id"])}" loading="lazy">' if path
        else f'<span class="none">no {view} view</span>'
        for view, path in s["views"].items())
    chips = "".join(
        f'<span class="chip {r["state"]}" title="generated {_LABEL[r["generated"]]}, '
        f'reference {_LABEL[r["reference"]]}">{e(r["observation"])}: '
        f'{_LABEL[r["generated"]]}/{_LABEL[r["reference"]]}</span>'
        for r in s["findings"]) or '<span class="meta">no finding mentioned by either</span>'
    scores = "".join(f"<td>{e(k)} {v:.3f}</td>" if k != "words" else f"<td>words {v:.0f}</td>"
                     for k, v in s["scores"].items())
    if s["heatmaps"]:
        figs = "".join(f'<figure><img src="{e(h["png"])}" loading="lazy" alt="attention of '
                       f'sentence {k}"><figcaption>{k}. {e(h["sentence"])}</figcaption></figure>'
                       for k, h in enumerate(s["heatmaps"], start=1))
        what = "attention" if s["map_kind"] == "attention" else "Grad-CAM saliency"
        heat = (f'<details class="heat"><summary>{what} per sentence '
                f'({len(s["heatmaps"])})</summary>{figs}</details>')
    else:
        heat = '<div class="meta">no heatmap (an empty report, or none asked for)</div>'
    return (f'<section class="study" {attr}><div class="views">{views}'
            f'<div class="meta">{e(s["id"])} · {e(s["model"])} · {e(s["normal"])}</div></div>'
            f'<div><div class="texts"><div><h3>generated</h3><div class="gen">'
            f'{_report_html(s["generated"])}</div></div><div><h3>reference</h3><div class="ref">'
            f'{_report_html(s["reference"])}</div></div></div>'
            f'<div class="findings">{chips}</div><table class="scores"><tr>{scores}</tr>'
            f'</table>{heat}</div></section>')


def _options(values: Sequence[tuple]) -> str:
    return "".join(f'<option value="{html.escape(v)}">{html.escape(t)}</option>'
                   for v, t in values)


def page_html(runs: Sequence[Run], title: str, credentialed: bool = False) -> str:
    """The whole page as one string (styles and script inline)."""
    studies = [s for r in runs for s in r.studies]
    seen = sorted({o for s in studies for o in s["disagree"]})
    finding = _options([("", "any"), ("*", "any disagreement"), ("=", "full agreement")]
                       + [(o, f"disagree on {o}") for o in seen])
    model = (f'<label>model <select id="f-model">'
             f'{_options([("", "all")] + [(r.name, r.name) for r in runs])}</select></label>'
             if len(runs) > 1 else "")
    sort = _options([("", "split order")] + [(_score_key(k), k) for k in SCORES])
    warn = ('<div class="warn" id="credentialed">This page holds MIMIC-CXR report text, '
            'which is credentialed (PhysioNet licence): do not share it or put it online.</div>'
            if credentialed else "")
    cards = "".join(_study_html(s, k) for k, s in enumerate(studies))
    legend = ('findings: generated/reference label (+ positive, − negative, ? uncertain, '
              '· not mentioned); <span class="chip agree">agree</span>'
              '<span class="chip missed">missed</span><span class="chip extra">extra</span>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>{warn}'
            f'<header><h1>{html.escape(title)}</h1>'
            f'<label>studies <select id="f-normal">'
            f'{_options([("", "all"), ("normal", "normal"), ("abnormal", "abnormal")])}'
            f'</select></label><label>finding <select id="f-finding">{finding}</select></label>'
            f'{model}<label>sort by <select id="sort">{sort}</select></label>'
            f'<label><select id="order">{_options([("desc", "highest first"), ("asc", "lowest first")])}'
            f'</select></label><span id="count"></span><div class="meta" style="color:#ddd">'
            f'{legend}</div></header><main id="studies">{cards}</main>'
            f'<script>{_SCRIPT}</script></body></html>')


def write(out_dir: str, runs: Sequence[Run], title: str = "tfreport review") -> str:
    """Writes ``out_dir/index.html`` for runs already collected into ``out_dir``; returns
    its path. The page is written whole, then moved into place."""
    if not runs or not any(r.studies for r in runs):
        raise ValueError("the review page has no study to show")
    credentialed = any(r.dataset in CREDENTIALED for r in runs)
    path = os.path.join(out_dir, "index.html")
    tmp = path + ".partial"
    with fileio.open(tmp, "w", encoding="utf-8") as f:
        f.write(page_html(runs, title, credentialed))
    fileio.replace(tmp, path)
    return path


def build(out_dir: str, model_dirs: Sequence[str], split: str = "test",
          names: Optional[Sequence[str]] = None, data_dir: Optional[str] = None,
          limit: Optional[int] = None, title: Optional[str] = None, heatmaps: bool = True,
          quiet: bool = False) -> str:
    """The review page of one or more decoded model folders: collects each, writes the page."""
    from tfreport.errors import ensure_writable_dir
    ensure_writable_dir(out_dir, "review page folder")
    names = list(names) if names else [None] * len(model_dirs)
    if len(names) != len(model_dirs):
        raise ValueError(f"{len(names)} names for {len(model_dirs)} model folders")
    runs = [collect(m, out_dir, split, n, data_dir, limit=limit, heatmaps=heatmaps, quiet=quiet)
            for m, n in zip(model_dirs, names)]
    taken = [r.name for r in runs]
    if len(set(taken)) != len(taken):
        raise ValueError(f"two runs share a name ({taken}); give each a name")
    return write(out_dir, runs, title or f"tfreport review: {', '.join(taken)} ({split} split)")
