"""Loading ``.keras`` files saved before a model's layers moved: old weight paths, new ones.

Keras stores each weight under its layer's attribute path (``attention/score/vars/0``).
When a model's layers are reorganised, a file saved before no longer matches. Each entry of
``RENAMES`` maps the groups that moved, so such a file is rewritten (a temporary copy, the
original untouched) and loads as before, with a note that saving it again skips the step.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import zipfile
from typing import Dict, List, Optional, Tuple

from tfreport import fileio

WEIGHTS = "model.weights.h5"

# model class -> [(old group, new group)]: CNN-RNN-Att and MRNA (spatial attention) moved
# their attention and LSTM cell into the shared AttentionLSTMCell (issue #20).
RENAMES: Dict[str, List[Tuple[str, str]]] = {
    "CNNRNNAtt": [("attention", "attention_lstm/attention"),
                  ("cell", "attention_lstm/lstm_cell")],
    "MRNA": [("attention", "attention_lstm/attention"),
             ("layers/lstm/cell", "attention_lstm/lstm_cell")],
}


def _class_name(archive: zipfile.ZipFile) -> str:
    return json.loads(archive.read("config.json")).get("class_name", "")


def stale_groups(path: str) -> Optional[List[Tuple[str, str]]]:
    """The renames a ``.keras`` file needs, or None when it already has today's layout."""
    import h5py
    with zipfile.ZipFile(path) as archive:
        renames = RENAMES.get(_class_name(archive))
        if not renames or WEIGHTS not in archive.namelist():
            return None
        with h5py.File(io.BytesIO(archive.read(WEIGHTS)), "r") as h5:
            # every old group present, none of the new: a file of the old layout (an MRNA
            # without attention has layers/lstm/cell but no attention group, and is current)
            old_layout = (all(old in h5 for old, _ in renames)
                          and not any(new in h5 for _, new in renames))
    return renames if old_layout else None


def _drop_empty(h5, group: str) -> None:
    """Removes ``group`` and its parents while they hold no weights."""
    import h5py
    while group and group in h5:
        datasets = []
        h5[group].visititems(lambda n, o: datasets.append(n)
                             if isinstance(o, h5py.Dataset) else None)
        if datasets:
            return
        del h5[group]
        group = group.rpartition("/")[0]


def rewritten(path: str, renames: List[Tuple[str, str]], folder: str) -> str:
    """A copy of ``path`` in ``folder`` with the weight groups moved; returns its path."""
    import h5py
    out = os.path.join(folder, os.path.basename(path))
    with zipfile.ZipFile(path) as archive:
        buffer = io.BytesIO(archive.read(WEIGHTS))
        with h5py.File(buffer, "r+") as h5:
            for old, new in renames:
                h5.require_group(new.rpartition("/")[0] or "/")
                h5.move(old, new)
                _drop_empty(h5, old.rpartition("/")[0])
        with zipfile.ZipFile(out, "w") as copy:
            for name in archive.namelist():
                copy.writestr(name, buffer.getvalue() if name == WEIGHTS
                              else archive.read(name))
    return out


def load(path: str, loader) -> object:
    """``loader(path)``, through a rewritten copy when the file has an older layout. A URL
    (gs://, ram://) is read once into a local temporary copy, which zipfile and h5py need."""
    with fileio.local_copy(path) as local:
        renames = stale_groups(local)
        if not renames:
            return loader(local)
        folder = tempfile.mkdtemp(prefix="tfreport-renamed-")
        try:
            model = loader(rewritten(local, renames, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    moved = ", ".join(f"{old} -> {new}" for old, new in renames)
    print(f"{path}: saved with an older layer layout; its weights were mapped ({moved}). "
          "Saving the model again stores today's layout.", file=sys.stderr)
    return model
