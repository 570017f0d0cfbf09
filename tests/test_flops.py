"""FLOP counting: known values for matrix products, and loops counted once per iteration."""
import keras
import pytest
import tensorflow as tf

from tfreport.experiments.flops import function_flops, per_example

B, T, F, H = 2, 7, 16, 32


def test_matmul_is_two_mnk():
    @tf.function
    def f(a, b):
        return tf.matmul(a, b)
    count = function_flops(f.get_concrete_function(tf.zeros([3, 5]), tf.zeros([5, 4])))
    assert count.total == 2 * 3 * 5 * 4


def test_scan_body_counts_once_per_step():
    w = tf.ones([F, F])

    @tf.function
    def f(x):
        return tf.scan(lambda _, e: tf.matmul(e, w), tf.transpose(x, [1, 0, 2]),
                       initializer=tf.zeros([B, F]))
    count = function_flops(f.get_concrete_function(tf.zeros([B, T, F])))
    assert count.by_type["MatMul"] == T * 2 * B * F * F
    assert count.unknown_loops == 0


def test_lstm_forward_and_gradient_scale_with_the_sequence():
    lstm = keras.layers.LSTM(H, return_sequences=True)
    per_step = 2 * B * (F + H) * 4 * H  # the four gates' input and recurrent products

    @tf.function
    def fwd(x):
        return lstm(x)

    @tf.function
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(lstm(x))
        return tape.gradient(y, [x] + lstm.trainable_variables)

    x = tf.zeros([B, T, F])
    forward = function_flops(fwd.get_concrete_function(x)).by_type["MatMul"]
    # exact: the extra step Keras' TF backend traces for shape inference is dead code
    assert forward == T * per_step
    both = function_flops(grad.get_concrete_function(x)).by_type["MatMul"]
    assert both - forward == pytest.approx(2 * T * per_step)  # backward: two products each


def test_dead_code_is_not_counted():
    @tf.function
    def f(a):
        tf.matmul(a, a)  # traced, never used: pruned before running
        return a + 1.0
    assert function_flops(f.get_concrete_function(tf.zeros([8, 8]))).by_type.get("MatMul", 0) == 0


def test_training_step_counts_the_trained_backbone(tiny_vocab):
    small = dict(backbone="small", backbone_width=8, image_size=32, max_sentences=4,
                 max_words=12)
    head = per_example("cnn_rnn", "demo", len(tiny_vocab), cached=True, **small)
    whole = per_example("cnn_rnn", "demo", len(tiny_vocab), **small)
    assert 0 < head < whole


def test_every_model_runs_the_backbone_once_per_step(tiny_vocab):
    """The backbone's share of a training step (whole step minus the head on cached grids)
    is the same for every model: none runs its backbone twice."""
    from tfreport.models import MODELS
    small = dict(backbone="small", backbone_width=8, image_size=32, max_sentences=4,
                 max_words=12)
    cases = [(m, {}) for m in sorted(MODELS)] + [("mrna", {"spatial_attention": True})]
    shares = {}
    for model, extra in cases:
        whole = per_example(model, "demo", len(tiny_vocab), **small, **extra)
        head = per_example(model, "demo", len(tiny_vocab), cached=True, **small, **extra)
        shares[model + str(extra)] = whole - head
    low, high = min(shares.values()), max(shares.values())
    assert high < 1.2 * low, shares  # a second backbone pass would double it
