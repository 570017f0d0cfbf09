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
