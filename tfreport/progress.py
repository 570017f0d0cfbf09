"""One progress-bar helper, so every long job reports the same way."""
from __future__ import annotations

import sys
from typing import Iterable, Optional, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str = "", total: Optional[int] = None,
             disable: bool = False, unit: str = "it") -> Iterable[T]:
    """A tqdm bar on stderr with an ETA; ``disable`` for quiet or non-chief workers."""
    return tqdm(iterable, desc=desc, total=total, disable=disable, unit=unit, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5)
