"""CNN-RNN (Show and Tell, Vinyals et al.): the projected image vector is the LSTM's first
input, at step -1, and the words of the whole report follow (docs/design.md §3)."""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tfreport.models.base import FlatReportModel, LEGACY_VISUAL, VisualConfig
from tfreport.vocab import PAD_ID


@dataclass
class CNNRNNConfig(VisualConfig):
    """Defaults are the legacy project's: LSTM(512), 512-dimensional embeddings."""
    embed_dim: int = 512
    hidden_dim: int = 512
    dropout: float = 0.5  # on the LSTM output
    max_tokens: int = 100  # the whole report, sentence ends included

    @classmethod
    def preset(cls, name: str, **overrides) -> "CNNRNNConfig":
        base = {
            "legacy": dict(LEGACY_VISUAL),
            "paper": dict(LEGACY_VISUAL),
            "demo": dict(backbone="small", image_size=64, embed_dim=128, hidden_dim=256,
                         max_words=20, max_tokens=80, visual_batch_norm=True),
        }
        return cls.from_preset(base, name, **overrides)


@keras.saving.register_keras_serializable(package="tfreport")
class CNNRNN(FlatReportModel):
    config_class = CNNRNNConfig

    def build_layers(self):
        c = self.config
        self.embedding = layers.Embedding(c.vocab_size, c.embed_dim, name="embedding")
        self.image_embedding = layers.Dense(c.embed_dim, name="image_embedding")
        self.lstm = layers.LSTM(c.hidden_dim, return_sequences=True, return_state=True,
                                name="lstm")
        self.dropout = layers.Dropout(c.dropout)
        self.logits = layers.Dense(c.vocab_size, name="logits")

    def encode(self, batch, training=False):
        return {"visual": self.image_embedding(self.visual_vector(batch, training))}

    def initial_state(self, context, training=False):
        """The LSTM state after reading the image at step -1."""
        image = context["visual"]
        zeros = ops.zeros((ops.shape(image)[0], self.config.hidden_dim), image.dtype)
        _, state = self.lstm.cell(image, [zeros, zeros], training=False)
        return list(state)

    def word_step(self, token, state, context):
        out, new_state = self.lstm.cell(self.embedding(token), state, training=False)
        return self.logits(out), list(new_state)

    def call(self, inputs, training=False):
        targets = self.targets(inputs)
        image = self.encode(inputs, training)["visual"]
        words = self.embedding(self.decoder_inputs(targets))
        sequence = ops.concatenate([image[:, None], words], axis=1)
        mask = ops.concatenate([ops.ones_like(targets[:, :1], "bool"),
                                ops.not_equal(targets, PAD_ID)], axis=1)
        out = self.lstm(sequence, mask=mask, training=training)[0][:, 1:]
        return self.logits(self.dropout(out, training=training))
