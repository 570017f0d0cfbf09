"""Atomic file writes: a temporary file beside the target, then a rename.

A run killed mid-write leaves the previous file (or none), never a half-written one that
looks complete. Every results table and record goes through here.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator


@contextlib.contextmanager
def writing(path: str) -> Iterator[str]:
    """Yields a temporary path to write; renamed to ``path`` when the block ends, removed
    when it raises (for writers that take a path: matplotlib, Keras)."""
    tmp = path + ".tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (UTF-8, newlines as given)."""
    with writing(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)


def write_json(path: str, obj: Any, indent: int = 1) -> None:
    """Writes ``obj`` as JSON to ``path`` atomically (non-ASCII text kept as is)."""
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False))
