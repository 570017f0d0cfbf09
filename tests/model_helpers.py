"""Helpers shared by the per-model tests: tiny configs, a tiny batch, an overfit loop."""
import numpy as np
import tensorflow as tf
import keras

from tfreport.data import pipeline
from tfreport.models import build_model, make_config

TINY = dict(backbone="small", backbone_width=8, image_size=32, max_sentences=4, max_words=12)


def tiny_model(name, vocab_size, **overrides):
    cfg = make_config(name, "demo", vocab_size=vocab_size, **{**TINY, **overrides})
    return build_model(name, cfg)


def tiny_batch(data_dir, model, n=4, split="train"):
    c = model.config
    ds = pipeline.dataset(data_dir, split, batch_size=n, image_size=c.image_size,
                          max_sentences=c.max_sentences, max_words=c.max_words)
    return next(iter(ds))


def batch_loss(model, batch, training=False):
    return float(model.combine(model.loss_terms(batch, model(batch, training=training))))


def logits_of(outputs):
    return outputs["logits"] if isinstance(outputs, dict) else outputs


def as_array(outputs):
    """All of a model's outputs as one flat array (for equality checks)."""
    if isinstance(outputs, dict):
        return np.concatenate([np.ravel(outputs[k]) for k in sorted(outputs)])
    return np.ravel(outputs)


def overfit(model, batch, steps=150, lr=3e-3):
    """Adam on one batch with dropout on; returns (first loss, last loss)."""
    opt = keras.optimizers.Adam(lr)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = model.combine(model.loss_terms(batch, model(batch, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply(grads, model.trainable_variables)
        return loss

    first = batch_loss(model, batch)
    for _ in range(steps):
        step()
    model.recalibrate([batch])
    return first, batch_loss(model, batch)


def swap_images(batch):
    """The same reports with the images rolled by one study."""
    out = dict(batch)
    for k in ("frontal", "lateral"):
        out[k] = tf.roll(batch[k], shift=1, axis=0)
    return out
