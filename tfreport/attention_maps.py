"""Where each generated sentence looked: soft-attention weights over both views' grid cells,
averaged over the sentence's words, and heatmaps of them over the images.

The weights come from a teacher-forced pass over the decoded report (the same weights the
decoder saw, as the models are deterministic at inference). Models with attention over the
cells: CNN-RNN-Att, MRNA with ``spatial_attention``, and M2, whose map is its cross-attention
combined over heads, layers and meshed gates (each sentence also carries every decoder
layer's, encoder layer's and head's map and the gates). The others get Grad-CAM instead
(:func:`study_maps`).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from tfreport import fileio
from tfreport.vocab import END_ID, PAD_ID, Vocabulary


def has_attention(model) -> bool:
    """Whether ``model`` attends over grid cells at each word."""
    name = type(model).__name__
    return (name in ("CNNRNNAtt", "M2Transformer")
            or (name == "MRNA" and bool(model.config.spatial_attention)))


def _grid_side(cells_per_view: int) -> int:
    side = int(round(math.sqrt(cells_per_view)))
    if side * side != cells_per_view:
        raise ValueError(f"{cells_per_view} cells per view is not a square grid")
    return side


def sentence_maps(model, batch: Dict, reports: Sequence[Sequence[str]],
                  vocab: Vocabulary) -> List[List[Dict]]:
    """Per study, per sentence of its generated report: ``{"sentence", "frontal": [h, w],
    "lateral": [h, w] or None}``, the sentence's words' attention weights averaged (each map
    pair sums to 1; a masked lateral view gets None). M2's sentences also carry ``"layers"``:
    ``{"frontal": [decoder layers, encoder layers, heads, h, w], "lateral": same or None}``
    and ``"gates"`` [decoder layers, encoder layers], the mean meshed gate."""
    if not has_attention(model):
        raise ValueError(f"{type(model).__name__} has no soft attention to show (CNN-RNN-Att, "
                         "MRNA with spatial_attention and M2 have)")
    c = model.config
    grid = report_grid(model, reports, vocab)
    inputs = {k: v for k, v in batch.items() if k != "report"}
    inputs["report"] = grid.astype(np.int32)
    detail = None
    if hasattr(model, "cross_attention"):
        from tfreport.models.m2_transformer import combined_attention
        _, detail = model.cross_attention(inputs, training=False)
        alpha = np.asarray(combined_attention(detail), np.float32)
        detail = {k: np.asarray(v, np.float32) for k, v in detail.items()}
    else:
        _, alpha = model(inputs, training=False, return_attention=True)
        alpha = np.asarray(alpha, np.float32)
    present = np.asarray(batch["lateral_present"], np.float32)
    out = []
    for i, sentences in enumerate(reports):
        if model.hierarchical:  # [S, W, 2N]: sentence k's words are row k
            rows = [_mean_over(alpha[i, k], grid[i, k]) for k in range(len(sentences))]
        else:  # [T, 2N] over the flat report: sentences end in </S>
            rows = _flat_sentence_means(alpha[i], _flat_tokens(grid[i], c.max_tokens),
                                        len(sentences))
        n = alpha.shape[-1] // 2
        side = _grid_side(n)
        study = []
        for sentence, weights in zip(sentences, rows):
            frontal = weights[:n].reshape(side, side)
            lateral = weights[n:].reshape(side, side) if present[i] > 0 else None
            study.append({"sentence": sentence, "frontal": frontal, "lateral": lateral})
        if detail is not None:
            _add_layer_maps(study, detail, i, _flat_tokens(grid[i], c.max_tokens), side,
                            present[i] > 0)
        out.append(study)
    return out


def _add_layer_maps(study: List[Dict], detail: Dict, i: int, tokens: np.ndarray, side: int,
                    lateral: bool) -> None:
    """M2: each sentence's per decoder layer, encoder layer and head maps and mean gates,
    averaged over the sentence's words like its combined map."""
    cross = detail["cross"][i]  # [D, E, H, T, K]
    d, e, h, t, k = cross.shape
    per_token = np.moveaxis(cross, 3, 0).reshape(t, -1)  # [T, D*E*H*K]
    gates = np.moveaxis(detail["gates"][i], 2, 0).reshape(t, -1)  # [T, D*E]
    maps = _flat_sentence_means(per_token, tokens, len(study))
    gate_means = _flat_sentence_means(gates, tokens, len(study))
    for entry, m, g in zip(study, maps, gate_means):
        m = m.reshape(d, e, h, 2, side, side)
        entry["layers"] = {"frontal": m[:, :, :, 0], "lateral": m[:, :, :, 1] if lateral else None}
        entry["gates"] = g.reshape(d, e)


def report_grid(model, reports: Sequence[Sequence[str]], vocab: Vocabulary) -> np.ndarray:
    """Generated reports as the [B, S, W] id grid the model reads under teacher forcing."""
    c = model.config
    words = [[s.split() for s in r] for r in reports]
    if model.hierarchical:  # its decoder never writes more than the grid holds
        rows, width = c.max_sentences, c.max_words
    else:  # a flat report may hold more sentences than max_sentences: a grid that fits it
        rows = max([len(r) for r in words] + [0]) + 1
        width = max([len(s) for r in words for s in r] + [1]) + 1
    return np.stack([vocab.encode_report(r, rows, width) for r in words]).astype(np.int32)


def study_maps(model, batch: Dict, reports: Sequence[Sequence[str]],
               vocab: Vocabulary) -> tuple:
    """(maps, kind): each sentence's soft attention ("attention") for the attending models,
    else the Grad-CAM of its log-probability ("grad-cam", :mod:`tfreport.saliency`)."""
    if has_attention(model):
        return sentence_maps(model, batch, reports, vocab), "attention"
    from tfreport.saliency import gradcam_maps
    return gradcam_maps(model, batch, reports, vocab), "grad-cam"


def _mean_over(alpha_words: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The mean attention over a sentence's word steps (not its </S> or padding)."""
    keep = (ids != PAD_ID) & (ids != END_ID)
    if not keep.any():
        keep = ids != PAD_ID
    return alpha_words[keep].mean(axis=0)


def _flat_tokens(grid: np.ndarray, max_tokens: int) -> np.ndarray:
    """[S, W] ids -> the flat model's target tokens: each sentence's words then </S>."""
    tokens = []
    for row in grid:
        words = [int(t) for t in row if t not in (PAD_ID, END_ID)]
        if not words:
            break
        tokens += words + [END_ID]
    return np.asarray(tokens[:max_tokens], np.int64)


def _flat_sentence_means(alpha: np.ndarray, tokens: np.ndarray, n: int) -> List[np.ndarray]:
    """Mean attention over each sentence's word steps of a flat report."""
    out, start = [], 0
    for t, token in enumerate(tokens):
        if token == END_ID:
            out.append(alpha[start:t].mean(axis=0) if t > start else alpha[t])
            start = t + 1
        if len(out) == n:
            break
    if len(out) < n and start < len(tokens):  # the last sentence, cut at max_tokens
        out.append(alpha[start:len(tokens)].mean(axis=0))
    return out


def overlay(image: np.ndarray, weights: Optional[np.ndarray], alpha: float = 0.45) -> np.ndarray:
    """A grayscale image [H, W] (0..255) with ``weights`` [h, w] upsampled over it as a
    heatmap (its maximum at full colour): [H, W, 3] uint8. None: the image alone."""
    from matplotlib import colormaps
    from PIL import Image
    img = np.asarray(image, np.float32).squeeze()
    rgb = np.repeat(img[..., None], 3, axis=-1)
    if weights is not None:
        w = np.asarray(weights, np.float32)
        w = w / max(float(w.max()), 1e-12)
        up = np.asarray(Image.fromarray((w * 255).astype(np.uint8)).resize(
            (img.shape[1], img.shape[0]), Image.BILINEAR), np.float32) / 255.0
        heat = colormaps["inferno"](up)[..., :3] * 255.0
        rgb = (1 - alpha * up[..., None]) * rgb + alpha * up[..., None] * heat
    return np.clip(rgb, 0, 255).astype(np.uint8)


def sentence_figure(frontal: np.ndarray, lateral: Optional[np.ndarray], entry: Dict) -> np.ndarray:
    """Both views side by side with one sentence's heatmaps: [H, 2W, 3] uint8 (a missing
    lateral view is black)."""
    left = overlay(frontal, entry["frontal"])
    right = (overlay(lateral, entry["lateral"]) if lateral is not None
             else np.zeros_like(left))
    return np.concatenate([left, right], axis=1)


DISPLAY_HEIGHT = 256  # pixels: the model's small input, enlarged so a reader can see it


def write_study(out_dir: str, study_id: str, frontal: np.ndarray, lateral: Optional[np.ndarray],
                report: str, maps: List[Dict]) -> Dict:
    """One PNG per sentence in ``out_dir/<study_id>/`` (both views with that sentence's
    heatmaps); returns the study's index entry {"id", "report", "kind", "sentences":
    [{"sentence", "png"}]}, paths relative to ``out_dir``."""
    import os
    from PIL import Image
    folder = os.path.join(out_dir, study_id)
    fileio.makedirs(folder)
    entry = {"id": study_id, "report": report, "sentences": []}
    kinds = {m["kind"] for m in maps if "kind" in m}
    if kinds:
        entry["kind"] = kinds.pop()
    for k, m in enumerate(maps, start=1):
        figure = sentence_figure(frontal, lateral, m)
        scale = max(1, DISPLAY_HEIGHT // figure.shape[0])
        img = Image.fromarray(figure).resize((figure.shape[1] * scale, figure.shape[0] * scale),
                                             Image.NEAREST)
        name = f"sentence_{k:02d}.png"
        tmp = os.path.join(folder, name + ".tmp")
        with fileio.open(tmp, "wb") as f:  # local or a URL
            img.save(f, format="PNG")
        fileio.replace(tmp, os.path.join(folder, name))
        entry["sentences"].append({"sentence": m["sentence"],
                                   "png": os.path.join(study_id, name)})
    return entry
