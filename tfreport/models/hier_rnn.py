"""Hierarchical RNN, two variants (docs/design.md §3).

``krause`` (default, Krause et al.): a sentence LSTM runs over the visual vector; each step
emits a stop probability and a topic vector (two Dense layers); a 2-layer word LSTM takes the
topic as its first input. Loss = 5 x stop + 1 x words; generation stops when P(stop) > 0.5.

``topic_every_step`` (krause only; off in every preset): the topic also joins every word's
input instead of only preceding the words, so the image reaches the word LSTM at each word
rather than through a state that 20 words of text wash out.

``legacy`` (the legacy .1121 row): no stop head and no topic; the sentence LSTM reads the
visual vector at every step, the word LSTM's initial state is a linear Dense of the sentence
state, and generation stops at the first empty sentence.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tfreport.models.base import LEGACY_VISUAL, ReportModel, VisualConfig, masked_token_loss
from tfreport.vocab import END_ID, PAD_ID, START_ID

VARIANTS = ("krause", "legacy")


@dataclass
class HierRNNConfig(VisualConfig):
    variant: str = "krause"
    embed_dim: int = 512
    sentence_dim: int = 512
    hidden_dim: int = 512
    topic_dim: int = 1024
    word_layers: int = 2  # krause: a 2-layer word LSTM
    topic_every_step: bool = False  # krause: the topic joins every word's input
    stop_weight: float = 5.0
    word_weight: float = 1.0
    dropout: float = 0.5

    # Hier-RNN learns slowest: on the rendered IU X-Ray set its validation loss still fell
    # 0.035 per epoch at epoch 14 (2.43 -> 2.39; CNN-RNN's had flattened), so the demo preset
    # trains it 24 epochs (docs/benchmarks/iu_xray_rendered_bleu4/README.md).
    TRAIN_PRESETS = {"demo": dict(epochs=24)}

    @classmethod
    def preset(cls, name: str, **overrides) -> "HierRNNConfig":
        base = {
            "legacy": dict(LEGACY_VISUAL, variant="legacy", word_layers=1),
            "paper": dict(LEGACY_VISUAL),
            "demo": dict(backbone="small", image_size=64, embed_dim=128, sentence_dim=256,
                         hidden_dim=256, topic_dim=256, max_words=20, visual_batch_norm=True),
        }
        cfg = cls.from_preset(base, name, **overrides)
        if cfg.variant not in VARIANTS:
            raise ValueError(f"unknown hier_rnn variant {cfg.variant!r}; valid: {', '.join(VARIANTS)}")
        if cfg.topic_every_step and cfg.variant != "krause":
            raise ValueError("hier_rnn topic_every_step needs the krause variant (the legacy "
                             "variant has no topic)")
        return cfg


@keras.saving.register_keras_serializable(package="tfreport")
class HierRNN(ReportModel):
    config_class = HierRNNConfig
    hierarchical = True

    def build_layers(self):
        c = self.config
        self.embedding = layers.Embedding(c.vocab_size, c.embed_dim, name="embedding")
        self.sentence_lstm = layers.LSTM(c.sentence_dim, return_sequences=True,
                                         return_state=True, name="sentence_lstm")
        self.word_lstms = [layers.LSTM(c.hidden_dim, return_sequences=True, name=f"word_lstm{i}")
                           for i in range(c.word_layers)]
        self.dropout = layers.Dropout(c.dropout)
        self.logits = layers.Dense(c.vocab_size, name="logits")
        if c.variant == "krause":
            self.stop = layers.Dense(1, name="stop")
            self.topic1 = layers.Dense(c.topic_dim, activation="relu", name="topic1")
            self.topic2 = layers.Dense(c.embed_dim, name="topic2")
        else:
            self.init_h = layers.Dense(c.hidden_dim, name="init_h")
            self.init_c = layers.Dense(c.hidden_dim, name="init_c")

    # -- shared pieces ---------------------------------------------------------------------
    def encode(self, batch, training=False):
        return {"visual": self.visual_vector(batch, training)}

    def _topic(self, sentence_h):
        return self.topic2(self.topic1(sentence_h))

    def _word_start(self, sentence_h, training=False):
        """Word-LSTM state before the first word: krause reads the topic at step -1 through
        every layer; legacy sets layer 1's state from the sentence state."""
        b = ops.shape(sentence_h)[0]
        zeros = ops.zeros((b, self.config.hidden_dim), sentence_h.dtype)
        if self.config.variant == "legacy":
            state = [self.init_h(sentence_h), self.init_c(sentence_h)]
            return state + [zeros, zeros] * (self.config.word_layers - 1)
        topic = self._topic(sentence_h)
        if self.config.topic_every_step:  # the topic rides along as the last state entry
            return [zeros, zeros] * self.config.word_layers + [topic]
        x, state = topic, []
        for lstm in self.word_lstms:
            x, s = lstm.cell(x, [zeros, zeros], training=False)
            state += list(s)
        return state

    def word_step(self, token, state, context):
        x, new_state = self.embedding(token), []
        if self.config.topic_every_step:
            x = ops.concatenate([x, state[-1]], axis=-1)
        for i, lstm in enumerate(self.word_lstms):
            x, s = lstm.cell(x, state[2 * i: 2 * i + 2], training=False)
            new_state += list(s)
        if self.config.topic_every_step:
            new_state.append(state[-1])
        return self.logits(x), new_state

    # -- decoding hooks (tfreport.decoding) ------------------------------------------------
    def begin_report(self, context):
        b = ops.shape(context["visual"])[0]
        zeros = ops.zeros((b, self.config.sentence_dim), context["visual"].dtype)
        return [zeros, zeros]

    def begin_sentence(self, context, prev_words, sentence_state):
        """(word state, next sentence state, P(this sentence is the last) or None)."""
        h, s = self.sentence_lstm.cell(context["visual"], sentence_state, training=False)
        stop = (ops.sigmoid(self.stop(h))[:, 0] if self.config.variant == "krause" else None)
        return self._word_start(h), list(s), stop

    # -- training --------------------------------------------------------------------------
    def call(self, inputs, training=False):
        c = self.config
        report = inputs["report"]
        visual = self.encode(inputs, training)["visual"]
        b, s, w = ops.shape(report)[0], c.max_sentences, c.max_words
        steps = ops.repeat(visual[:, None], s, axis=1)
        sentence_h = self.sentence_lstm(steps, training=training)[0]  # [B, S, H]
        flat_h = ops.reshape(sentence_h, (b * s, -1))
        targets = ops.reshape(report, (b * s, w))
        words_in = ops.concatenate([ops.full((b * s, 1), START_ID, targets.dtype),
                                    targets[:, :-1]], axis=1)
        mask = ops.not_equal(targets, PAD_ID)
        x = self.embedding(words_in)
        if c.topic_every_step:  # the topic joins every word's input
            topic = ops.repeat(self._topic(flat_h)[:, None], w, axis=1)
            x = ops.concatenate([x, topic], axis=-1)
            for lstm in self.word_lstms:
                x = lstm(x, mask=mask, training=training)
        elif c.variant == "krause":  # the topic is the first input (step -1)
            x = ops.concatenate([self._topic(flat_h)[:, None], x], axis=1)
            mask = ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)
            for lstm in self.word_lstms:
                x = lstm(x, mask=mask, training=training)
            x = x[:, 1:]
        else:
            init = [self.init_h(flat_h), self.init_c(flat_h)]
            for i, lstm in enumerate(self.word_lstms):
                x = lstm(x, initial_state=init if i == 0 else None, mask=mask, training=training)
        logits = ops.reshape(self.logits(self.dropout(x, training=training)),
                             (b, s, w, c.vocab_size))
        if c.variant != "krause":
            return {"logits": logits}
        return {"logits": logits, "stop": self.stop(sentence_h)[..., 0]}

    def loss_terms(self, batch, outputs):
        report = batch["report"]
        c = self.config
        if c.variant == "legacy":  # the empty sentence is a target: it is the stop rule
            total, count = masked_token_loss(report, outputs["logits"])
            return {"parts": [(total, count, 1.0)], "loss_sum": total, "count": count}
        # krause: words of the real sentences only; the stop head ends the report
        real = ops.logical_and(ops.not_equal(report[..., 0], END_ID),
                               ops.not_equal(report[..., 0], PAD_ID))  # [B, S]
        words = ops.where(real[..., None], report, ops.cast(PAD_ID, report.dtype))
        word_sum, count = masked_token_loss(words, outputs["logits"])
        nxt = ops.concatenate([real[:, 1:], ops.zeros_like(real[:, :1])], axis=1)
        stop_target = ops.cast(ops.logical_not(nxt), "float32")
        bce = keras.losses.binary_crossentropy(stop_target[..., None],
                                               ops.cast(outputs["stop"], "float32")[..., None],
                                               from_logits=True)
        stop_sum = ops.sum(bce * ops.cast(real, "float32"))
        sentences = ops.sum(ops.cast(real, "float32"))
        # words averaged over tokens, stop averaged over sentences, weighted 1 : 5
        return {"parts": [(word_sum, count, c.word_weight), (stop_sum, sentences, c.stop_weight)],
                "loss_sum": word_sum, "count": count}
