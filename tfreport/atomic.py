"""Atomic file writes: a temporary file beside the target, then a rename.

A run killed mid-write leaves the previous file (or none), never a half-written one that
looks complete. Every results table and record goes through here. Paths may be local or
URLs (``tfreport.fileio``): on an object store the rename is a copy and a delete, and an
object only appears once its upload is complete, so the guarantee holds there too.
"""
from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shutil
import tempfile
from typing import Any, Iterator

from tfreport import fileio


@contextlib.contextmanager
def writing(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """Yields a temporary path to write; renamed to ``path`` when the block ends, removed
    when it raises (for writers that take a path: matplotlib, Keras, NumPy). The temporary
    name is ``path + suffix`` (Keras wants ``.keras`` at the end). For a URL the writer
    gets a local temporary file, which is uploaded beside ``path`` and renamed, so writers
    that only know local files work on every filesystem."""
    tmp = path + suffix
    if not fileio.is_remote(path):
        try:
            yield tmp
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return
    folder = tempfile.mkdtemp(prefix="tfreport-write-")
    try:
        local = os.path.join(folder, posixpath.basename(tmp))
        yield local
        fileio.copy(local, tmp)
        fileio.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if fileio.exists(tmp):
            fileio.remove(tmp)


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (UTF-8, newlines as given)."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically, through a temporary file beside it."""
    tmp = path + ".tmp"
    try:
        with fileio.open(tmp, "wb") as f:
            f.write(data)
        fileio.replace(tmp, path)
    finally:
        if fileio.exists(tmp):
            fileio.remove(tmp)


def write_json(path: str, obj: Any, indent: int = 1) -> None:
    """Writes ``obj`` as JSON to ``path`` atomically (non-ASCII text kept as is)."""
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False))
