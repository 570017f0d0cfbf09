"""Predictions and references for a split, in the shared ``{study_id: report text}`` form."""
from __future__ import annotations

import json
import os
from typing import Dict, Iterable, Optional

from tfreport.decoding import Decoder
from tfreport.progress import progress
from tfreport.text import join_report


def references(data_dir: str, split: str) -> Dict[str, str]:
    """Untruncated reference text (legacy-normalised sentences joined) for a split."""
    with open(os.path.join(data_dir, "data_entry.json"), encoding="utf-8") as f:
        entry = json.load(f)
    with open(os.path.join(data_dir, f"{split}_split.json"), encoding="utf-8") as f:
        ids = json.load(f)
    return {i: join_report(entry[i]) for i in ids}


def normal_flags(data_dir: str, split: str, ds: Iterable) -> Dict[str, Optional[bool]]:
    """{id: True|False} from the records' normal field (unknown studies left out)."""
    out = {}
    for batch in ds:
        for sid, normal in zip(batch["id"].numpy(), batch["normal"].numpy()):
            if normal in (0, 1):
                out[sid.decode()] = bool(normal)
    return out


def predict(model, vocab, ds, beam_size: int = 3, limit: Optional[int] = None,
            quiet: bool = False) -> Dict[str, str]:
    """Decodes every study of ``ds`` (or the first ``limit``)."""
    decoder = Decoder(model, vocab, beam_size)
    out: Dict[str, str] = {}
    for batch in progress(ds, desc="decoding", disable=quiet, unit="batch"):
        for sid, sentences in zip(batch["id"].numpy(), decoder.reports(batch)):
            out[sid.decode()] = join_report(sentences)
        if limit and len(out) >= limit:
            break
    return out
