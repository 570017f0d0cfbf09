"""How closely a prepared dataset's sentences match the legacy ``data_entry.json``."""
from __future__ import annotations

import json
import os
from typing import Dict, List


def _words(sentences: List[str]) -> List[List[str]]:
    return [s.split() for s in sentences]


def compare_data_entries(ours_path: str, legacy_path: str) -> Dict[str, float]:
    """Share of the studies both files hold whose sentence lists are identical.

    Sentences are compared word by word, so runs of spaces (kept in both files) do not
    matter; the exact-string share is reported too.
    """
    with open(ours_path, encoding="utf-8") as f:
        ours = json.load(f)
    with open(legacy_path, encoding="utf-8") as f:
        legacy = json.load(f)
    both = sorted(set(ours) & set(legacy))
    same_words = sum(_words(ours[k]) == _words(legacy[k]) for k in both)
    same_exact = sum(ours[k] == legacy[k] for k in both)
    return {"studies_in_both": len(both), "identical_words": same_words,
            "identical_strings": same_exact,
            "share": same_words / len(both) if both else 0.0,
            "share_exact": same_exact / len(both) if both else 0.0}


def placeholder_images(projections_csv: str, out_dir: str, size: int = 0) -> int:
    """Writes a small grey PNG under every file name the projections CSV lists (real data
    checks: only 4 IU X-Ray images are available here); ``size`` defaults to the smallest
    image ingest accepts (``images.MIN_SIDE``)."""
    from tfreport.data.images import MIN_SIDE
    size = size or MIN_SIDE
    import csv
    from PIL import Image
    os.makedirs(out_dir, exist_ok=True)
    n = 0
    with open(projections_csv, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            Image.new("L", (size, size), 128).save(os.path.join(out_dir, row["filename"]))
            n += 1
    return n
