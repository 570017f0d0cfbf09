"""Resumable training state: every model variable (random-seed states included), every
optimizer variable (moments, step, loss scale) and where the loop stood.

``.keras`` files hold the model for inference; they carry no optimizer state, since the
trainer never compiles. This state lives in ``<model_dir>/resume/`` and is replaced atomically,
so a kill mid-save leaves the previous state intact. ``model_dir`` may be a URL (gs://, ram://):
files go through ``tfreport.fileio``.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import numpy as np

from tfreport import fileio

STATE_DIR = "resume"
_ARRAYS, _META = "variables.npz", "state.json"


def _arrays(model, optimizer) -> Dict[str, np.ndarray]:
    out = {}
    for prefix, variables in (("model", model.variables), ("optimizer", optimizer.variables)):
        for i, v in enumerate(variables):
            out[f"{prefix}/{i:05d}"] = np.asarray(v.numpy())
    return out


def save_state(model_dir: str, model, optimizer, meta: Dict[str, Any]) -> str:
    """Writes the state; returns its directory."""
    final = os.path.join(model_dir, STATE_DIR)
    tmp, old = final + ".tmp", final + ".old"
    fileio.rmtree(tmp, ignore_errors=True)
    try:
        fileio.makedirs(tmp)
        with fileio.open(os.path.join(tmp, _ARRAYS), "wb") as f:
            np.savez(f, **_arrays(model, optimizer))
        with fileio.open(os.path.join(tmp, _META), "w") as f:
            json.dump(meta, f, indent=1)
    except OSError as e:  # a full disk: the previous state stays; name the folder
        fileio.rmtree(tmp, ignore_errors=True)
        raise OSError(e.errno, e.strerror or str(e), final) from None
    fileio.rmtree(old, ignore_errors=True)
    if fileio.exists(final):
        fileio.replace(final, old, last=(_META,))
    fileio.replace(tmp, final, last=(_META,))  # remote: file by file, the marker last
    fileio.rmtree(old, ignore_errors=True)
    return final


def find_state(model_dir: str) -> Optional[str]:
    """The saved state's directory, or None: the first of ``resume``, ``resume.old`` and
    ``resume.tmp`` that holds both its files. A save interrupted between its two renames
    left the previous state in ``resume.old``. On an object store a rename moves the files
    one by one, ``state.json`` last, so a folder mid-move can hold ``state.json`` without
    the arrays; at every moment of a save one of the three is whole."""
    for name in (STATE_DIR, STATE_DIR + ".old", STATE_DIR + ".tmp"):
        path = os.path.join(model_dir, name)
        if all(fileio.exists(os.path.join(path, f)) for f in (_META, _ARRAYS)):
            return path
    return None


def load_state(path: str, model, optimizer) -> Dict[str, Any]:
    """Restores the variables; returns the loop's meta. A mismatch names the variable."""
    with fileio.open(os.path.join(path, _META)) as f:
        meta = json.load(f)
    with fileio.open(os.path.join(path, _ARRAYS), "rb") as f, np.load(f) as data:
        for prefix, variables in (("model", model.variables),
                                  ("optimizer", optimizer.variables)):
            saved = sorted(k for k in data.files if k.startswith(prefix + "/"))
            if len(saved) != len(variables):
                raise ValueError(
                    f"{path}: the saved state has {len(saved)} {prefix} variables, this "
                    f"{prefix} has {len(variables)}; was it trained with other flags?")
            for key, v in zip(saved, variables):
                value = data[key]
                if tuple(value.shape) != tuple(v.shape):
                    raise ValueError(f"{path}: {prefix} variable {v.path} has shape "
                                     f"{tuple(v.shape)}, the saved state {value.shape}")
                v.assign(value)
    return meta
