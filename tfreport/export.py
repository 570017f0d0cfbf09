"""SavedModel export: encoded frontal and lateral images in, report text out, all in TF ops
(decoding included), so TF Serving or ``tf.saved_model.load`` need no tfreport code.

The signature ``serving_default`` takes two string tensors of shape [batch]: PNG or JPEG bytes
of each study's frontal and lateral view (an empty string: no lateral view, masked as in
training) and returns ``{"report": [batch] strings}``, the text ``generate.py`` prints.
Images are read by ``tfreport.data.images.decode_upload``: the rule ingest stores them by.
"""
from __future__ import annotations

import os
import shutil

import keras
import tensorflow as tf

from tfreport.data.images import decode_upload
from tfreport.decoding import Decoder
from tfreport.vocab import END_ID, PAD_ID, START_ID


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


def export(model_path: str, out: str, beam_size: int = 3) -> str:
    """Writes the SavedModel to ``out`` (built in ``out.partial`` and renamed at the end)."""
    from tfreport.inference import ReportGenerator
    gen = ReportGenerator.from_path(model_path)
    archive = keras.export.ExportArchive()
    archive.track(gen.model)
    signature = [tf.TensorSpec([None], tf.string, name="frontal"),
                 tf.TensorSpec([None], tf.string, name="lateral")]
    archive.add_endpoint("serve", serving_fn(gen.model, gen.vocab, beam_size),
                         input_signature=signature)
    partial = out.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    archive.write_out(partial, verbose=False)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.replace(partial, out)
    return out
