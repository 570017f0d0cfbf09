"""Hier-RNN specifics: the 5:1 stop/word loss and the stop head ending the report."""
import keras

from tfreport.decoding import Decoder
from model_helpers import overfit, tiny_batch, tiny_model


def test_krause_loss_weights_stop_five_to_one(tiny_data, tiny_vocab):
    model = tiny_model("hier_rnn", len(tiny_vocab))
    batch = tiny_batch(tiny_data, model)
    terms = model.loss_terms(batch, model(batch))
    (word, n_words, w_word), (stop, n_sent, w_stop) = terms["parts"]
    assert (w_word, w_stop) == (1.0, 5.0)
    real = [len(tiny_vocab.decode_report(r)) for r in batch["report"].numpy()]
    assert float(n_sent) == sum(min(n, model.config.max_sentences) for n in real)


def test_stop_head_ends_reports_at_the_reference_length(tiny_data, tiny_vocab):
    keras.utils.set_random_seed(1)
    model = tiny_model("hier_rnn", len(tiny_vocab))
    batch = tiny_batch(tiny_data, model)
    overfit(model, batch, steps=200)
    got = [len(r) for r in Decoder(model, tiny_vocab, 1).reports(batch)]
    want = [min(len(tiny_vocab.decode_report(r)), model.config.max_sentences)
            for r in batch["report"].numpy()]
    assert got == want
