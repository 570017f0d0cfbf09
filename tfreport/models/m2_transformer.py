"""Meshed-memory transformer (Cornia et al.) over both views' grid cells (docs/design.md §3).

Input projection (Dense, ReLU, dropout, LayerNorm) -> memory-augmented encoder (N layers,
every output kept) -> meshed decoder. With ``backbone="dual"`` the ResNet50 and DenseNet121
grids arrive concatenated (3,072 channels) and the input projection maps them to d_model:
the double-feature paper's fusion.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tfreport.layers.m2_encoder import MemoryEncoder
from tfreport.layers.meshed_decoder import MeshedDecoder
from tfreport.layers.visual_encoder import grid_cells
from tfreport.models.base import FlatReportModel, LEGACY_VISUAL, VisualConfig


@dataclass
class M2Config(VisualConfig):
    """Paper preset: 3 layers, d=512, 8 heads, FF 2048, 40 memory slots, max length 60."""
    num_layers: int = 3
    d_model: int = 512
    heads: int = 8
    d_ff: int = 2048
    memory_slots: int = 40  # 0 turns the memory off
    dropout: float = 0.1
    max_tokens: int = 60

    # The M2 reference's optimisation: Adam(0.9, 0.98) with a Noam warm-up whose peak, at
    # d_model 512 and 10,000 warm-up steps, is 512**-0.5 * 10000**-0.5 = 4.4e-4. Those 10,000
    # steps exceed a whole IU X-Ray run, so the warm-up is a fraction of all training steps.
    TRAIN_PRESETS = {"paper": dict(learning_rate=4.4e-4, lr_schedule="noam", warmup=0.1,
                                   adam_beta_2=0.98, batch_size=24, epochs=32, beam_size=3,
                                   clip_norm=0.0)}

    @classmethod
    def preset(cls, name: str, **overrides) -> "M2Config":
        base = {
            "legacy": dict(LEGACY_VISUAL),
            "paper": dict(backbone="dual", image_size=224),
            "demo": dict(backbone="small", image_size=64, num_layers=2, d_model=128, heads=4,
                         d_ff=256, memory_slots=8, max_words=20, max_tokens=80,
                         grid_batch_norm=True),
        }
        return cls.from_preset(base, name, **overrides)


@keras.saving.register_keras_serializable(package="tfreport")
class M2Transformer(FlatReportModel):
    config_class = M2Config

    def build_layers(self):
        c = self.config
        self.input_proj = layers.Dense(c.d_model, activation="relu", name="input_proj")
        self.input_drop = layers.Dropout(c.dropout)
        self.input_norm = layers.LayerNormalization(name="input_norm")
        self.encoder = MemoryEncoder(c.num_layers, c.d_model, c.heads, c.d_ff, c.memory_slots,
                                     c.dropout, name="encoder")
        self.decoder = MeshedDecoder(c.vocab_size, c.num_layers, c.num_layers, c.d_model, c.heads,
                                     c.d_ff, c.dropout, max_len=c.max_tokens + 1, name="decoder")

    def encoder_outputs(self, batch, training=False):
        x, mask = grid_cells(*self.visual_features(batch, training))
        x = self.input_norm(self.input_drop(self.input_proj(x), training=training))
        mask = ops.cast(mask, "bool")
        return self.encoder(x, mask, training=training), mask

    def encode(self, batch, training=False):
        outputs, mask = self.encoder_outputs(batch, training)
        # every decoder layer's cross-attention keys and values, computed once per study
        return {"cross": self.decoder.decoding_context(outputs), "enc_mask": mask}

    def context_for_beams(self, context, beams: int):
        """Kept per study: ``word_step`` folds each study's beams into its queries."""
        return context

    def initial_state(self, context, training=False):
        b = ops.shape(context["enc_mask"])[0]
        return [self.decoder.empty_cache(b, self.config.max_tokens + 1), ops.zeros((b,), "int32")]

    def word_step(self, token, state, context):
        cache, position = state
        logits, cache = self.decoder.step(token, position[0], cache, context["cross"],
                                          context["enc_mask"])
        return logits, [cache, position + 1]

    def call(self, inputs, training=False, return_attention=False):
        """Logits [B, T, V] (teacher forcing); with ``return_attention`` also each token's
        weights over both views' cells [B, T, 2N] (see ``combined_attention``)."""
        if not return_attention:
            return self.decoder(self.decoder_inputs(self.targets(inputs)),
                                *self.encoder_outputs(inputs, training), training=training)
        logits, detail = self.cross_attention(inputs, training)
        return logits, combined_attention(detail)

    def cross_attention(self, inputs, training=False):
        """(logits, {"cross": [B, decoder layers, encoder layers, H, T, 2N], "gates": [B,
        decoder layers, encoder layers, T]}): every cross-attention map and meshed gate."""
        outputs, mask = self.encoder_outputs(inputs, training)
        return self.decoder(self.decoder_inputs(self.targets(inputs)), outputs, mask,
                            training=training, return_attention=True)


def combined_attention(detail):
    """One map per token [B, T, 2N] from M2's cross-attention: in each decoder layer, the
    encoder layers' maps (averaged over heads) weighted by their gates' share of that
    layer's gate total; then averaged over decoder layers. A convex combination of softmax
    maps, so it sums to 1 over the visible cells like the soft-attention models' weights."""
    cross = ops.mean(ops.cast(detail["cross"], "float32"), axis=3)  # [B, D, E, T, K]
    gates = detail["gates"]  # [B, D, E, T]
    share = gates / ops.maximum(ops.sum(gates, axis=2, keepdims=True), 1e-9)
    return ops.mean(ops.sum(share[..., None] * cross, axis=2), axis=1)
