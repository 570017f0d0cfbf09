"""Decoding that stops when it is done (issue #21) writes what the keras-hub samplers'
full loops wrote: flat reports (greedy, beam, sampled, and the next sampled batch too),
M2's beams read per study, and the hierarchical sentence loop against the unrolled one."""
import numpy as np
import pytest
import tensorflow as tf
import keras
from keras import ops

from tfreport import decoding
from tfreport.decoding import (Sampling, decode_flat, decode_words, end_flat_report,
                               finished_stay_finished, sampler_for)
from tfreport.vocab import END_ID, PAD_ID, START_ID
from model_helpers import overfit, tiny_batch, tiny_model

VISUAL = ("frontal", "lateral", "lateral_present")


@pytest.fixture(scope="module")
def flat_models(tiny_data, tiny_vocab):
    """A CNN-RNN and an M2 trained until their reports end before max_tokens."""
    out = {}
    for name in ("cnn_rnn", "m2_transformer"):
        keras.utils.set_random_seed(0)
        model = tiny_model(name, len(tiny_vocab), max_sentences=8, max_tokens=80)
        batch = tiny_batch(tiny_data, model, n=8)
        overfit(model, batch, steps=80)
        out[name] = (model, {k: batch[k] for k in VISUAL})
    return out


def keras_hub_flat(model, batch, beam_size, sampler=None):
    """The loop tfreport used before: keras-hub's sampler over every one of max_tokens."""
    context = model.encode(batch)
    state = model.initial_state(context)
    b, length = int(batch["frontal"].shape[0]), model.config.max_tokens
    prompt = ops.concatenate([ops.full((b, 1), START_ID, "int32"),
                              ops.full((b, length), PAD_ID, "int32")], axis=1)
    mask = ops.concatenate([ops.ones((b, 1), "bool"), ops.zeros((b, length), "bool")], axis=1)
    if beam_size > 1 and sampler is None:
        context = model.context_for_beams(context, beam_size)

    def next_fn(prompt, cache, index):
        token = ops.take(prompt, index - 1, axis=1)
        logits, new_state = model.word_step(token, cache, context)
        return finished_stay_finished(prompt, index, ops.cast(logits, "float32"), True), None, \
            new_state

    search = sampler or sampler_for(beam_size)
    out = search(next_fn, prompt, cache=state, index=1, mask=mask, stop_token_ids=None)
    return end_flat_report(out[:, 1:])


@pytest.mark.parametrize("name", ["cnn_rnn", "m2_transformer"])
def test_flat_search_writes_what_the_full_keras_hub_loop_wrote(flat_models, name):
    model, batch = flat_models[name]
    for beam in (1, 3):
        new = tf.function(lambda b: decode_flat(model, b, beam))(batch).numpy()
        old = tf.function(lambda b: keras_hub_flat(model, b, beam))(batch).numpy()
        np.testing.assert_array_equal(new, old)
        lengths = np.sum(new != PAD_ID, axis=1)
        assert lengths.max() < model.config.max_tokens  # they end early: the stop matters


@pytest.mark.parametrize("name", ["cnn_rnn", "m2_transformer"])
def test_a_sampled_batch_and_the_next_draw_what_they_drew_before(flat_models, name):
    model, batch = flat_models[name]
    import keras_hub
    new_sampling = Sampling(temperature=1.0, seed=3)
    old_sampler = keras_hub.samplers.RandomSampler(temperature=1.0, seed=3)
    new_fn = tf.function(lambda b: decode_flat(model, b, 1, sampling=new_sampling))
    old_fn = tf.function(lambda b: keras_hub_flat(model, b, 1, sampler=old_sampler))
    for _ in range(2):  # the second batch starts where the first left the seed
        np.testing.assert_array_equal(new_fn(batch).numpy(), old_fn(batch).numpy())


def test_the_search_stops_when_every_beam_has_ended(flat_models):
    model, batch = flat_models["cnn_rnn"]
    steps = []
    step = model.word_step

    def counting(token, state, context):
        steps.append(1)  # eager: one call per executed step
        return step(token, state, context)

    model.word_step = counting
    try:
        for beam in (1, 3):
            steps.clear()
            ids = decode_flat(model, batch, beam).numpy()
            longest = int(np.max(np.sum(ids != PAD_ID, axis=1)))
            # a report of n tokens (its closing </S> included) needs n steps; beams that
            # end later than the chosen one may add a few
            assert longest <= len(steps) < model.config.max_tokens
    finally:
        del model.word_step


def test_m2_folds_beams_into_its_queries_exactly(flat_models):
    """A study's beams read its cross-attention keys once (folded) or repeated: same logits."""
    model, batch = flat_models["m2_transformer"]
    context = model.encode(batch)
    beams = 3
    state = tf.nest.map_structure(lambda x: ops.repeat(x, beams, axis=0),
                                  model.initial_state(context))
    repeated = tf.nest.map_structure(lambda x: ops.repeat(x, beams, axis=0), context)
    b = int(context["enc_mask"].shape[0])
    tokens = np.random.default_rng(0).integers(4, 20, size=(3, b * beams)).astype("int32")
    s_fold, s_rep = state, state
    for t in tokens:
        a, s_fold = model.word_step(tf.constant(t), s_fold, model.context_for_beams(context, beams))
        r, s_rep = model.word_step(tf.constant(t), s_rep, repeated)
        np.testing.assert_allclose(a.numpy(), r.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def mrna(tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    model = tiny_model("mrna", len(tiny_vocab), max_sentences=8)
    batch = tiny_batch(tiny_data, model, n=8)
    overfit(model, batch, steps=80)
    return model, {k: batch[k] for k in VISUAL}


def unrolled_hierarchical(model, batch, beam_size, sampling=None, no_repeat=False):
    """The sentence loop before #21: one search per sentence, unrolled max_sentences times,
    each searching every study's words, ended or not."""
    c = model.config
    context = model.encode(batch)
    sentence_state = model.begin_report(context)
    b = ops.shape(context["visual"])[0]
    empty = ops.concatenate([ops.full((b, 1), END_ID, "int32"),
                             ops.full((b, c.max_words - 1), PAD_ID, "int32")], axis=1)
    stopped, prev, sentences = ops.zeros((b,), "bool"), None, []
    sampler = sampling.sampler if sampling else None
    for _ in range(c.max_sentences):
        state, sentence_state, p_stop = model.begin_sentence(context, prev, sentence_state)
        if p_stop is None:
            stopped = ops.logical_or(stopped, decoding._ends(
                decoding.end_probability(model, state, context), sampling))
        avoid = None
        if no_repeat and sentences:
            avoid = (ops.stack(sentences, axis=1), len(sentences))
        words = decode_words(model, state, context, c.max_words, beam_size, ban_empty=True,
                             sampler=sampler, avoid=avoid)
        if avoid is not None:
            words, only = words
            stopped = ops.logical_or(stopped, only)
        words = ops.where(stopped[:, None], empty, ops.cast(words, "int32"))
        if p_stop is not None:
            stopped = ops.logical_or(stopped, decoding._ends(p_stop, sampling))
        sentences.append(words)
        prev = words
    return ops.stack(sentences, axis=1)


def test_the_sentence_loop_writes_what_the_unrolled_sentences_wrote(mrna):
    model, batch = mrna
    for beam in (1, 3):
        for no_repeat in (False, True):
            new = tf.function(lambda b: decoding.decode_hierarchical(
                model, b, beam, no_repeat=no_repeat))(batch).numpy()
            old = tf.function(lambda b: unrolled_hierarchical(
                model, b, beam, no_repeat=no_repeat))(batch).numpy()
            np.testing.assert_array_equal(new, old)
    ended = np.all(new[:, -1] == np.array([END_ID] + [PAD_ID] * (new.shape[2] - 1)), axis=-1)
    assert ended.any()  # some reports end before the last sentence: the stop is exercised
    new_s, old_s = Sampling(1.0, seed=4), Sampling(1.0, seed=4)
    new_fn = tf.function(lambda b: decoding.decode_hierarchical(model, b, 1, sampling=new_s))
    old_fn = tf.function(lambda b: unrolled_hierarchical(model, b, 1, old_s))
    for _ in range(2):  # sampled: every sentence runs, the random stream is kept
        np.testing.assert_array_equal(new_fn(batch).numpy(), old_fn(batch).numpy())


def test_hierarchical_decoding_traces_one_sentence_loop(mrna):
    """The graph holds the first sentence and one loop body, not max_sentences copies."""
    model, batch = mrna
    fn = tf.function(lambda b: decoding.decode_hierarchical(model, b, 3))
    graph = fn.get_concrete_function(batch).graph
    loops = [op for op in graph.get_operations() if op.type in ("While", "StatelessWhile")]
    # the first sentence's word search, and the sentence loop (whose word search lives in
    # its body's own graph)
    assert len(loops) == 2, [op.name for op in loops]
    assert model.config.max_sentences > 2
