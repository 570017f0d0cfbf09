"""What every report model shares: its config, the visual encoder, the loss and `generate`."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict, Optional, ClassVar

import keras
import numpy as np
from keras import ops, tree

from tfreport.layers.visual_encoder import VisualEncoder, pooled_views
from tfreport.vocab import PAD_ID, START_ID

PRESETS = ("legacy", "paper", "demo")
# The legacy project's visual encoder: two separate InceptionV3 networks at 299 px.
LEGACY_VISUAL = dict(backbone="inception_v3", image_size=299, share_views=False)


@dataclass
class VisualConfig:
    """Fields every model config has: vocabulary, report shape and the visual encoder.

    ``TRAIN_PRESETS`` (not a field) holds what a model changes in a preset's optimisation
    (``training.config``'s shared values), so each model's presets live in its own file."""
    TRAIN_PRESETS: ClassVar[Dict[str, Dict[str, Any]]] = {}
    vocab_size: int = 0
    max_sentences: int = 8
    max_words: int = 50
    backbone: str = "inception_v3"
    image_size: int = 299
    backbone_weights: Optional[str] = None  # imagenet | none | PATH
    backbone_weights_dual: Optional[str] = None  # dual only: the DenseNet121 branch
    share_views: bool = True
    trainable_backbone: bool = True
    backbone_width: int = 32  # the small backbone's first-stage width
    # Every study's images replaced by one constant: the model's image-blind variant, which
    # shows what the report text alone achieves (docs/benchmarks/iu_xray_text).
    image_blind: bool = False
    # Standardise the pooled visual vector (BatchNorm, statistics recomputed from the current
    # weights before evaluation). On for the demo's randomly initialised backbone, whose
    # pooled features barely vary across studies; off for the legacy and paper presets.
    visual_batch_norm: bool = False
    # The same for the grid cells (per channel), for the models that attend over them.
    grid_batch_norm: bool = False

    @classmethod
    def from_preset(cls, table: Dict[str, dict], name: str, **overrides):
        if name not in table:
            raise ValueError(f"unknown preset {name!r}; valid: {', '.join(table)}")
        values = dict(table[name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - fields
        if unknown:
            raise ValueError(f"{cls.__name__} has no option(s) {sorted(unknown)}")
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def masked_token_loss(targets, logits):
    """Sum of token cross-entropies and the token count (PAD excluded).

    Returning the sum and the count lets the trainer divide by the *global* token count,
    which keeps the loss right under any number of replicas.
    """
    mask = ops.cast(ops.not_equal(targets, PAD_ID), "float32")
    ce = keras.losses.sparse_categorical_crossentropy(targets, ops.cast(logits, "float32"),
                                                      from_logits=True)
    return ops.sum(ce * mask), ops.sum(mask)


class ReportModel(keras.Model):
    """Base for the zoo: subclasses set ``config_class`` and implement ``build_layers``,
    ``call`` (teacher forcing) and the decoding hooks used by :mod:`tfreport.decoding`."""

    config_class = VisualConfig
    hierarchical = False

    def __init__(self, config=None, **kwargs):
        name = kwargs.pop("name", type(self).__name__.lower())
        super().__init__(name=name, **kwargs)
        if isinstance(config, dict):
            config = self.config_class(**config)
        self.config = config
        c = config
        self.visual_encoder = VisualEncoder(
            backbone=c.backbone, image_size=c.image_size, weights=c.backbone_weights,
            weights_dual=c.backbone_weights_dual, share_views=c.share_views,
            trainable_backbone=c.trainable_backbone, width=c.backbone_width,
            image_blind=c.image_blind, name="visual_encoder")
        self.visual_norm = (keras.layers.BatchNormalization(momentum=0.9, name="visual_norm")
                            if c.visual_batch_norm else None)
        self.grid_norm = (keras.layers.BatchNormalization(momentum=0.9, name="grid_norm")
                          if c.grid_batch_norm else None)
        self.build_layers()

    def build_layers(self):
        raise NotImplementedError

    def visual_features(self, batch, training=False):
        """(grids [B, 2, N, C], view_mask [B, 2]): from the images, or from a feature cache
        (``batch["grids"]``, computed once by the frozen backbone)."""
        grids, view_mask = self.raw_visual_features(batch, training)
        if self.grid_norm is not None:
            grids = self.grid_norm(grids, training=training) * view_mask[:, :, None, None]
        return grids, view_mask

    def raw_visual_features(self, batch, training=False):
        if "grids" in batch:
            return batch["grids"], batch["view_mask"]
        return self.visual_encoder(batch["frontal"], batch["lateral"], batch["lateral_present"],
                                   training=training)

    def visual_vector(self, batch, training=False, normalise=True, features=None):
        """[B, 2C]: each view's grid mean-pooled, views concatenated (standardised when
        ``visual_batch_norm``). Pass ``features`` (visual_features' result) when the grids
        are already computed: each call would otherwise run the backbone again."""
        visual = pooled_views(*(features if features is not None
                                else self.visual_features(batch, training)))
        if normalise and self.visual_norm is not None:
            visual = self.visual_norm(visual, training=training)
        return visual

    def context_for_beams(self, context, beams: int):
        """The visual context for ``beams`` beams per study, in the search's row order
        (each study's beams together). By default every tensor is repeated once; a model
        may instead read it per study in ``word_step`` (M2 folds the beams into its
        cross-attention queries)."""
        return tree.map_structure(lambda x: ops.repeat(x, beams, axis=0), context)

    def recalibrate(self, batches) -> None:
        """Sets the visual BatchNorm's statistics from the current weights ("precise BN").

        A backbone trained from scratch drifts faster than BatchNorm's moving averages
        follow, so inference would see stale statistics; this recomputes them exactly.
        """
        if self.grid_norm is not None:
            cells = []
            for b in batches:
                grids, mask = self.raw_visual_features(b, training=False)
                grids, mask = ops.convert_to_numpy(grids), ops.convert_to_numpy(mask)
                cells.append(grids[mask > 0].reshape(-1, grids.shape[-1]))
            cells = np.concatenate(cells)
            self.grid_norm.moving_mean.assign(cells.mean(0))
            self.grid_norm.moving_variance.assign(cells.var(0))
        if self.visual_norm is not None:
            vectors = np.concatenate([ops.convert_to_numpy(
                self.visual_vector(b, training=False, normalise=False)) for b in batches])
            self.visual_norm.moving_mean.assign(vectors.mean(0))
            self.visual_norm.moving_variance.assign(vectors.var(0))

    def loss_terms(self, batch, outputs) -> Dict[str, Any]:
        """One (replica's) batch: ``parts``, a list of (sum, count, weight) whose global
        averages are weighted and added, and the word ``loss_sum``/``count`` for reporting."""
        total, count = masked_token_loss(batch["report"], outputs)
        return {"parts": [(total, count, 1.0)], "loss_sum": total, "count": count}

    @staticmethod
    def combine(terms, reduce_count=None):
        """The training loss: sum of weight x (sum / count); ``reduce_count`` turns a local
        count into the global one under a distribution strategy."""
        loss = 0.0
        for total, count, weight in terms["parts"]:
            if reduce_count is not None:
                count = reduce_count(count)
            loss = loss + weight * total / ops.maximum(count, 1.0)
        return loss

    def dummy_inputs(self, batch_size: int = 1):
        c = self.config
        return {
            "frontal": ops.zeros((batch_size, c.image_size, c.image_size, 1)),
            "lateral": ops.zeros((batch_size, c.image_size, c.image_size, 1)),
            "lateral_present": ops.ones((batch_size,)),
            "report": ops.full((batch_size, c.max_sentences, c.max_words), PAD_ID, "int32"),
        }

    def build_all(self, pretrained: bool = True):
        """Creates every weight by running one dummy batch, then loads the backbone's
        configured weights (``pretrained=False`` when the weights come from a saved model)."""
        self(self.dummy_inputs(), training=False)
        if pretrained:
            self.visual_encoder.load_pretrained()
        return self

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        model = cls(**config)
        model.build_all(pretrained=False)  # the saved weights are loaded next
        return model


def flatten_report(report, max_tokens: int):
    """[B, S, W] sentence grid -> [B, max_tokens] flat targets: every sentence's words and
    ``</S>``, then the empty sentence's lone ``</S>`` that ends the report; PAD after.

    Dense ops only (a sort that moves the PADs to the end), so the step XLA-compiles."""
    b = ops.shape(report)[0]
    n = report.shape[1] * report.shape[2]
    flat = ops.reshape(report, (b, n))
    keep = ops.not_equal(flat, PAD_ID)
    index = ops.arange(n, dtype="int32")[None, :]
    order = ops.argsort(ops.where(keep, index, index + n), axis=1)  # unique keys: stable
    packed = ops.take_along_axis(flat, order, axis=1)
    kept = ops.sum(ops.cast(keep, "int32"), axis=1, keepdims=True)
    packed = ops.where(index < kept, packed, ops.cast(PAD_ID, packed.dtype))
    if n >= max_tokens:
        return packed[:, :max_tokens]
    return ops.pad(packed, ((0, 0), (0, max_tokens - n)), constant_values=PAD_ID)


class FlatReportModel(ReportModel):
    """A model that writes the whole report as one token sequence (CNN-RNN, CNN-RNN-Att,
    M2): sentences end in ``</S>``, and an empty sentence (``</S> </S>``) ends the report."""

    hierarchical = False

    def targets(self, batch):
        return flatten_report(batch["report"], self.config.max_tokens)

    def decoder_inputs(self, targets):
        b = ops.shape(targets)[0]
        return ops.concatenate([ops.full((b, 1), START_ID, targets.dtype), targets[:, :-1]], 1)

    def loss_terms(self, batch, outputs):
        total, count = masked_token_loss(self.targets(batch), outputs)
        return {"parts": [(total, count, 1.0)], "loss_sum": total, "count": count}
