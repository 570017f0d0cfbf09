"""Decoding, in one place: greedy and beam search over an incremental cache.

Word-level search uses the keras-nlp (keras-hub) samplers with a ``next(prompt, cache,
index)`` function; the cache is the model's recurrent state plus its visual context, so
beams carry both. Hierarchical models pick sentences greedily, one after another, and
stop at the first empty sentence (or at ``max_sentences``).
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import tensorflow as tf
import keras_hub
from keras import ops, tree

from tfreport.vocab import END_ID, PAD_ID, START_ID, Vocabulary


def sampler_for(beam_size: int):
    if beam_size <= 1:
        return keras_hub.samplers.GreedySampler()
    return keras_hub.samplers.BeamSampler(num_beams=beam_size)


def end_at_first_stop(tokens):
    """Everything after the first ``</S>`` becomes PAD (the sampler keeps writing)."""
    is_end = ops.cast(ops.equal(tokens, END_ID), "int32")
    after = ops.cumsum(is_end, axis=1) - is_end  # > 0 strictly after the first </S>
    return ops.where(after > 0, ops.cast(PAD_ID, tokens.dtype), tokens)


def finished(prompt, index, flat: bool):
    """[B] bool: has the sequence ended? A sentence ends at its ``</S>``; a flat report at
    its empty sentence (``</S>`` right after ``<S>`` or after another ``</S>``)."""
    written = ops.arange(ops.shape(prompt)[1])[None, :] < index
    is_end = ops.logical_and(ops.equal(prompt, END_ID), written)
    if not flat:
        return ops.any(is_end, axis=1)
    prev = prompt[:, :-1]
    after_end = ops.logical_or(ops.equal(prev, END_ID), ops.equal(prev, START_ID))
    return ops.any(ops.logical_and(is_end[:, 1:], after_end), axis=1)


def finished_stay_finished(prompt, index, logits, flat: bool = False):
    """A sequence that has ended can only write ``</S>`` again, at no cost.

    The samplers keep stepping until every sequence has ended; without this, a finished
    beam would keep adding log-probabilities, and which beam wins would depend on the
    other studies in the batch.
    """
    done = finished(prompt, index, flat)
    vocab = ops.shape(logits)[-1]
    only_end = ops.where(ops.arange(vocab)[None, :] == END_ID, 0.0, -1e9)
    logits = ops.cast(logits, "float32")
    return ops.where(done[:, None], ops.cast(only_end, "float32"), logits)


def block_repeated_trigrams(prompt, index, logits):
    """Bans every token that would repeat a trigram already written (trigram blocking)."""
    a = ops.take(prompt, ops.maximum(index - 2, 0), axis=1)
    b = ops.take(prompt, index - 1, axis=1)
    first, second, third = prompt[:, :-2], prompt[:, 1:-1], prompt[:, 2:]
    written = (ops.arange(ops.shape(third)[1]) + 2 < index)[None, :]
    match = ops.logical_and(ops.logical_and(ops.equal(first, a[:, None]),
                                            ops.equal(second, b[:, None])), written)
    match = ops.logical_and(match, index >= 2)
    vocab = ops.shape(logits)[-1]
    banned = ops.any(ops.logical_and(ops.one_hot(third, vocab) > 0, match[..., None]), axis=1)
    return ops.where(banned, ops.cast(-1e9, logits.dtype), logits)


def end_flat_report(tokens):
    """Everything after a flat report's empty sentence becomes PAD."""
    b = ops.shape(tokens)[0]
    prev = ops.concatenate([ops.full((b, 1), START_ID, tokens.dtype), tokens[:, :-1]], axis=1)
    stop = ops.logical_and(ops.equal(tokens, END_ID),
                           ops.logical_or(ops.equal(prev, END_ID), ops.equal(prev, START_ID)))
    stop = ops.cast(stop, "int32")
    after = ops.cumsum(stop, axis=1) - stop
    return ops.where(after > 0, ops.cast(PAD_ID, tokens.dtype), tokens)


def decode_words(model, state, context, max_words: int, beam_size: int, flat: bool = False,
                 block_trigrams: bool = False):
    """One sentence per study, [B, max_words] ids ending in ``</S>`` (or cut at max); with
    ``flat``, a whole report ending in an empty sentence."""
    b = ops.shape(state[0] if isinstance(state, (list, tuple)) else state)[0]
    prompt = ops.concatenate([ops.full((b, 1), START_ID, "int32"),
                              ops.full((b, max_words), PAD_ID, "int32")], axis=1)
    mask = ops.concatenate([ops.ones((b, 1), "bool"), ops.zeros((b, max_words), "bool")], axis=1)

    # The visual context is constant within a study's beams, so it stays out of the sampler's
    # cache (which the beam sampler gathers at every step) and is repeated once, in the
    # sampler's beam order, instead.
    if beam_size > 1:
        context = tree.map_structure(lambda x: ops.repeat(x, beam_size, axis=0), context)

    def next_fn(prompt, cache, index):
        token = ops.take(prompt, index - 1, axis=1)
        logits, new_state = model.word_step(token, cache, context)
        if block_trigrams:
            logits = block_repeated_trigrams(prompt, index, ops.cast(logits, "float32"))
        return finished_stay_finished(prompt, index, logits, flat), None, new_state

    # A flat report cannot stop on the first </S>: it runs to max_words, finished
    # sequences writing only </S> at no cost.
    out = sampler_for(beam_size)(next_fn, prompt, cache=state, index=1, mask=mask,
                                 stop_token_ids=None if flat else [END_ID])
    return end_flat_report(out[:, 1:]) if flat else end_at_first_stop(out[:, 1:])


def decode_flat(model, batch, beam_size: int = 3, block_trigrams: bool = False):
    """[B, max_tokens] ids of whole reports."""
    context = model.encode(batch, training=False)
    state = model.initial_state(context, training=False)
    return decode_words(model, state, context, model.config.max_tokens, beam_size, flat=True,
                        block_trigrams=block_trigrams)


VISUAL_KEYS = ("frontal", "lateral", "lateral_present", "grids", "view_mask")


def decode_hierarchical(model, batch, beam_size: int = 3, block_trigrams: bool = False):
    """[B, S, W] ids: sentence by sentence (beam search over each sentence's words, the
    sentences chosen greedily), each fed back as the next one's input. A model with a stop
    head ends a report when P(stop) > 0.5; the rows after it become empty sentences, so
    every model's report ends at its first empty sentence."""
    c = model.config
    context = model.encode(batch, training=False)
    sentence_state = model.begin_report(context)
    b = ops.shape(context["visual"])[0]
    empty = ops.concatenate([ops.full((b, 1), END_ID, "int32"),
                             ops.full((b, c.max_words - 1), PAD_ID, "int32")], axis=1)
    stopped = ops.zeros((b,), "bool")
    prev, sentences = None, []
    for _ in range(c.max_sentences):
        state, sentence_state, p_stop = model.begin_sentence(context, prev, sentence_state)
        words = decode_words(model, state, context, c.max_words, beam_size,
                             block_trigrams=block_trigrams)
        words = ops.where(stopped[:, None], empty, ops.cast(words, "int32"))
        if p_stop is not None:
            stopped = ops.logical_or(stopped, p_stop > 0.5)
        sentences.append(words)
        prev = words
    return ops.stack(sentences, axis=1)


class Decoder:
    """Compiles the decoding function once per model and beam size."""

    def __init__(self, model, vocab: Vocabulary, beam_size: int = 3,
                 block_trigrams: bool = False):
        self.model, self.vocab, self.beam_size = model, vocab, beam_size
        self.block_trigrams = block_trigrams
        self._fn = tf.function(self._decode, reduce_retracing=True)

    def _decode(self, visual):
        if self.model.hierarchical:
            return decode_hierarchical(self.model, visual, self.beam_size, self.block_trigrams)
        return decode_flat(self.model, visual, self.beam_size, self.block_trigrams)

    def ids(self, batch: Dict[str, tf.Tensor]) -> np.ndarray:
        """Decodes a batch of images, or of cached grids."""
        return self._fn({k: batch[k] for k in VISUAL_KEYS if k in batch}).numpy()

    def reports(self, batch: Dict[str, tf.Tensor]) -> List[List[str]]:
        """Sentence lists for every study in the batch."""
        decode = self.vocab.decode_report if self.model.hierarchical else self.vocab.decode_flat
        return [decode(r) for r in self.ids(batch)]
