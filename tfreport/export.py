"""SavedModel export: encoded frontal and lateral images in, report text out, all in TF ops
(decoding included), so TF Serving or ``tf.saved_model.load`` need no tfreport code.

The signature ``serving_default`` takes two string tensors of shape [batch]: PNG or JPEG bytes
of each study's frontal and lateral view (an empty string: no lateral view, masked as in
training) and returns ``{"report": [batch] strings}``, the text ``generate.py`` prints.
Images are read by ``tfreport.data.images.decode_upload``: the rule ingest stores them by.

The export goes to ``OUT/<version>/`` (1, 2, ...), the layout TF Serving polls: ``OUT`` is the
model's base path and the highest version is served. ``latest_version(OUT)`` is the folder
``tf.saved_model.load`` takes. Files go through ``tfreport.fileio`` (``tf.io.gfile`` for URLs), so OUT may be on gs://.
"""
from __future__ import annotations

import shlex
from typing import List, Optional

import keras
import tensorflow as tf

from tfreport import fileio
from tfreport.data.images import decode_upload
from tfreport.decoding import Decoder
from tfreport.vocab import END_ID, PAD_ID, START_ID

SAVED_MODEL = "saved_model.pb"


def ids_to_text(ids: tf.Tensor, tokens: tf.Tensor, hierarchical: bool) -> tf.Tensor:
    """Decoded ids -> [B] report strings, as ``Vocabulary.decode_*`` + ``join_report``:
    sentences end at ``</S>`` and get a period, the report ends at its first empty sentence,
    specials are dropped."""
    ids = tf.cast(ids, tf.int32)
    is_word = (ids != START_ID) & (ids != END_ID) & (ids != PAD_ID)
    strings = tf.gather(tokens, tf.clip_by_value(ids, 0, tf.shape(tokens)[0] - 1))
    if hierarchical:  # [B, S, W]
        before_end = tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=-1, exclusive=True) == 0
        words = is_word & before_end
        empty = ~tf.reduce_any(words, axis=-1)  # [B, S]
        alive = tf.cumsum(tf.cast(empty, tf.int32), axis=1) == 0
        sentences = tf.strings.reduce_join(tf.ragged.boolean_mask(strings, words), axis=-1,
                                           separator=" ") + "."
        return tf.strings.reduce_join(tf.ragged.boolean_mask(sentences, ~empty & alive),
                                      axis=-1, separator=" ")
    # [B, T]: an </S> right after another (or first) is the empty closing sentence; every
    # other </S> ends a sentence and becomes its period
    is_end = ids == END_ID
    prev_end = tf.concat([tf.ones_like(is_end[:, :1]), is_end[:, :-1]], axis=1)
    alive = tf.cumsum(tf.cast(is_end & prev_end, tf.int32), axis=1) == 0
    kept = (is_word | (is_end & ~prev_end)) & alive
    strings = tf.where(is_end, ".", strings)
    text = tf.strings.reduce_join(tf.ragged.boolean_mask(strings, kept), axis=-1, separator=" ")
    text = tf.strings.regex_replace(text, r" \.", ".")
    unended = (text != "") & ~tf.strings.regex_full_match(text, r".*\.")  # cut at max length
    return tf.where(unended, text + ".", text)


def serving_fn(model, vocab, beam_size: int):
    """The function behind the signature (also usable eagerly, for tests)."""
    decoder = Decoder(model, vocab, beam_size)
    tokens = tf.constant(vocab.tokens)
    size = model.config.image_size

    def serve(frontal: tf.Tensor, lateral: tf.Tensor):
        decode = lambda b: decode_upload(b, size)  # noqa: E731
        spec = tf.TensorSpec([size, size, 1], tf.float32)
        batch = {"frontal": tf.map_fn(decode, frontal, fn_output_signature=spec),
                 "lateral": tf.map_fn(decode, lateral, fn_output_signature=spec),
                 "lateral_present": tf.cast(tf.strings.length(lateral) > 0, tf.float32)}
        ids = decoder._decode(batch)
        return {"report": ids_to_text(ids, tokens, model.hierarchical)}

    return serve


def write_savedmodel(model_path: str, path: str, beam_size: int = 3) -> None:
    """The SavedModel itself (``serving_default``: frontal, lateral -> report) in ``path``."""
    from tfreport.inference import ReportGenerator
    gen = ReportGenerator.from_path(model_path)
    archive = keras.export.ExportArchive()
    archive.track(gen.model)
    signature = [tf.TensorSpec([None], tf.string, name="frontal"),
                 tf.TensorSpec([None], tf.string, name="lateral")]
    archive.add_endpoint("serve", serving_fn(gen.model, gen.vocab, beam_size),
                         input_signature=signature)
    archive.write_out(path, verbose=False)


def versions(base: str) -> List[int]:
    """The numbered version folders in ``base`` (TF Serving's model base path), sorted; a
    missing ``base`` has none."""
    if not fileio.isdir(base):
        return []
    names = [n.rstrip("/") for n in fileio.listdir(base)]
    return sorted(int(n) for n in names
                  if n.isdigit() and fileio.isdir(_join(base, n)))


def latest_version(base: str) -> str:
    """The folder of ``base``'s highest version (what TF Serving serves by default): where
    ``tf.saved_model.load`` reads an export. ``base`` may also be a version folder itself,
    or an unversioned export from before versions existed."""
    if fileio.exists(_join(base, SAVED_MODEL)):
        return base
    found = versions(base)
    if not found:
        raise FileNotFoundError(f"{base}: no SavedModel here and no numbered version folder "
                                "(export.py writes OUT/<version>/saved_model.pb)")
    return _join(base, str(found[-1]))


def export(model_path: str, out: str, beam_size: int = 3, version: Optional[int] = None,
           overwrite: bool = False) -> str:
    """Writes the SavedModel to ``out/<version>/`` (TF Serving's layout: ``out`` is the model's
    base path) and returns that folder.

    ``version`` defaults to one past the highest numbered folder in ``out`` (1 when there is
    none). An existing version is replaced only with ``overwrite``. The export is built in
    ``out/<version>.partial`` (not a number, so TF Serving ignores it) and renamed when
    complete, so a server polling ``out`` never loads half an export.
    """
    out = out.rstrip("/") or out
    if fileio.exists(_join(out, SAVED_MODEL)):
        raise FileExistsError(
            f"{out}: holds a SavedModel written straight into it (the layout before version "
            "folders); TF Serving wants OUT/<version>/. Give a new --out, or move its files "
            f"into {_join(out, '1')} first")
    if version is None:
        version = (versions(out) or [0])[-1] + 1
    if version < 1:
        raise ValueError(f"--version must be a positive integer, got {version}")
    target = _join(out, str(version))
    if fileio.exists(target) and not overwrite:
        raise FileExistsError(f"{target}: version {version} exists; nothing was changed. Add "
                              "--overwrite to replace it, or leave out --version to write "
                              f"version {versions(out)[-1] + 1}")
    fileio.makedirs(out)
    partial = target + ".partial"
    if fileio.exists(partial):  # a killed earlier export
        fileio.rmtree(partial)
    write_savedmodel(model_path, partial, beam_size)
    old = target + ".old"
    if fileio.exists(target):  # --overwrite: moved aside, removed once the new is in
        if fileio.exists(old):
            fileio.rmtree(old)
        fileio.replace(target, old)
    fileio.replace(partial, target, last=(SAVED_MODEL,))
    if fileio.exists(old):
        fileio.rmtree(old)
    return target


def cli_examples(version_dir: str) -> str:
    """How to inspect and run an export with ``saved_model_cli`` (printed by export.py).

    ``run`` feeds the string inputs from a .npz of the encoded image bytes: ``--input_exprs``
    only takes Python literals, and bytes of a PNG do not fit on a command line."""
    d = shlex.quote(version_dir)
    base = shlex.quote(version_dir.rstrip("/").rsplit("/", 1)[0] or ".")
    return "\n".join([
        "Inspect the signature:",
        f"  saved_model_cli show --dir {d} --tag_set serve --signature_def serving_default",
        "Run it on one study (frontal.png and lateral.png: any PNG or JPEG files):",
        "  python -c \"import numpy as np; r = lambda p: open(p, 'rb').read(); "
        "np.savez('study.npz', frontal=np.array([r('frontal.png')], object), "
        "lateral=np.array([r('lateral.png')], object))\"",
        f"  saved_model_cli run --dir {d} --tag_set serve --signature_def serving_default "
        "--inputs 'frontal=study.npz[frontal];lateral=study.npz[lateral]'",
        "Serve every version in the folder with TF Serving (REST on port 8501):",
        f"  docker run -p 8501:8501 -v \"$(realpath {base}):/models/report\" "
        "-e MODEL_NAME=report tensorflow/serving",
    ])


def _join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts)  # gs:// and ram:// paths keep their scheme
