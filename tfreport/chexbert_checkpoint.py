"""The published CheXbert checkpoint -> tfreport's Keras CheXbert (``tfreport.chexbert``).

The checkpoint (``chexbert.pth``) is a PyTorch pickle ``{"model_state_dict": {...}, ...}``
saved from ``nn.DataParallel(bert_labeler())``, so every tensor name starts ``module.``:

    module.bert.embeddings.{word,position,token_type}_embeddings.weight
    module.bert.embeddings.LayerNorm.{weight,bias}          (older files: gamma, beta)
    module.bert.encoder.layer.{i}.attention.self.{query,key,value}.{weight,bias}
    module.bert.encoder.layer.{i}.attention.output.dense.{weight,bias}
    module.bert.encoder.layer.{i}.attention.output.LayerNorm.{weight,bias}
    module.bert.encoder.layer.{i}.{intermediate,output}.dense.{weight,bias}
    module.bert.encoder.layer.{i}.output.LayerNorm.{weight,bias}
    module.bert.pooler.dense.{weight,bias}                    (CheXbert does not use it)
    module.linear_heads.{0..12}.{weight [4, 768], bias [4]}   CONDITIONS[:13]
    module.linear_heads.13.{weight [2, 768], bias [2]}        No Finding

torch Linear weights are [out, in]; Keras kernels are [in, out] (attention: [in, heads,
head_dim] and [heads, head_dim, out]). ``read_state_dict`` opens the file with torch when
it is installed and, for PyTorch's zip format (torch >= 1.6), without it; a ``.npz`` of the
same names also works.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import zipfile
from typing import Dict, Mapping, Optional

import numpy as np

from tfreport.chexbert import CheXbertConfig, FILES, build_model, read_vocabulary

# buffers that some transformers versions save and the encoder does not need
_IGNORED = ("bert.embeddings.position_ids",)


def published_layout(config: CheXbertConfig = CheXbertConfig.published(),
                     prefix: str = "module.") -> Dict[str, tuple]:
    """{tensor name: shape} of a checkpoint for ``config`` (the published one by default)."""
    h, f, v = config.hidden_dim, config.intermediate_dim, config.vocabulary_size
    out = {"bert.embeddings.word_embeddings.weight": (v, h),
           "bert.embeddings.position_embeddings.weight": (config.max_sequence_length, h),
           "bert.embeddings.token_type_embeddings.weight": (2, h),
           "bert.embeddings.LayerNorm.weight": (h,), "bert.embeddings.LayerNorm.bias": (h,)}
    for i in range(config.num_layers):
        p = f"bert.encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value",
                     "attention.output.dense"):
            out[p + part + ".weight"], out[p + part + ".bias"] = (h, h), (h,)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            out[p + norm + ".weight"], out[p + norm + ".bias"] = (h,), (h,)
        out[p + "intermediate.dense.weight"], out[p + "intermediate.dense.bias"] = (f, h), (f,)
        out[p + "output.dense.weight"], out[p + "output.dense.bias"] = (h, f), (h,)
    out["bert.pooler.dense.weight"], out["bert.pooler.dense.bias"] = (h, h), (h,)
    for i in range(14):
        classes = 2 if i == 13 else 4
        out[f"linear_heads.{i}.weight"], out[f"linear_heads.{i}.bias"] = (classes, h), (classes,)
    return {prefix + k: v for k, v in out.items()}


# ---------------------------------------------------------------------------------------
# Reading the checkpoint
# ---------------------------------------------------------------------------------------
_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
           "BFloat16Storage": None, "LongStorage": "<i8", "IntStorage": "<i4",
           "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?"}


class _Storage:
    def __init__(self, kind: str):
        self.kind = kind


def _rebuild_tensor(storage, offset, size, stride, *_args):
    """torch._utils._rebuild_tensor_v2 for numpy: a strided view of the storage, copied."""
    itemsize = storage.dtype.itemsize
    if not size:
        return np.array(storage[offset], copy=True)
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * itemsize for s in stride))
    return np.array(view, copy=True)


class _ZipUnpickler(pickle.Unpickler):
    """Reads ``data.pkl`` of a PyTorch zip checkpoint into numpy, allowing only the names a
    state dict needs (no arbitrary code runs)."""

    def __init__(self, file, archive: zipfile.ZipFile, root: str, path: str):
        super().__init__(file)
        self.archive, self.root, self.path = archive, root, path

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            import collections
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _Storage(name)
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda data, *_: data
        raise pickle.UnpicklingError(
            f"{self.path}: holds {module}.{name}, which a CheXbert state dict does not; "
            "install torch to read this file")

    def persistent_load(self, pid):
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage":
            raise pickle.UnpicklingError(f"{self.path}: unknown persistent id {kind!r}")
        dtype = _DTYPES.get(storage_type.kind)
        if dtype is None:
            raise pickle.UnpicklingError(f"{self.path}: {storage_type.kind} tensors need torch")
        return np.frombuffer(self.archive.read(f"{self.root}/data/{key}"), dtype=dtype)


def _read_zip(path: str) -> dict:
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise ValueError(f"{path}: a zip file without data.pkl is not a PyTorch checkpoint")
        root = os.path.dirname(pkl[0])
        with archive.open(pkl[0]) as f:
            return _ZipUnpickler(f, archive, root, path).load()


def read_state_dict(path: str) -> Dict[str, np.ndarray]:
    """{tensor name: numpy array} from a CheXbert checkpoint (.pth/.pt or .npz); the
    ``model_state_dict`` entry when the file holds a training checkpoint."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such checkpoint")
    if path.endswith(".npz"):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file gets the same message
            raise ValueError(f"{path}: torch cannot read it as a checkpoint ({e})") from e
        to_numpy = lambda t: t.detach().float().numpy() if t.is_floating_point() else t.numpy()
    elif zipfile.is_zipfile(path):
        obj, to_numpy = _read_zip(path), np.asarray
    else:
        raise ValueError(f"{path}: not PyTorch's zip format; reading older checkpoints needs "
                         "torch (pip install torch), or convert it to .npz where torch is")
    if isinstance(obj, Mapping) and "model_state_dict" in obj:
        obj = obj["model_state_dict"]
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    return {str(k): to_numpy(v) for k, v in obj.items()}


# ---------------------------------------------------------------------------------------
# Into Keras
# ---------------------------------------------------------------------------------------
def _strip(state: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Drops the ``module.`` prefix and renames gamma/beta to weight/bias."""
    out = {}
    for k, v in state.items():
        k = k[len("module."):] if k.startswith("module.") else k
        k = k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        out[k] = v
    return out


def config_from_state(state: Mapping[str, np.ndarray],
                      num_heads: Optional[int] = None) -> CheXbertConfig:
    """The encoder's sizes, read off the tensors (so a checkpoint of any BERT size loads).
    The head count is not in any tensor's shape: BERT's heads are 64 wide (bert-base: 12)."""
    s = _strip(state)
    need = "bert.embeddings.word_embeddings.weight"
    if need not in s:
        raise ValueError(f"not a CheXbert state dict: no {need!r} (names seen: "
                         f"{', '.join(list(s)[:5])}, ...)")
    vocab, hidden = s[need].shape
    layers = 1 + max(int(k.split(".")[3]) for k in s if k.startswith("bert.encoder.layer."))
    if num_heads is None and hidden % 64:
        raise ValueError(f"hidden size {hidden} is not a multiple of BERT's 64-wide heads; "
                         "give the head count (--num_heads)")
    heads = num_heads or int(hidden) // 64
    return CheXbertConfig(
        vocabulary_size=int(vocab), num_layers=layers, num_heads=heads, hidden_dim=int(hidden),
        intermediate_dim=int(s["bert.encoder.layer.0.intermediate.dense.weight"].shape[0]),
        max_sequence_length=int(s["bert.embeddings.position_embeddings.weight"].shape[0]))


def assign(model, state: Mapping[str, np.ndarray], config: CheXbertConfig) -> None:
    """Copies the checkpoint's tensors into ``build_model(config)``'s weights. Every
    expected tensor must be present with its shape; a tensor left over is an error too
    (a different model), except the buffers in ``_IGNORED``."""
    s = _strip(state)
    layout = published_layout(config, prefix="")
    missing = [k for k in layout if k not in s and not k.startswith("bert.pooler.")]
    if missing:
        raise ValueError(f"the checkpoint lacks {len(missing)} CheXbert tensors, e.g. "
                         f"{missing[:3]}")
    bad = [f"{k}: {tuple(s[k].shape)}, expected {layout[k]}" for k in layout
           if k in s and tuple(s[k].shape) != layout[k]]
    if bad:
        raise ValueError("checkpoint tensors of the wrong shape: " + "; ".join(bad[:3]))
    extra = [k for k in s if k not in layout and k not in _IGNORED]
    if extra:
        raise ValueError(f"the checkpoint has {len(extra)} tensors CheXbert does not, e.g. "
                         f"{extra[:3]}: not a CheXbert checkpoint")
    h, heads = config.hidden_dim, config.num_heads
    head_dim = h // heads
    bert = model.get_layer("bert")

    def put(variable, value):
        variable.assign(np.asarray(value, "float32").reshape(tuple(variable.shape)))

    put(bert.get_layer("token_embedding").embeddings, s["bert.embeddings.word_embeddings.weight"])
    put(bert.get_layer("position_embedding").position_embeddings,
        s["bert.embeddings.position_embeddings.weight"])
    put(bert.get_layer("segment_embedding").embeddings,
        s["bert.embeddings.token_type_embeddings.weight"])
    norm = bert.get_layer("embeddings_layer_norm")
    put(norm.gamma, s["bert.embeddings.LayerNorm.weight"])
    put(norm.beta, s["bert.embeddings.LayerNorm.bias"])
    for i in range(config.num_layers):
        p = f"bert.encoder.layer.{i}."
        block = bert.get_layer(f"transformer_layer_{i}")
        attn = block._self_attention_layer
        for dense, name in ((attn.query_dense, "query"), (attn.key_dense, "key"),
                            (attn.value_dense, "value")):
            put(dense.kernel, s[p + f"attention.self.{name}.weight"].T.reshape(h, heads, head_dim))
            put(dense.bias, s[p + f"attention.self.{name}.bias"].reshape(heads, head_dim))
        put(attn.output_dense.kernel, s[p + "attention.output.dense.weight"].T.reshape(heads, head_dim, h))
        put(attn.output_dense.bias, s[p + "attention.output.dense.bias"])
        put(block._self_attention_layer_norm.gamma, s[p + "attention.output.LayerNorm.weight"])
        put(block._self_attention_layer_norm.beta, s[p + "attention.output.LayerNorm.bias"])
        put(block._feedforward_intermediate_dense.kernel, s[p + "intermediate.dense.weight"].T)
        put(block._feedforward_intermediate_dense.bias, s[p + "intermediate.dense.bias"])
        put(block._feedforward_output_dense.kernel, s[p + "output.dense.weight"].T)
        put(block._feedforward_output_dense.bias, s[p + "output.dense.bias"])
        put(block._feedforward_layer_norm.gamma, s[p + "output.LayerNorm.weight"])
        put(block._feedforward_layer_norm.beta, s[p + "output.LayerNorm.bias"])
    if "bert.pooler.dense.weight" in s:
        pooled = bert.get_layer("pooled_dense")
        put(pooled.kernel, s["bert.pooler.dense.weight"].T)
        put(pooled.bias, s["bert.pooler.dense.bias"])
    heads_layer = model.get_layer("heads")
    put(heads_layer.obs_kernel, np.stack([s[f"linear_heads.{i}.weight"].T for i in range(13)]))
    put(heads_layer.obs_bias, np.stack([s[f"linear_heads.{i}.bias"] for i in range(13)]))
    put(heads_layer.no_finding_kernel, s["linear_heads.13.weight"].T)
    put(heads_layer.no_finding_bias, s["linear_heads.13.bias"])


def from_state_dict(state: Mapping[str, np.ndarray], config: Optional[CheXbertConfig] = None,
                    num_heads: Optional[int] = None):
    """(A Keras CheXbert model holding the checkpoint's weights, its config)."""
    config = config or config_from_state(state, num_heads)
    model = build_model(config)
    assign(model, state, config)
    return model, config


def convert(checkpoint: str, vocab: str, out: str, num_heads: Optional[int] = None) -> CheXbertConfig:
    """Writes the converted folder (``chexbert.FILES``) to ``out``: built beside it under a
    temporary name, renamed when complete, so an interrupted conversion leaves no folder
    that looks usable."""
    vocabulary = read_vocabulary(vocab)
    state = read_state_dict(checkpoint)
    model, config = from_state_dict(state, num_heads=num_heads)
    if len(vocabulary) != config.vocabulary_size:
        raise ValueError(f"{vocab}: {len(vocabulary)} tokens, but {checkpoint} embeds "
                         f"{config.vocabulary_size}; use bert-base-uncased's vocab.txt")
    if os.path.exists(out) and (not os.path.isdir(out)
                                or not set(os.listdir(out)) <= set(FILES)):
        raise FileExistsError(f"{out}: exists and is not a converted CheXbert folder (it holds "
                              "other files); give --out a new or converted folder")
    tmp = out.rstrip("/") + ".converting"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        model.save_weights(os.path.join(tmp, FILES[2]))
        shutil.copyfile(vocab, os.path.join(tmp, FILES[1]))
        with open(os.path.join(tmp, FILES[0]), "w", encoding="utf-8") as f:
            json.dump({"config": config.__dict__, "source": os.path.abspath(checkpoint)}, f, indent=1)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return config
