"""Per-report scores computed by another tool (RadGraph-F1, GREEN, RaTEScore, RadCliQ ...).

Such metrics need model weights tfreport cannot fetch, so a user runs the tool where they
have it, per report, and hands the scores in: a JSON object ``{id: number}`` or a CSV with an
``id`` column and one score column. The corpus figure is the mean over the reports scored
together (as those tools report it), so it enters the bootstrap intervals and the paired
tests like ROUGE-L and CIDEr do.
"""
from __future__ import annotations

import csv
import json
import math
from typing import Dict, Iterable, Mapping

import numpy as np

from tfreport import fileio

Scores = Dict[str, float]


def read_scores(path: str) -> Scores:
    """{id: score} from ``path`` (.json, else CSV); every value a finite number."""
    try:
        if path.endswith(".json"):
            with fileio.open(path, encoding="utf-8") as f:
                obj = json.load(f)
            if not isinstance(obj, dict):
                raise ValueError(f"{path}: expected a JSON object {{id: score}}")
            rows = list(obj.items())
        else:
            with fileio.open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                header = reader.fieldnames or []
                values = [h for h in header if h != "id"]
                if "id" not in header or len(values) != 1:
                    raise ValueError(f"{path}: expected a CSV with an 'id' column and one score "
                                     f"column, found columns {header}")
                rows = [(r["id"], r[values[0]]) for r in reader]
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e})") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: scores file not found") from None
    scores: Scores = {}
    for i, (key, value) in enumerate(rows):
        if str(key) in scores:
            raise ValueError(f"{path}: study {key!r} is scored twice")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: study {key!r} (entry {i + 1}) has score {value!r}, "
                             "not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{path}: study {key!r} has a non-finite score {value!r}")
        scores[str(key)] = number
    if not scores:
        raise ValueError(f"{path}: no scores")
    return scores


def check_cover(name: str, scores: Mapping[str, float], ids: Iterable[str],
                source: str = "") -> None:
    """Every scored study needs its external score: a missing one would bias the mean.
    ``source``: the scores file, named in the error."""
    missing = [i for i in ids if i not in scores]
    if missing:
        where = f" ({source})" if source else ""
        raise KeyError(f"external metric {name}{where}: {len(missing)} studies have no score, "
                       f"e.g. {missing[:3]}")


def per_report(external: Mapping[str, Mapping[str, float]], ids) -> Dict[str, np.ndarray]:
    """{metric: [N] scores in the order of ``ids``}: the bootstrap's per-report columns."""
    return {m: np.array([s[i] for i in ids], float) for m, s in external.items()}


# Names a score block already uses: an external metric must not overwrite them.
RESERVED = {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr", "CE-P",
            "CE-R", "CE-F1", "CE-macro-F1", "CE-5-micro-F1", "CE-example-F1", "CE",
            "ROUGE-L (rouge-score)", "studies", "groups", "ci", "diagnostics", "bootstrap",
            "external", "coverage", "CE-labeler"}


def parse_specs(specs: Iterable[str]) -> Dict[str, str]:
    """["NAME=FILE", ...] -> {NAME: FILE}; a malformed, reserved or repeated NAME is an error."""
    out: Dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--external expects NAME=FILE, got {spec!r}")
        if name in RESERVED or name.startswith("CE-macro-F1"):
            raise ValueError(f"--external {name}: that name is one of tfreport's own figures; "
                             "name the metric otherwise (e.g. RadGraph-F1)")
        if name in out:
            raise ValueError(f"--external {name} is given twice")
        out[name] = path
    return out
