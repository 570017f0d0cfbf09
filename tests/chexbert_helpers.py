"""A tiny CheXbert checkpoint in the published layout, for tests (no weights needed)."""
import os

import numpy as np

from tfreport import chexbert
from tfreport import chexbert_checkpoint as cc

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "no", "pleural", "effusion",
         "or", "pneumothorax", "the", "heart", "is", "enlarged", "there", "a", "large", "right",
         "lungs", "are", "clear", "size", "normal", "##s", "focal", "consolidation"]


def vocab_file(tmp_path):
    path = os.path.join(str(tmp_path), "vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    return path


def tiny_config():
    return chexbert.CheXbertConfig.tiny(vocabulary_size=len(VOCAB))


def random_state(config, scale=0.5, seed=0):
    """A checkpoint in the published layout (names, shapes, module. prefix), random values.
    Large weights make the encoder far from linear, so a wrong mapping or activation shows."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, shape in cc.published_layout(config).items():
        if name.endswith("LayerNorm.weight"):
            state[name] = (1 + 0.1 * rng.standard_normal(shape)).astype("float32")
        else:
            state[name] = (scale * rng.standard_normal(shape)).astype("float32")
    return state


def convert_tiny(folder: str) -> str:
    """Converts a random tiny checkpoint into ``folder``/chexbert; returns that folder."""
    os.makedirs(folder, exist_ok=True)
    config = tiny_config()
    ckpt = os.path.join(folder, "chexbert.npz")
    np.savez(ckpt, **random_state(config))
    out = os.path.join(folder, "chexbert")
    cc.convert(ckpt, vocab_file(folder), out, num_heads=config.num_heads)
    return out
