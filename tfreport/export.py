"""SavedModel export: encoded frontal and lateral images in, report text out, all in TF ops
(decoding included), so TF Serving or ``tf.saved_model.load`` need no tfreport code.

The signature ``serving_default`` takes two string tensors of shape [batch]: PNG or JPEG bytes
of each study's frontal and lateral view (an empty string: no lateral view, masked as in
training) and returns ``{"report": [batch] strings}``, the text ``generate.py`` prints.
"""
from __future__ import annotations

import os
import shutil

import keras
import tensorflow as tf

from tfreport.data.pipeline import decode_image
from tfreport.decoding import Decoder
from tfreport.vocab import END_ID, PAD_ID, START_ID


def ids_to_text(ids: tf.Tensor, tokens: tf.Tensor, hierarchical: bool) -> tf.Tensor:
    """Decoded ids -> [B] report strings, as ``Vocabulary.decode_*`` + ``join_report``:
    sentences end at ``</S>``, the report at its first empty sentence, specials dropped."""
    ids = tf.cast(ids, tf.int32)
    is_word = (ids != START_ID) & (ids != END_ID) & (ids != PAD_ID)
    if hierarchical:  # [B, S, W]
        before_end = tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=-1, exclusive=True) == 0
        words = is_word & before_end
        empty = ~tf.reduce_any(words, axis=-1)  # [B, S]
        alive = tf.cumsum(tf.cast(empty, tf.int32), axis=1) == 0
        kept = words & alive[..., None]
        b = tf.shape(ids)[0]
        ids, kept = tf.reshape(ids, [b, -1]), tf.reshape(kept, [b, -1])
    else:  # [B, T]: an </S> right after another (or first) is the empty closing sentence
        is_end = ids == END_ID
        prev_end = tf.concat([tf.ones_like(is_end[:, :1]), is_end[:, :-1]], axis=1)
        closing = is_end & prev_end
        alive = tf.cumsum(tf.cast(closing, tf.int32), axis=1) == 0
        kept = is_word & alive
    strings = tf.gather(tokens, tf.clip_by_value(ids, 0, tf.shape(tokens)[0] - 1))
    return tf.strings.reduce_join(tf.ragged.boolean_mask(strings, kept), axis=-1, separator=" ")


def serving_fn(model, vocab, beam_size: int):
    """The function behind the signature (also usable eagerly, for tests)."""
    decoder = Decoder(model, vocab, beam_size)
    tokens = tf.constant(vocab.tokens)
    size = model.config.image_size

    def serve(frontal: tf.Tensor, lateral: tf.Tensor):
        decode = lambda b: decode_image(b, size)  # noqa: E731
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
