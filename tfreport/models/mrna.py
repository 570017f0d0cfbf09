"""MRNA, the legacy project's model (DESIGN §3).

Sentence 1's word-LSTM state comes from the visual vector; sentence k > 1's state comes
from the previous sentence (three linear Conv1D layers, max-pooled) joined to the visual
vector. One shared word LSTM writes every sentence. Teacher forcing uses the ground-truth
previous sentence; generation feeds back the model's own.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tfreport.layers.sentence_conv import SentenceConvEncoder
from tfreport.layers.state_projection import StateProjection
from tfreport.models.base import ReportModel, VisualConfig
from tfreport.vocab import PAD_ID, START_ID


@dataclass
class MRNAConfig(VisualConfig):
    """MRNA hyperparameters. Defaults are the legacy project's (the paper is the legacy code)."""
    embed_dim: int = 512
    hidden_dim: int = 512
    conv_filters: int = 1024
    conv_width: int = 3
    conv_layers: int = 3
    dropout_output: float = 0.5  # on the word LSTM's output
    dropout_lstm: float = 0.3  # inside the word LSTM
    dropout_sentence: float = 0.5  # on [sentence features ; visual]
    state_layer_norm: bool = False  # LayerNorm before the state tanh (demo: random backbone)

    @classmethod
    def preset(cls, name: str, **overrides) -> "MRNAConfig":
        base = {
            "legacy": dict(backbone="inception_v3", image_size=299, share_views=False),
            "paper": dict(backbone="inception_v3", image_size=299, share_views=False),
            "demo": dict(backbone="small", image_size=64, embed_dim=128, hidden_dim=256,
                         conv_filters=128, max_words=20, state_layer_norm=True,
                         visual_batch_norm=True),
        }
        return cls.from_preset(base, name, **overrides)


@keras.saving.register_keras_serializable(package="tfreport")
class MRNA(ReportModel):
    config_class = MRNAConfig
    hierarchical = True

    def build_layers(self):
        c = self.config
        self.embedding = layers.Embedding(c.vocab_size, c.embed_dim, name="embedding")
        self.sentence_encoder = SentenceConvEncoder(c.conv_filters, c.conv_width, c.conv_layers,
                                                    name="sentence_conv")
        self.sentence_dropout = layers.Dropout(c.dropout_sentence)
        self.first_h = StateProjection(c.hidden_dim, c.state_layer_norm, name="first_h")
        self.first_c = StateProjection(c.hidden_dim, c.state_layer_norm, name="first_c")
        self.next_h = StateProjection(c.hidden_dim, c.state_layer_norm, name="next_h")
        self.next_c = StateProjection(c.hidden_dim, c.state_layer_norm, name="next_c")
        self.lstm = layers.LSTM(c.hidden_dim, return_sequences=True, dropout=c.dropout_lstm,
                                name="word_lstm")
        self.output_dropout = layers.Dropout(c.dropout_output)
        self.logits = layers.Dense(c.vocab_size, name="logits")

    # -- shared by training and decoding -------------------------------------------------
    def encode(self, batch, training=False):
        """The visual context of a batch (images or cached grids)."""
        return {"visual": self.visual_vector(batch, training)}

    def initial_state(self, context, prev_words, training=False):
        """Word-LSTM (h, c) for a sentence; ``prev_words`` None means the first sentence."""
        visual = context["visual"]
        if prev_words is None:
            return [self.first_h(visual), self.first_c(visual)]
        mask = ops.not_equal(prev_words, PAD_ID)
        feats = self.sentence_encoder(self.embedding(prev_words), mask)
        z = self.sentence_dropout(ops.concatenate([feats, visual], -1), training=training)
        return [self.next_h(z), self.next_c(z)]

    def begin_report(self, context):
        return None  # MRNA has no sentence-level recurrent state

    def begin_sentence(self, context, prev_words, sentence_state):
        """(word state, sentence state, stop probability): MRNA stops at an empty sentence."""
        return self.initial_state(context, prev_words), None, None

    def word_step(self, token, state, context):
        """One decoding step: token [B] -> logits [B, V] and the new state."""
        out, new_state = self.lstm.cell(self.embedding(token), state, training=False)
        return self.logits(out), list(new_state)

    # -- training: all sentences in parallel -----------------------------------------------
    def call(self, inputs, training=False):
        c = self.config
        report = inputs["report"]  # [B, S, W] target ids
        context = self.encode(inputs, training)
        b, s, w = ops.shape(report)[0], c.max_sentences, c.max_words
        visual = context["visual"]
        flat_visual = ops.reshape(ops.repeat(visual[:, None], s, axis=1), (b * s, -1))
        # Sentence k's initial state: the visual vector alone for k = 0, else the
        # ground-truth sentence k - 1 (teacher forcing).
        prev = ops.concatenate([ops.full((b, 1, w), PAD_ID, report.dtype), report[:, :-1]], 1)
        prev = ops.reshape(prev, (b * s, w))
        first = self.initial_state({"visual": flat_visual}, None, training)
        later = self.initial_state({"visual": flat_visual}, prev, training)
        is_first = ops.reshape(ops.tile(ops.arange(s)[None] == 0, (b, 1)), (b * s, 1))
        state = [ops.where(is_first, f, l) for f, l in zip(first, later)]
        targets = ops.reshape(report, (b * s, w))
        words_in = ops.concatenate(
            [ops.full((b * s, 1), START_ID, targets.dtype), targets[:, :-1]], axis=1)
        mask = ops.not_equal(targets, PAD_ID)
        h = self.lstm(self.embedding(words_in), initial_state=state, mask=mask, training=training)
        logits = self.logits(self.output_dropout(h, training=training))
        return ops.reshape(logits, (b, s, w, c.vocab_size))
