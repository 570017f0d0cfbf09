"""Train/validation/test splits; no split ever puts a patient in two sets."""
from __future__ import annotations

import hashlib
from typing import Dict, List, Sequence, Tuple

from tfreport.data.study import Study

SPLITS = ("train", "val", "test")


def parse_ratios(text: str) -> Tuple[float, float, float]:
    """'0.7,0.1,0.2' -> (0.7, 0.1, 0.2); they must be three non-negative numbers summing to 1."""
    try:
        ratios = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--split_ratios {text!r}: expected three numbers like 0.7,0.1,0.2") from None
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f"--split_ratios {text!r}: expected three non-negative numbers summing to 1")
    return ratios  # type: ignore[return-value]


def random_split(studies: Sequence[Study], ratios: Tuple[float, float, float],
                 seed: int) -> Dict[str, List[Study]]:
    """Seeded split by patient: a patient's rank is a hash of (seed, patient id), so the
    assignment is stable when studies are added or removed."""
    patients = sorted({s.patient for s in studies},
                      key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    n = len(patients)
    n_train = round(ratios[0] * n)
    n_val = round(ratios[1] * n)
    where = {}
    for i, p in enumerate(patients):
        where[p] = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
    out: Dict[str, List[Study]] = {k: [] for k in SPLITS}
    for s in studies:
        out[where[s.patient]].append(s)
    return out
