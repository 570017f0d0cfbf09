"""Decoding, in one place: greedy and beam search over an incremental cache.

Word-level search runs ``tfreport.search``'s loops (the keras-hub samplers' arithmetic,
stopping once every sequence and beam has ended) over a ``next(prompt, cache, index)``
function; the cache is the model's recurrent state, and the visual context is kept per study
outside it (``model.context_for_beams``). Hierarchical models pick sentences greedily, one
after another, in one graph loop over sentences.

Where a report ends is a decision of its own. A hierarchical model without a stop head
(MRNA, legacy Hier-RNN) ends its report with an empty sentence, a lone ``</S>``; its
probability at a sentence's first step is the model's probability that the report ends
there. Searching over that one-token sentence and the real ones together, as beam search
would, compares P(end) with the probability of the single best *whole* sentence, which is
far smaller than the probability of going on at all: the empty sentence wins long before the
model thinks the report is over, and reports stop after a sentence or two (issue #15). So
the report ends when P(end) > 0.5, as a stop head's P(stop) > 0.5 does, and otherwise the
sentence is searched with the empty sentence ruled out.

Beam search can rank its finished beams by GNMT's length penalty, score / ((5 + |y|) / 6)
** alpha (``length_penalty`` alpha; 0 keeps raw log-probabilities).
"""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
import keras_hub
from keras import ops, tree

from tfreport.search import search
from tfreport.vocab import END_ID, PAD_ID, START_ID, Vocabulary


# GNMT's alpha for ranking finished beams; measured on validation (docs/mrna_reports.md):
# it moved BLEU-4 by .001 once the report's end is decided apart, so it is off by default.
DEFAULT_LENGTH_PENALTY = 0.0
STOP_THRESHOLD = 0.5  # a report ends when P(end) exceeds this


def sampler_for(beam_size: int, return_all_beams: bool = False):
    if beam_size <= 1:
        return keras_hub.samplers.GreedySampler()
    return keras_hub.samplers.BeamSampler(num_beams=beam_size, return_all_beams=return_all_beams)


def length_normalised_best(beams, scores, flat: bool, alpha: float):
    """[B, K, L] beams and [B, K] log-probabilities -> [B, L], the beam with the best
    score / ((5 + length) / 6) ** alpha (GNMT), length counted up to the sequence's end."""
    k, length = ops.shape(beams)[1], ops.shape(beams)[2]
    words = ops.reshape(beams[:, :, 1:], (-1, length - 1))
    ended = end_flat_report(words) if flat else end_at_first_stop(words)
    lengths = ops.sum(ops.cast(ops.not_equal(ended, PAD_ID), "float32"), axis=1)
    penalty = ops.power((5.0 + ops.reshape(lengths, (-1, k))) / 6.0, alpha)
    best = ops.argmax(ops.cast(scores, "float32") / penalty, axis=1)
    return ops.take_along_axis(beams, best[:, None, None], axis=1)[:, 0]


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


def ban_empty_sentence(index, logits):
    """No ``</S>`` as a sentence's first word: the report's end is decided apart."""
    vocab = ops.shape(logits)[-1]
    banned = ops.logical_and(ops.arange(vocab)[None, :] == END_ID, index == 1)
    return ops.where(banned, ops.cast(-1e9, logits.dtype), logits)


def repeats(candidates, written, count):
    """[B, K] bool: candidate sentence k ([B, K, W] ids, ended) equals one of the first
    ``count`` sentences of ``written`` ([B, S, W], ended) for that study."""
    same = ops.all(ops.equal(candidates[:, :, None], ops.cast(written, candidates.dtype)[:, None]),
                   axis=-1)  # [B, K, S]
    earlier = ops.arange(ops.shape(written)[1]) < count
    return ops.any(ops.logical_and(same, earlier[None, None]), axis=-1)


def decode_words(model, state, context, max_words: int, beam_size: int, flat: bool = False,
                 block_trigrams: bool = False, ban_empty: bool = False,
                 length_penalty: float = 0.0, sampler=None, avoid=None, rows_done=None,
                 every_beam: bool = False):
    """One sentence per study, [B, max_words] ids ending in ``</S>`` (or cut at max); with
    ``flat``, a whole report ending in an empty sentence; with ``ban_empty``, never the
    empty sentence; with a ``sampler`` (a keras-hub RandomSampler), one sample instead of
    the search. The search stops once every sequence has ended; ``rows_done`` ([B] bool)
    marks studies whose words are not needed (their report has ended), so they do not keep
    it going.

    ``every_beam``: every beam of each study instead of the best, [B * beams, max_words],
    each study's beams together, best first (SCST's beam samples).

    ``avoid`` (earlier sentences of the report, [B, S, W] with ``avoid_count`` rows
    written, as a pair) asks for the best beam that repeats none of them, and returns
    ``(words, only_repeats)``: [B] true where every candidate (the one, without a beam)
    repeats an earlier sentence."""
    b = ops.shape(tree.flatten(state)[0])[0]
    prompt = ops.concatenate([ops.full((b, 1), START_ID, "int32"),
                              ops.full((b, max_words), PAD_ID, "int32")], axis=1)
    mask = ops.concatenate([ops.ones((b, 1), "bool"), ops.zeros((b, max_words), "bool")], axis=1)

    # The visual context is the same for all of a study's beams, so it stays out of the
    # search's state (which beam search reorders at every step). The model repeats it
    # for the beams once, or reads it per study (M2 folds the beams into its queries).
    beams = 1 if sampler is not None else max(1, beam_size)
    if beams > 1:
        context = model.context_for_beams(context, beams)
        if rows_done is not None:
            rows_done = ops.repeat(rows_done, beams, axis=0)

    def next_fn(prompt, cache, index):
        token = ops.take(prompt, index - 1, axis=1)
        logits, new_state = model.word_step(token, cache, context)
        logits = ops.cast(logits, "float32")
        if block_trigrams:
            logits = block_repeated_trigrams(prompt, index, logits)
        if ban_empty:
            logits = ban_empty_sentence(index, logits)
        return finished_stay_finished(prompt, index, logits, flat), None, new_state

    def done(prompt, index):
        ended = finished(prompt, index, flat)
        return ended if rows_done is None else ops.logical_or(ended, rows_done)

    all_beams = beams > 1 and (length_penalty > 0 or avoid is not None or every_beam)
    out = search(next_fn, prompt, state, 1, mask, done,
                 sampler if sampler is not None else sampler_for(beams), beams, all_beams,
                 full_stream=flat)  # a flat report's loop used to run every step
    if every_beam and all_beams:
        words = ops.reshape(out[0][:, :, 1:], (-1, ops.shape(out[0])[2] - 1))
        return end_flat_report(words) if flat else end_at_first_stop(words)
    if avoid is not None:
        return _best_new_sentence(out, all_beams, avoid, length_penalty)
    if all_beams:
        out = length_normalised_best(*out, flat=flat, alpha=length_penalty)
    return end_flat_report(out[:, 1:]) if flat else end_at_first_stop(out[:, 1:])


def _best_new_sentence(out, all_beams: bool, avoid, alpha: float):
    """The best candidate sentence that repeats none of ``avoid`` ((written, count)), and
    whether every candidate did."""
    if not all_beams:  # greedy or a sample: one candidate
        words = end_at_first_stop(out[:, 1:])
        only = repeats(words[:, None], *avoid)[:, 0]
        return words, only
    beams, scores = out
    k, length = ops.shape(beams)[1], ops.shape(beams)[2]
    words = ops.reshape(end_at_first_stop(ops.reshape(beams[:, :, 1:], (-1, length - 1))),
                        (-1, k, length - 1))
    lengths = ops.sum(ops.cast(ops.not_equal(words, PAD_ID), "float32"), axis=2)
    score = ops.cast(scores, "float32") / ops.power((5.0 + lengths) / 6.0, alpha)
    repeated = repeats(words, *avoid)
    best = ops.argmax(ops.where(repeated, -1e9, score), axis=1)
    return (ops.take_along_axis(words, best[:, None, None], axis=1)[:, 0],
            ops.all(repeated, axis=1))


def end_probability(model, state, context):
    """[B] P(the sentence about to start is the empty one), i.e. P(the report ends here)."""
    b = ops.shape(state[0])[0]
    logits, _ = model.word_step(ops.full((b,), START_ID, "int32"), state, context)
    return ops.softmax(ops.cast(logits, "float32"), axis=-1)[:, END_ID]


def decode_flat(model, batch, beam_size: int = 3, block_trigrams: bool = False,
                length_penalty: float = 0.0, sampling=None, every_beam: bool = False):
    """[B, max_tokens] ids of whole reports (one sample each with ``sampling``); with
    ``every_beam``, [B * beam_size, max_tokens]: all of each study's beams, best first."""
    context = model.encode(batch, training=False)
    state = model.initial_state(context, training=False)
    return decode_words(model, state, context, model.config.max_tokens, beam_size, flat=True,
                        block_trigrams=block_trigrams, length_penalty=length_penalty,
                        sampler=sampling.sampler if sampling else None, every_beam=every_beam)


VISUAL_KEYS = ("frontal", "lateral", "lateral_present", "grids", "view_mask")


def decode_hierarchical(model, batch, beam_size: int = 3, block_trigrams: bool = False,
                        length_penalty: float = 0.0, sampling=None, no_repeat: bool = False):
    """[B, S, W] ids: sentence by sentence (beam search over each sentence's words, the
    sentences chosen greedily), each fed back as the next one's input. A model with a stop
    head ends a report when P(stop) > 0.5 after a sentence; one without ends it where
    P(empty sentence) > 0.5 (see the module docstring). The rows after the end are empty
    sentences, so every model's report ends at its first empty sentence. With ``sampling``
    the words are sampled and the report ends with probability P(end) (or P(stop)).

    ``no_repeat``: no sentence twice in a report. Each sentence is the best beam that
    repeats no earlier sentence; where every candidate repeats one (always, for greedy or a
    sample), the report ends there: the model has nothing new to say.

    The first sentence (which has no previous one) is decoded on its own, the rest in one
    graph loop over sentences: the graph holds two sentence decoders, not max_sentences,
    so it traces in a fraction of the time. A search stops once every report has ended; a
    sampled one runs every sentence, so that it draws the random numbers it always drew."""
    c = model.config
    context = model.encode(batch, training=False)
    b = ops.shape(context["visual"])[0]
    empty = ops.concatenate([ops.full((b, 1), END_ID, "int32"),
                             ops.full((b, c.max_words - 1), PAD_ID, "int32")], axis=1)
    sampler = sampling.sampler if sampling else None

    def sentence(prev, sentence_state, stopped, written, count):
        state, sentence_state, p_stop = model.begin_sentence(context, prev, sentence_state)
        if p_stop is None:  # the empty sentence is the stop: decide it before the words
            stopped = ops.logical_or(stopped, _ends(end_probability(model, state, context),
                                                    sampling))
        avoid = (written, count) if no_repeat and prev is not None else None
        words = decode_words(model, state, context, c.max_words, beam_size,
                             block_trigrams=block_trigrams, ban_empty=True,
                             length_penalty=length_penalty, sampler=sampler, avoid=avoid,
                             rows_done=None if sampling else stopped)
        if avoid is not None:
            words, only_repeats = words
            stopped = ops.logical_or(stopped, only_repeats)
        words = ops.where(stopped[:, None], empty, ops.cast(words, "int32"))
        if p_stop is not None:
            stopped = ops.logical_or(stopped, _ends(p_stop, sampling))
        written = ops.slice_update(written, [0, count, 0], words[:, None])
        return words, _as_loop_var(sentence_state), stopped, written, count + 1

    written = ops.repeat(empty[:, None], c.max_sentences, axis=1)  # rows not reached stay empty
    loop_vars = sentence(None, model.begin_report(context), ops.zeros((b,), "bool"), written,
                         ops.convert_to_tensor(0, "int32"))

    def cond(prev, sentence_state, stopped, written, count):
        going = count < c.max_sentences
        return going if sampling else ops.logical_and(going, ops.logical_not(ops.all(stopped)))

    def body(prev, sentence_state, stopped, written, count):
        return sentence(prev, _from_loop_var(sentence_state), stopped, written, count)

    return ops.while_loop(cond, body, loop_vars, maximum_iterations=c.max_sentences - 1)[3]


def _as_loop_var(sentence_state):
    """A loop carries no None: a model without a sentence-level state gets ()."""
    return () if sentence_state is None else sentence_state


def _from_loop_var(sentence_state):
    return None if isinstance(sentence_state, tuple) and not sentence_state else sentence_state


class Sampling:
    """What sampled decoding needs, made once outside the compiled function: a keras-hub
    RandomSampler for the words and a seed generator for the end-of-report draws."""

    def __init__(self, temperature: float = 1.0, seed: Optional[int] = None):
        import keras
        self.sampler = keras_hub.samplers.RandomSampler(temperature=temperature, seed=seed)
        self.seeds = keras.random.SeedGenerator(seed)


def _ends(p_end, sampling: Optional[Sampling]):
    """[B] bool: the report ends here (P > 0.5 when searching; a draw when sampling)."""
    p_end = ops.cast(p_end, "float32")  # a stop head's P under mixed precision is float16
    if sampling is None:
        return p_end > STOP_THRESHOLD
    import keras
    return keras.random.uniform(ops.shape(p_end), seed=sampling.seeds) < p_end


class Decoder:
    """Compiles the decoding function once per model and beam size."""

    def __init__(self, model, vocab: Vocabulary, beam_size: int = 3,
                 block_trigrams: bool = False, length_penalty: Optional[float] = None,
                 mbr_samples: int = 0, temperature: float = 1.0, seed: Optional[int] = 0,
                 no_repeat: bool = False, mbr_no_repeat: bool = True):
        self.model, self.vocab, self.beam_size = model, vocab, beam_size
        # MBR on hierarchical models: never choose a candidate that says a sentence twice
        # when another does not (docs/mrna_reports.md). Flat models decode each word after
        # the whole report so far and rarely repeat one (0.1% of sentences or fewer in the
        # rendered benchmark's second configuration, against 6-9% for MRNA and Hier-RNN).
        self.mbr_no_repeat = bool(mbr_no_repeat)
        self.block_trigrams = block_trigrams
        self.no_repeat = bool(no_repeat)  # hierarchical models: no sentence twice
        self.length_penalty = (DEFAULT_LENGTH_PENALTY if length_penalty is None
                               else float(length_penalty))
        self.mbr_samples = int(mbr_samples)
        self._fn = tf.function(self._decode, reduce_retracing=True)
        if self.mbr_samples:
            self._sampling = Sampling(temperature, seed)
            self._sample_fn = tf.function(self._sample, reduce_retracing=True)

    def _decode(self, visual):
        if self.model.hierarchical:
            return decode_hierarchical(self.model, visual, self.beam_size, self.block_trigrams,
                                       self.length_penalty, no_repeat=self.no_repeat)
        return decode_flat(self.model, visual, self.beam_size, self.block_trigrams,
                           self.length_penalty)

    def _sample(self, visual):
        if self.model.hierarchical:
            return decode_hierarchical(self.model, visual, 1, self.block_trigrams,
                                       sampling=self._sampling, no_repeat=self.no_repeat)
        return decode_flat(self.model, visual, 1, self.block_trigrams, sampling=self._sampling)

    def ids(self, batch: Dict[str, tf.Tensor]) -> np.ndarray:
        """Decodes a batch of images, or of cached grids."""
        return self._fn({k: batch[k] for k in VISUAL_KEYS if k in batch}).numpy()

    def reports(self, batch: Dict[str, tf.Tensor]) -> List[List[str]]:
        """Sentence lists for every study in the batch; with ``mbr_samples``, each study's
        minimum-Bayes-risk choice among the searched report and that many samples (for a
        hierarchical model with ``mbr_no_repeat``, among those that repeat no sentence)."""
        decode = self.vocab.decode_report if self.model.hierarchical else self.vocab.decode_flat
        searched = [decode(r) for r in self.ids(batch)]
        if not self.mbr_samples:
            return searched
        from tfreport.mbr import choose
        visual = {k: batch[k] for k in VISUAL_KEYS if k in batch}
        samples = [[decode(r) for r in self._sample_fn(visual).numpy()]
                   for _ in range(self.mbr_samples)]
        avoid = self.mbr_no_repeat and self.model.hierarchical
        return [choose([searched[i]] + [s[i] for s in samples], avoid_repeats=avoid)
                for i in range(len(searched))]
