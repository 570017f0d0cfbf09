"""MRNA-specific checks; the checks every model passes are in test_models.py."""
import numpy as np
import tensorflow as tf

from tfreport.layers.sentence_conv import SentenceConvEncoder


def test_sentence_encoder_ignores_padding():
    conv = SentenceConvEncoder(8, 3, 3)
    x = tf.random.normal((2, 10, 4))
    mask = tf.constant([[True] * 6 + [False] * 4, [True] * 10])
    y1 = conv(x, mask)
    # garbage in padded positions, and more of them
    x2 = tf.concat([x[:, :6], tf.random.normal((2, 9, 4))], axis=1)
    mask2 = tf.concat([mask[:, :6], tf.zeros((2, 9), bool)], axis=1)
    np.testing.assert_allclose(y1[0].numpy(), conv(x2, mask2)[0].numpy(), atol=1e-5)


def test_flatten_report_keeps_sentence_ends_and_the_empty_terminator():
    from tfreport.models.base import flatten_report
    from tfreport.vocab import END_ID, PAD_ID
    grid = tf.constant([[[5, 6, END_ID, PAD_ID], [7, END_ID, PAD_ID, PAD_ID],
                         [END_ID, PAD_ID, PAD_ID, PAD_ID]]])
    flat = flatten_report(grid, 8).numpy()[0].tolist()
    assert flat == [5, 6, END_ID, 7, END_ID, END_ID, PAD_ID, PAD_ID]
    assert flatten_report(grid, 3).numpy()[0].tolist() == [5, 6, END_ID]


# -- the report-level fixes of issue #15 ------------------------------------------------------
# Tiny synthetic report sets on a 12-token vocabulary, no images: the model has to learn the
# order of sentences from the text alone, which is what MRNA got wrong on real reports.
import keras  # noqa: E402
import pytest  # noqa: E402

from tfreport.decoding import Decoder  # noqa: E402
from tfreport.models import build_model, make_config  # noqa: E402
from tfreport.vocab import Vocabulary  # noqa: E402

WORDS = ["no", "acute", "disease", "heart", "normal", "lungs", "clear", "effusion", "seen"]
VOCAB = Vocabulary(["<S>", "</S>", "<EOS>", "<unk>"] + WORDS)
S1, S2, S3 = "no acute disease", "heart normal", "lungs clear"
S4 = "no effusion seen"


def _batch(reports, max_sentences=5, max_words=8):
    n = len(reports)
    grid = np.stack([VOCAB.encode_report([s.split() for s in r], max_sentences, max_words)
                     for r in reports])
    zeros = tf.zeros((n, 16, 16, 1))
    return {"frontal": zeros, "lateral": zeros, "lateral_present": tf.ones((n,)),
            "report": tf.constant(grid)}


def _train_mrna(reports, report_memory, steps=250):
    keras.utils.set_random_seed(0)
    cfg = make_config("mrna", "demo", vocab_size=len(VOCAB), backbone="small", backbone_width=4,
                      image_size=16, max_sentences=5, max_words=8, embed_dim=32, hidden_dim=64,
                      conv_filters=32, image_blind=True, report_memory=report_memory,
                      dropout_output=0.0, dropout_lstm=0.0, dropout_sentence=0.0)
    model = build_model("mrna", cfg)
    batch = _batch(reports)
    opt = keras.optimizers.Adam(1e-2)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = model.combine(model.loss_terms(batch, model(batch, training=True)))
        opt.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    for _ in range(steps):
        step()
    model.recalibrate([batch])
    return model, batch


def test_report_ends_where_the_model_says_it_ends_not_after_the_first_sentence():
    # After S1, 30% of reports end and 70% go on with one of three sentences (23% each).
    # Searching the empty sentence against whole sentences picks it (0.30 > 0.23 x ...):
    # every report stopped after S1, as MRNA did on IU X-Ray. P(end) = 0.3 < 0.5: go on.
    reports = [[S1]] * 3 + [[S1, S2]] * 3 + [[S1, S3]] * 2 + [[S1, S4]] * 2
    model, batch = _train_mrna(reports, report_memory=False)
    lengths = [len(r) for r in Decoder(model, VOCAB, beam_size=3).reports(batch)]
    assert lengths == [2] * len(reports), lengths  # S1 and one more, then the end
    text = Decoder(model, VOCAB, beam_size=3).reports(batch)[0]
    assert text[0] == S1 and text[1] in (S2, S3, S4)


def test_report_memory_tells_a_repeated_sentence_from_its_first_use():
    # S1 S2 S1 S3: what follows S1 depends on what came before it. Seeing only the
    # previous sentence (the faithful legacy model), MRNA cannot tell the two S1 apart.
    reports = [[S1, S2, S1, S3]] * 4
    with_memory, batch = _train_mrna(reports, report_memory=True)
    assert Decoder(with_memory, VOCAB, 3).reports(batch)[0] == [S1, S2, S1, S3]
    without, batch = _train_mrna(reports, report_memory=False)
    assert Decoder(without, VOCAB, 3).reports(batch)[0] != [S1, S2, S1, S3]


def test_report_memory_decoding_matches_teacher_forcing():
    """The sentence states built step by step while decoding equal those of training."""
    from keras import ops
    from tfreport.vocab import START_ID
    model, batch = _train_mrna([[S1, S2, S3, S4]] * 2, report_memory=True, steps=5)
    teacher = model(batch, training=False)  # [B, S, W, V]
    context = model.encode(batch)
    report = batch["report"]
    state_s, prev = model.begin_report(context), None
    for k in range(4):
        state, state_s, _ = model.begin_sentence(context, prev, state_s)
        logits, _ = model.word_step(ops.full((2,), START_ID, "int32"), state, context)
        np.testing.assert_allclose(logits.numpy(), teacher[:, k, 0].numpy(), atol=1e-4)
        prev = report[:, k]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_length_penalty_ranks_finished_beams_by_normalised_score(alpha):
    from tfreport.decoding import length_normalised_best
    from tfreport.vocab import END_ID, PAD_ID, START_ID
    # beam 0: one word then </S> (log p -1.0); beam 1: four words then </S> (log p -1.5)
    beams = tf.constant([[[START_ID, 5, END_ID, PAD_ID, PAD_ID, PAD_ID],
                          [START_ID, 5, 6, 7, 8, END_ID]]])
    scores = tf.constant([[-1.0, -1.5]])
    best = length_normalised_best(beams, scores, flat=False, alpha=alpha).numpy()[0]
    # alpha 1: -1.0 / (7/6) = -0.857 against -1.5 / (10/6) = -0.9: the short one still wins;
    # the long one wins with alpha 1 once its score is -1.4 (-0.84)
    assert best.tolist() == beams.numpy()[0, 0].tolist()
    best = length_normalised_best(beams, tf.constant([[-1.0, -1.4]]), flat=False,
                                  alpha=alpha).numpy()[0]
    assert best.tolist() == beams.numpy()[0, 0 if alpha == 0 else 1].tolist()


def test_no_repeat_picks_the_best_new_beam_and_ends_where_none_is_new():
    from tfreport.decoding import _best_new_sentence
    from tfreport.vocab import END_ID, PAD_ID, START_ID
    said = (tf.constant([[[5, 6, END_ID, PAD_ID], [7, END_ID, PAD_ID, PAD_ID]]]), 1)
    beams = tf.constant([[[START_ID, 5, 6, END_ID, PAD_ID],  # the best beam: said already
                          [START_ID, 7, END_ID, PAD_ID, PAD_ID]]])
    words, only = _best_new_sentence((beams, tf.constant([[-0.5, -2.0]])), True, said, 0.0)
    # the second written row is beyond the count: not said yet, so beam 2 is new
    assert words.numpy()[0].tolist() == [7, END_ID, PAD_ID, PAD_ID] and not bool(only[0])
    both = tf.constant([[[START_ID, 5, 6, END_ID, PAD_ID]] * 2])
    _, only = _best_new_sentence((both, tf.constant([[-0.5, -0.6]])), True, said, 0.0)
    assert bool(only[0])  # every candidate repeats: the report ends here
    _, only = _best_new_sentence(beams[:, 0], False, said, 0.0)  # greedy: one candidate
    assert bool(only[0])


def test_no_repeat_stops_the_cycle_of_a_model_without_report_memory():
    # Seeing only the previous sentence, MRNA cycles S1 S2 S1 S2 ... on these reports.
    model, batch = _train_mrna([[S1, S2, S1, S3]] * 4, report_memory=False)
    plain = Decoder(model, VOCAB, 3).reports(batch)[0]
    assert len(set(plain)) < len(plain)  # it repeats (what this option is for)
    fixed = Decoder(model, VOCAB, 3, no_repeat=True).reports(batch)[0]
    assert len(set(fixed)) == len(fixed) >= 2 and fixed[:2] == [S1, S2]
