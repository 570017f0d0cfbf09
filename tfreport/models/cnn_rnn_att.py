"""CNN-RNN with attention (Show, Attend and Tell, Xu et al.): additive soft attention over
both views' grid cells at every word; the context is joined to the word embedding (docs/design.md §3)."""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tfreport.layers.attention_lstm import AttentionLSTMCell
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
        self.attention_lstm = AttentionLSTMCell(c.hidden_dim, c.attention_dim,
                                                name="attention_lstm")
        self.init_h = StateProjection(c.hidden_dim, name="init_h")
        self.init_c = StateProjection(c.hidden_dim, name="init_c")
        self.dropout = layers.Dropout(c.dropout)
        self.logits = layers.Dense(c.vocab_size, name="logits")

    def encode(self, batch, training=False):
        features = self.visual_features(batch, training)  # the backbone runs once
        cells, mask = grid_cells(*features)
        values = self.feature_norm(self.feature_proj(cells))
        return {"values": values, "keys": self.attention_lstm.project_keys(values), "mask": mask,
                "visual": self.visual_vector(batch, training, features=features)}

    def initial_state(self, context, training=False):
        return [self.init_h(context["visual"]), self.init_c(context["visual"])]

    def word_step(self, token, state, context):
        h, c, _ = self.attention_lstm(self.embedding(token), *state, context["keys"],
                                      context["values"], context["mask"])
        return self.logits(h), [h, c]

    def call(self, inputs, training=False, return_attention=False):
        """Logits [B, T, V] of the report's tokens (teacher forcing); with
        ``return_attention`` also each token's attention weights [B, T, 2N]."""
        targets = self.targets(inputs)
        context = self.encode(inputs, training)
        words = self.embedding(self.decoder_inputs(targets))  # [B, T, E]
        state = self.initial_state(context, training)
        out, alphas = self.attention_lstm.scan(words, *state, context["keys"],
                                               context["values"], context["mask"], training)
        logits = self.logits(self.dropout(out, training=training))
        if return_attention:
            return logits, alphas
        return logits
