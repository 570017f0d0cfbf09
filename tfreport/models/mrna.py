"""MRNA, the legacy project's model (docs/design.md §3).

Sentence 1's word-LSTM state comes from the visual vector; sentence k > 1's state comes
from the previous sentence (three linear Conv1D layers, max-pooled) joined to the visual
vector. One shared word LSTM writes every sentence. Teacher forcing uses the ground-truth
previous sentence; generation feeds back the model's own.

``report_memory`` (on in the demo preset, off in the faithful legacy and paper presets) also
gives sentence k the element-wise max of the features of *all* its earlier sentences and an
embedding of k. Without it the model sees only the sentence before: it cannot know what it
has already said or how long the report is, so its reports cycle through two or three
common sentences and it never becomes sure that a report is over (issue #15).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tfreport.layers.attention_lstm import AttentionLSTMCell
from tfreport.layers.sentence_conv import SentenceConvEncoder
from tfreport.layers.state_projection import StateProjection
from tfreport.layers.visual_encoder import grid_cells
from tfreport.models.base import LEGACY_VISUAL, ReportModel, VisualConfig
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
    spatial_attention: bool = False  # optional: soft attention over the grid at every word
    attention_dim: int = 512
    report_memory: bool = False  # sentence k also sees all earlier sentences and k itself
    position_dim: int = 32  # report_memory: the sentence-index embedding

    @classmethod
    def preset(cls, name: str, **overrides) -> "MRNAConfig":
        base = {
            "legacy": dict(LEGACY_VISUAL),
            "paper": dict(LEGACY_VISUAL),
            "demo": dict(backbone="small", image_size=64, embed_dim=128, hidden_dim=256,
                         conv_filters=128, max_words=20, state_layer_norm=True,
                         visual_batch_norm=True, report_memory=True),
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
        if c.report_memory:
            self.sentence_position = layers.Embedding(c.max_sentences, c.position_dim,
                                                      name="sentence_position")
        if c.spatial_attention:  # the word LSTM reads the grid through attention
            self.feature_proj = layers.Dense(c.attention_dim, name="feature_proj")
            self.feature_norm = layers.LayerNormalization(name="feature_norm")
            self.attention_lstm = AttentionLSTMCell(c.hidden_dim, c.attention_dim,
                                                    name="attention_lstm")
            self.input_dropout = layers.Dropout(c.dropout_lstm)
        else:
            self.lstm = layers.LSTM(c.hidden_dim, return_sequences=True,
                                    dropout=c.dropout_lstm, name="word_lstm")
        self.output_dropout = layers.Dropout(c.dropout_output)
        self.logits = layers.Dense(c.vocab_size, name="logits")

    # -- shared by training and decoding -------------------------------------------------
    def encode(self, batch, training=False):
        """The visual context of a batch (images or cached grids)."""
        features = self.visual_features(batch, training)  # the backbone runs once
        context = {"visual": self.visual_vector(batch, training, features=features)}
        if self.config.spatial_attention:
            cells, mask = grid_cells(*features)
            values = self.feature_norm(self.feature_proj(cells))
            context.update(values=values, keys=self.attention_lstm.project_keys(values),
                           mask=mask)
        return context

    def encode_sentence(self, words):
        """[N, W] ids -> [N, conv_layers * filters] sentence features."""
        return self.sentence_encoder(self.embedding(words), ops.not_equal(words, PAD_ID))

    def initial_state(self, context, prev_words, training=False, memory=None, index=None,
                      prev_features=None):
        """Word-LSTM (h, c) for a sentence; ``prev_words`` None means the first sentence.
        With ``report_memory``, ``memory`` is the max of all earlier sentences' features and
        ``index`` the sentence's position. ``prev_features``: ``prev_words`` already encoded."""
        visual = context["visual"]
        if prev_words is None:
            return [self.first_h(visual), self.first_c(visual)]
        parts = [self.encode_sentence(prev_words) if prev_features is None else prev_features]
        if self.config.report_memory:
            parts += [memory, self.sentence_position(index)]
        z = self.sentence_dropout(ops.concatenate(parts + [visual], -1), training=training)
        return [self.next_h(z), self.next_c(z)]

    def begin_report(self, context):
        """The sentence-level state: None, or (max of the sentences so far, sentence index)."""
        if not self.config.report_memory:
            return None
        b = ops.shape(context["visual"])[0]
        width = self.config.conv_layers * self.config.conv_filters
        return [ops.full((b, width), -1e9, context["visual"].dtype), ops.zeros((b,), "int32")]

    def begin_sentence(self, context, prev_words, sentence_state):
        """(word state, sentence state, stop probability): MRNA stops at an empty sentence."""
        if sentence_state is None:
            return self.initial_state(context, prev_words), None, None
        memory, index = sentence_state
        if prev_words is None:
            return self.initial_state(context, None), [memory, index + 1], None
        features = self.encode_sentence(prev_words)
        memory = ops.maximum(memory, features)
        state = self.initial_state(context, prev_words, memory=memory, index=index,
                                   prev_features=features)
        return state, [memory, index + 1], None

    def word_step(self, token, state, context):
        """One decoding step: token [B] -> logits [B, V] and the new state."""
        x = self.embedding(token)
        if self.config.spatial_attention:
            h, c, _ = self.attention_lstm(x, *state, context["keys"], context["values"],
                                          context["mask"])
            return self.logits(h), [h, c]
        out, new_state = self.lstm.cell(x, state, training=False)
        return self.logits(out), list(new_state)

    # -- training: all sentences in parallel -----------------------------------------------
    def call(self, inputs, training=False, return_attention=False):
        """Logits [B, S, W, V] (teacher forcing); with ``return_attention`` (spatial
        attention only) also each word's attention weights [B, S, W, 2N]."""
        c = self.config
        if return_attention and not c.spatial_attention:
            raise ValueError("this MRNA has no spatial attention (spatial_attention false)")
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
        memory = index = features = None
        if c.report_memory:
            features = self.encode_sentence(prev)
            memory = ops.reshape(self._earlier_max(features, b, s), (b * s, -1))
            index = ops.reshape(ops.tile(ops.arange(s)[None], (b, 1)), (b * s,))
        later = self.initial_state({"visual": flat_visual}, prev, training, memory, index,
                                   features)
        is_first = ops.reshape(ops.tile(ops.arange(s)[None] == 0, (b, 1)), (b * s, 1))
        state = [ops.where(is_first, f, l) for f, l in zip(first, later)]
        targets = ops.reshape(report, (b * s, w))
        words_in = ops.concatenate(
            [ops.full((b * s, 1), START_ID, targets.dtype), targets[:, :-1]], axis=1)
        mask = ops.not_equal(targets, PAD_ID)
        alphas = None
        if c.spatial_attention:
            h, alphas = self._attend_sequence(self.embedding(words_in), state, context, b, s,
                                              training)
        else:
            h = self.lstm(self.embedding(words_in), initial_state=state, mask=mask,
                          training=training)
        logits = ops.reshape(self.logits(self.output_dropout(h, training=training)),
                             (b, s, w, c.vocab_size))
        if return_attention:
            return logits, ops.reshape(alphas, (b, s, w, -1))
        return logits

    @staticmethod
    def _earlier_max(prev_feats, b, s):
        """[B*S, F] features of each sentence's previous sentence -> [B, S, F]: for sentence k
        the max over the features of sentences 0..k-1 (zeros for k = 0, which never uses it)."""
        feats = ops.reshape(prev_feats, (b, s, -1))  # row k holds sentence k - 1
        seen = ops.arange(s)[None, :] <= ops.arange(s)[:, None]  # [k, j]: j <= k
        seen = ops.logical_and(seen, ops.arange(s)[None, :] > 0)  # row 0 is no sentence
        big = ops.where(seen[None, :, :, None], feats[:, None], ops.cast(-1e9, feats.dtype))
        out = ops.max(big, axis=2)
        return ops.where(ops.arange(s)[None, :, None] > 0, out, ops.zeros_like(out))

    def _attend_sequence(self, words, state, context, b, s, training):
        """Teacher forcing with attention: (h [B*S, W, H], the attention weights
        [B*S, W, 2N]). The word LSTM's dropout is on its inputs, once for the whole
        sequence (a cell's own dropout caches its mask across calls, which a scan cannot
        hold)."""
        flat = {k: ops.reshape(ops.repeat(context[k][:, None], s, axis=1),
                               (b * s,) + tuple(context[k].shape[1:]))
                for k in ("keys", "values", "mask")}
        words = self.input_dropout(words, training=training)
        return self.attention_lstm.scan(words, *state, flat["keys"], flat["values"],
                                        flat["mask"])
