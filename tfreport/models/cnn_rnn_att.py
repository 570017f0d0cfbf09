"""CNN-RNN with attention (Show, Attend and Tell, Xu et al.): additive soft attention over
both views' grid cells at every word; the context is joined to the word embedding (docs/design.md §3)."""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers, ops

from tfreport.layers.soft_attention import SoftAttention
from tfreport.layers.state_projection import StateProjection
from tfreport.layers.visual_encoder import grid_cells
from tfreport.models.base import FlatReportModel, LEGACY_VISUAL, VisualConfig


@dataclass
class CNNRNNAttConfig(VisualConfig):
    """Defaults are the legacy project's: LSTM(512), 512-d embeddings and attention."""
    embed_dim: int = 512
    hidden_dim: int = 512
    feature_dim: int = 512  # grid cells are projected to this width
    attention_dim: int = 512
    dropout: float = 0.5
    max_tokens: int = 100

    @classmethod
    def preset(cls, name: str, **overrides) -> "CNNRNNAttConfig":
        base = {
            "legacy": dict(LEGACY_VISUAL),
            "paper": dict(LEGACY_VISUAL),
            "demo": dict(backbone="small", image_size=64, embed_dim=128, hidden_dim=256,
                         feature_dim=128, attention_dim=128, max_words=20, max_tokens=80,
                         visual_batch_norm=True),
        }
        return cls.from_preset(base, name, **overrides)


@keras.saving.register_keras_serializable(package="tfreport")
class CNNRNNAtt(FlatReportModel):
    config_class = CNNRNNAttConfig

    def build_layers(self):
        c = self.config
        self.embedding = layers.Embedding(c.vocab_size, c.embed_dim, name="embedding")
        self.feature_proj = layers.Dense(c.feature_dim, name="feature_proj")
        self.feature_norm = layers.LayerNormalization(name="feature_norm")
        self.attention = SoftAttention(c.attention_dim, name="attention")
        self.init_h = StateProjection(c.hidden_dim, name="init_h")
        self.init_c = StateProjection(c.hidden_dim, name="init_c")
        self.cell = layers.LSTMCell(c.hidden_dim, name="lstm_cell")
        self.dropout = layers.Dropout(c.dropout)
        self.logits = layers.Dense(c.vocab_size, name="logits")

    def encode(self, batch, training=False):
        features = self.visual_features(batch, training)  # the backbone runs once
        cells, mask = grid_cells(*features)
        values = self.feature_norm(self.feature_proj(cells))
        return {"values": values, "keys": self.attention.project_keys(values), "mask": mask,
                "visual": self.visual_vector(batch, training, features=features)}

    def initial_state(self, context, training=False):
        return [self.init_h(context["visual"]), self.init_c(context["visual"])]

    def _step(self, token_embedding, state, context, training=False):
        """(LSTM output, new state, attention weights [B, 2N] over both views' cells)."""
        attended, alpha = self.attention(state[0], context["keys"], context["values"],
                                         context["mask"])
        out, new_state = self.cell(ops.concatenate([token_embedding, attended], -1), state,
                                   training=training)
        return out, list(new_state), alpha

    def word_step(self, token, state, context):
        out, new_state, _ = self._step(self.embedding(token), state, context)
        return self.logits(out), new_state

    def call(self, inputs, training=False, return_attention=False):
        """Logits [B, T, V] of the report's tokens (teacher forcing); with
        ``return_attention`` also each token's attention weights [B, T, 2N]."""
        targets = self.targets(inputs)
        context = self.encode(inputs, training)
        words = self.embedding(self.decoder_inputs(targets))  # [B, T, E]
        state = self.initial_state(context, training)
        no_alpha = ops.zeros_like(ops.cast(context["mask"], words.dtype))

        def step(carry, x):
            h, c, _ = carry
            out, (h, c), alpha = self._step(x, [h, c], context, training)
            return h, c, alpha

        # Time-major scan; padded steps come after the real ones and their outputs are masked
        # out of the loss, so they never affect it.
        hs, _, alphas = tf.scan(step, tf.transpose(words, [1, 0, 2]),
                                initializer=(*state, no_alpha))
        out = tf.transpose(hs, [1, 0, 2])
        logits = self.logits(self.dropout(out, training=training))
        if return_attention:
            return logits, tf.transpose(alphas, [1, 0, 2])
        return logits
