"""Frontal + lateral views -> feature grids, through a shared (or per-view) backbone."""
from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from tfreport.layers.backbones import backbone_architecture, load_weights


@keras.saving.register_keras_serializable(package="tfreport")
class VisualEncoder(keras.layers.Layer):
    """Runs both views through the backbone and returns their grids.

    ``call(frontal, lateral, lateral_present)`` -> (grids [B, 2, h*w, C], view_mask [B, 2]).
    A study without a lateral view has its lateral grid zeroed and masked out, so the models
    honour ``lateral_present``.

    ``image_blind`` replaces every study's images by one constant (a blank image, both views
    present): the grids no longer depend on the study, so the model is a language model with a
    learned constant input. It measures what the text alone achieves (issue #10).
    """

    def __init__(self, backbone: str = "small", image_size: int = 128,
                 weights: Optional[str] = None, weights_dual: Optional[str] = None,
                 share_views: bool = True, trainable_backbone: bool = True, width: int = 32,
                 image_blind: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.backbone_name = backbone
        self.image_size = image_size
        self.weights_path = weights
        self.weights_dual = weights_dual
        self.share_views = share_views
        self.trainable_backbone = trainable_backbone
        self.width = width
        self.image_blind = image_blind

    def build(self, input_shape=None):
        def make(suffix):
            net = backbone_architecture(self.backbone_name, self.image_size, self.width)
            net.name = net.name + suffix  # unique names when the views have their own
            net.trainable = self.trainable_backbone
            return net
        self.frontal_net = make("_frontal" if not self.share_views else "")
        self.lateral_net = self.frontal_net if self.share_views else make("_lateral")
        shape = (None, self.image_size, self.image_size, 1)
        self.frontal_net.build(shape)
        if not self.share_views:
            self.lateral_net.build(shape)
        grid = self.frontal_net.output.shape
        self.channels = int(grid[-1])
        self.cells = int(grid[1]) * int(grid[2])  # static, so symbolic callers see the shape
        super().build(input_shape)

    def load_pretrained(self) -> None:
        """Loads the configured imagenet|PATH weights into each view's backbone; call it
        eagerly once the encoder is built (ReportModel.build_all does)."""
        nets = [self.frontal_net] + ([] if self.share_views else [self.lateral_net])
        for net in nets:
            load_weights(net, self.backbone_name, self.weights_path, self.weights_dual)

    def call(self, frontal, lateral, lateral_present, training=None):
        # A frozen backbone always runs BatchNorm in inference mode (never the legacy bug
        # of batch statistics at test time).
        bn_training = training if self.trainable_backbone else False
        if self.image_blind:
            return self._blind_grids(ops.shape(frontal)[0], frontal.dtype, bn_training)
        f = self.frontal_net(frontal, training=bn_training)
        l = self.lateral_net(lateral, training=bn_training)
        f = ops.reshape(f, (-1, self.cells, self.channels))
        l = ops.reshape(l, (-1, self.cells, self.channels))
        present = ops.cast(ops.reshape(lateral_present, (-1,)), f.dtype)
        l = l * present[:, None, None]
        grids = ops.stack([f, l], axis=1)
        view_mask = ops.stack([ops.ones_like(present), present], axis=1)
        return grids, view_mask

    def _blind_grids(self, batch_size, dtype, bn_training):
        """One blank image through each view's backbone, repeated for the whole batch (one
        backbone pass per view, whatever the batch size)."""
        blank = ops.zeros((1, self.image_size, self.image_size, 1), dtype)
        shape = (1, 1, self.cells, self.channels)
        f = ops.reshape(self.frontal_net(blank, training=bn_training), shape)
        l = f if self.share_views else ops.reshape(  # one network: one pass serves both views
            self.lateral_net(blank, training=bn_training), shape)
        grids = ops.repeat(ops.concatenate([f, l], axis=1), batch_size, axis=0)
        return grids, ops.ones((batch_size, 2), grids.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(backbone=self.backbone_name, image_size=self.image_size,
                      # weights live in the saved model; never re-download them on load
                      weights=None, weights_dual=None, share_views=self.share_views,
                      trainable_backbone=self.trainable_backbone, width=self.width,
                      image_blind=self.image_blind)
        return config


def pooled_views(grids, view_mask):
    """[B, 2, N, C] grids -> [B, 2C] visual vector (mean over the grid, views concatenated)."""
    pooled = ops.mean(grids, axis=2) * ops.expand_dims(view_mask, -1)
    return ops.reshape(pooled, (ops.shape(pooled)[0], -1))


def grid_cells(grids, view_mask):
    """[B, 2, N, C] grids -> ([B, 2N, C] cells of both views, [B, 2N] cell mask)."""
    b, v, n = ops.shape(grids)[0], ops.shape(grids)[1], ops.shape(grids)[2]
    cells = ops.reshape(grids, (b, v * n, ops.shape(grids)[3]))
    mask = ops.reshape(ops.repeat(view_mask[:, :, None], n, axis=2), (b, v * n))
    return cells, mask
