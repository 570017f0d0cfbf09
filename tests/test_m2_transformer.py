"""M2 specifics: memory slots, the memory switch, every encoder layer gated into the decoder,
the dual backbone, and cached decoding equal to recomputing the prefix."""
import numpy as np
import pytest
import tensorflow as tf
import keras

from tfreport.models import build_model, make_config
from model_helpers import TINY, overfit, tiny_batch, tiny_model


def test_memory_slots_exist_and_are_learned(tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    model = tiny_model("m2_transformer", len(tiny_vocab))
    slots = [w for w in model.weights if "memory_" in w.path]
    assert len(slots) == 2 * model.config.num_layers
    assert all(tuple(w.shape) == (1, model.config.memory_slots, model.config.d_model)
               for w in slots)
    before = [w.numpy().copy() for w in slots]
    overfit(model, tiny_batch(tiny_data, model), steps=20)
    assert all(not np.allclose(b, w.numpy()) for b, w in zip(before, slots))


def test_memory_switch_changes_the_parameter_count_as_expected(tiny_vocab):
    on = tiny_model("m2_transformer", len(tiny_vocab), memory_slots=8)
    off = tiny_model("m2_transformer", len(tiny_vocab), memory_slots=0)
    c = on.config
    assert on.count_params() - off.count_params() == c.num_layers * 2 * 8 * c.d_model


@pytest.mark.parametrize("layers", [1, 3])
def test_every_encoder_layer_reaches_the_decoder_through_its_gate(tiny_data, tiny_vocab, layers):
    keras.utils.set_random_seed(0)
    model = tiny_model("m2_transformer", len(tiny_vocab), num_layers=layers)
    batch = tiny_batch(tiny_data, model)
    outputs, mask = model.encoder_outputs(batch)
    tokens = model.decoder_inputs(model.targets(batch))
    base = model.decoder(tokens, outputs, mask).numpy()
    assert outputs.shape[1] == layers  # the encoder returns every layer's output, stacked
    for i in range(layers):
        bump = np.zeros(outputs.shape, "float32")
        bump[:, i] = 1.0
        changed = outputs + bump
        assert not np.allclose(model.decoder(tokens, changed, mask).numpy(), base, atol=1e-4)
    gates = [g for row in model.decoder.gates for g in row]
    assert len(gates) == layers * layers  # one gate per (decoder layer, encoder layer)
    with tf.GradientTape() as tape:
        loss = model.combine(model.loss_terms(batch, model(batch, training=False)))
    grads = tape.gradient(loss, [g.kernel for g in gates])
    assert all(float(tf.norm(g)) > 0 for g in grads)


def test_cached_decoding_equals_recomputing_the_prefix(tiny_data, tiny_vocab):
    keras.utils.set_random_seed(0)
    model = tiny_model("m2_transformer", len(tiny_vocab))
    batch = tiny_batch(tiny_data, model)
    overfit(model, batch, steps=30)
    context = model.encode(batch)
    state = model.initial_state(context)
    tokens = model.decoder_inputs(model.targets(batch))[:, :10]
    full = model.decoder(tokens, *model.encoder_outputs(batch)).numpy()
    for t in range(10):
        logits, state = model.word_step(tokens[:, t], state, context)
        np.testing.assert_allclose(logits.numpy(), full[:, t], atol=1e-3)


def test_dual_backbone_concatenates_and_projects_both(tiny_vocab):
    cfg = make_config("m2_transformer", "demo", vocab_size=len(tiny_vocab),
                      **{**TINY, "backbone": "dual", "image_size": 32})
    model = build_model("m2_transformer", cfg)
    enc = model.visual_encoder
    assert enc.channels == 2048 + 1024
    names = {layer.name for layer in enc.frontal_net.layers}
    assert {"resnet50", "densenet121", "dual_concat"} <= names
    assert tuple(model.input_proj.kernel.shape) == (3072, cfg.d_model)
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 32, 1)).astype("float32")
    grids, _ = enc(x, x, np.ones((1,), "float32"))
    resnet = enc.frontal_net.get_layer("resnet50")(x)
    np.testing.assert_allclose(grids[0, 0, :, :2048].numpy().ravel(),
                               resnet.numpy().ravel(), atol=1e-4)
