"""CheXbert in Keras: a keras-hub BERT encoder, CheXbert's 14 heads, and its label decoding.

CheXbert (Smit et al., 2020) labels a report with the 14 CheXpert observations from the
[CLS] vector of bert-base-uncased: 13 four-way heads (blank, positive, negative, uncertain)
and a two-way "No Finding" head (blank, positive). The weights come from the published
PyTorch checkpoint, converted once by ``chexbert_checkpoint.convert`` into a folder:

    config.json           the encoder's sizes (``CheXbertConfig``)
    vocab.txt             bert-base-uncased's WordPiece vocabulary
    chexbert.weights.h5   the Keras weights

``CheXbertLabeler.load(folder)`` reads it; ``label_reports`` has the rule-based labeler's
interface, so scoring, the benchmark and pretraining take either (``labelers.get``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from tfreport import fileio
from tfreport.labels import CHEXPERT_OBSERVATIONS

# The heads' order in the published checkpoint (CheXbert's CONDITIONS).
CONDITIONS = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion",
    "Pleural Other", "Fracture", "Support Devices", "No Finding",
)
# class index -> tfreport label (None: not mentioned); "No Finding" has only 0 and 1
CLASS_VALUES = (None, 1, 0, -1)
MAX_TOKENS = 512  # BERT's positions; longer reports keep [CLS], their first 510 tokens, [SEP]
FILES = ("config.json", "vocab.txt", "chexbert.weights.h5")


@dataclasses.dataclass
class CheXbertConfig:
    """The BERT encoder's sizes. ``published`` is bert-base-uncased (CheXbert's); ``tiny``
    is for tests."""
    vocabulary_size: int = 30522
    num_layers: int = 12
    num_heads: int = 12
    hidden_dim: int = 768
    intermediate_dim: int = 3072
    max_sequence_length: int = MAX_TOKENS
    dropout: float = 0.1

    @classmethod
    def published(cls) -> "CheXbertConfig":
        return cls()

    @classmethod
    def tiny(cls, vocabulary_size: int = 64) -> "CheXbertConfig":
        return cls(vocabulary_size=vocabulary_size, num_layers=2, num_heads=2, hidden_dim=16,
                   intermediate_dim=32, max_sequence_length=32)


def build_model(config: CheXbertConfig):
    """keras.Model: {token_ids, padding_mask} [batch, length] -> {observations [batch, 13, 4],
    no_finding [batch, 2]} logits, in ``CONDITIONS`` order."""
    import keras
    import keras_hub

    from tfreport.layers.chexbert_heads import CheXbertHeads

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocabulary_size, num_layers=config.num_layers,
        num_heads=config.num_heads, hidden_dim=config.hidden_dim,
        intermediate_dim=config.intermediate_dim, dropout=config.dropout,
        max_sequence_length=config.max_sequence_length, name="bert")
    # BertBackbone uses the tanh approximation of GELU; BERT (and so CheXbert) was trained
    # with the exact erf form. The difference moves logits by ~1e-3, enough to flip a close
    # call, so the intermediate layers get the exact activation.
    for i in range(config.num_layers):
        dense = backbone.get_layer(f"transformer_layer_{i}")._feedforward_intermediate_dense
        dense.activation = keras.activations.gelu  # approximate=False
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    sequence = backbone({"token_ids": token_ids, "segment_ids": keras.ops.zeros_like(token_ids),
                         "padding_mask": padding_mask})["sequence_output"]
    observations, no_finding = CheXbertHeads(config.dropout, name="heads")(sequence)
    return keras.Model({"token_ids": token_ids, "padding_mask": padding_mask},
                       {"observations": observations, "no_finding": no_finding}, name="chexbert")


def decode(observations: np.ndarray, no_finding: np.ndarray) -> List[Dict[str, Optional[int]]]:
    """Logits -> one label dict per report (tfreport's 14 observations; 1, 0, -1 or None),
    as CheXbert writes its CSV: argmax per head, blank -> None, uncertain -> -1."""
    obs_class = np.asarray(observations).argmax(-1)  # [batch, 13]
    nf_class = np.asarray(no_finding).argmax(-1)  # [batch]
    out = []
    for row, nf in zip(obs_class, nf_class):
        labels = {name: CLASS_VALUES[int(c)] for name, c in zip(CONDITIONS[:-1], row)}
        labels["No Finding"] = CLASS_VALUES[int(nf)]
        out.append({o: labels[o] for o in CHEXPERT_OBSERVATIONS})
    return out


def clean_report(text: str) -> str:
    """CheXbert's input cleaning: newlines to spaces, runs of whitespace to one, stripped."""
    return re.sub(r"\s+", " ", (text or "").replace("\n", " ")).strip()


def _fingerprint(path: str) -> str:
    """The first 8 hex digits of the file's SHA-1."""
    import hashlib
    h = hashlib.sha1()
    with fileio.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:8]


def read_vocabulary(path: str) -> List[str]:
    """bert-base-uncased's vocab.txt: one WordPiece token per line, the line number its id."""
    with fileio.open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    for needed in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
        if needed not in tokens:
            raise ValueError(f"{path}: not a BERT vocabulary (no {needed} token)")
    return tokens


class CheXbertLabeler:
    """Labels reports with a CheXbert model; the rule-based labeler's ``label_reports``."""

    def __init__(self, model, vocabulary: Sequence[str], source: str = "",
                 batch_size: int = 16, quiet: bool = True):
        import keras_hub
        self.model = model
        self.tokenizer = keras_hub.tokenizers.BertTokenizer(
            vocabulary=list(vocabulary), lowercase=True, strip_accents=True)
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        self.source, self.batch_size, self.quiet = source, batch_size, quiet
        self._cache: Dict[str, Dict[str, Optional[int]]] = {}

    @property
    def name(self) -> str:
        return f"CheXbert ({self.source})" if self.source else "CheXbert"

    @classmethod
    def load(cls, folder: str, **kwargs) -> "CheXbertLabeler":
        """Reads a converted folder (``FILES``); a clear error names what is missing."""
        if not fileio.isdir(folder):
            raise FileNotFoundError(
                f"{folder}: no such folder; --chexbert_weights takes the folder "
                "`tfreport convert-chexbert` writes (config.json, vocab.txt, chexbert.weights.h5)")
        missing = [f for f in FILES if not fileio.exists(os.path.join(folder, f))]
        if missing:
            raise FileNotFoundError(f"{folder}: not a converted CheXbert folder (missing "
                                    f"{', '.join(missing)}); run `tfreport convert-chexbert`")
        with fileio.open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = CheXbertConfig(**json.load(f)["config"])
        vocabulary = read_vocabulary(os.path.join(folder, "vocab.txt"))
        if len(vocabulary) != config.vocabulary_size:
            raise ValueError(f"{folder}: vocab.txt has {len(vocabulary)} tokens, the weights "
                             f"{config.vocabulary_size}")
        weights = os.path.join(folder, "chexbert.weights.h5")
        model = build_model(config)
        model.load_weights(weights)
        # the name tables print and records are matched by: the folder and its weights'
        # fingerprint, so two conversions under one folder name never pass for each other
        source = f"{os.path.basename(os.path.normpath(folder))}, {_fingerprint(weights)}"
        return cls(model, vocabulary, source=source, **kwargs)

    def encode(self, texts: Iterable[str]) -> List[List[int]]:
        """[CLS] WordPiece ids [SEP], cut to ``MAX_TOKENS`` as CheXbert cuts them; an empty
        report is [CLS] [SEP]."""
        texts = [clean_report(t) for t in texts]
        limit = min(MAX_TOKENS, int(self.model.get_layer("bert").max_sequence_length))
        ids = self.tokenizer(texts) if texts else []
        out = []
        for row in ids:
            row = [int(i) for i in np.asarray(row)][: limit - 2]
            out.append([self.cls_id, *row, self.sep_id])
        return out

    def logits(self, encoded: Sequence[Sequence[int]]) -> Tuple[np.ndarray, np.ndarray]:
        """Both heads' logits, batched by length (padding never changes a report's logits)."""
        n = len(encoded)
        obs = np.zeros((n, 13, 4), "float32")
        nf = np.zeros((n, 2), "float32")
        order = sorted(range(n), key=lambda i: len(encoded[i]))
        from tfreport.progress import progress
        starts = range(0, n, self.batch_size)
        for start in progress(starts, desc="CheXbert", unit="batch", disable=self.quiet or n < 64):
            idx = order[start:start + self.batch_size]
            width = max(len(encoded[i]) for i in idx)
            tokens = np.full((len(idx), width), self.pad_id, "int32")
            mask = np.zeros((len(idx), width), "int32")
            for r, i in enumerate(idx):
                tokens[r, :len(encoded[i])] = encoded[i]
                mask[r, :len(encoded[i])] = 1
            out = self.model({"token_ids": tokens, "padding_mask": mask}, training=False)
            obs[idx] = np.asarray(out["observations"], "float32")
            nf[idx] = np.asarray(out["no_finding"], "float32")
        return obs, nf

    def label_reports(self, reports: Mapping[str, str]) -> Dict[str, Dict[str, Optional[int]]]:
        """{id: labels} for {id: text}; each distinct text is run once (a benchmark scores the
        same references many times)."""
        todo = sorted({clean_report(t) for t in reports.values()} - set(self._cache))
        if todo:
            obs, nf = self.logits(self.encode(todo))
            self._cache.update(zip(todo, decode(obs, nf)))
        return {k: dict(self._cache[clean_report(v)]) for k, v in reports.items()}

    def label_report(self, text: str) -> Dict[str, Optional[int]]:
        return self.label_reports({"_": text})["_"]
