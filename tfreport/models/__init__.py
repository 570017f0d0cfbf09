"""The model registry: one name per model, each model in its own module."""
from __future__ import annotations

from typing import Dict, Type

from tfreport.models.base import PRESETS, ReportModel
from tfreport.models.cnn_rnn import CNNRNN, CNNRNNConfig
from tfreport.models.cnn_rnn_att import CNNRNNAtt, CNNRNNAttConfig
from tfreport.models.hier_rnn import HierRNN, HierRNNConfig
from tfreport.models.m2_transformer import M2Config, M2Transformer
from tfreport.models.mrna import MRNA, MRNAConfig

MODELS: Dict[str, Type[ReportModel]] = {
    "cnn_rnn": CNNRNN,
    "cnn_rnn_att": CNNRNNAtt,
    "hier_rnn": HierRNN,
    "m2_transformer": M2Transformer,
    "mrna": MRNA,
}


def model_class(name: str) -> Type[ReportModel]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def make_config(name: str, preset: str, **overrides):
    """The model's config dataclass for a preset, with flag overrides applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    return model_class(name).config_class.preset(preset, **overrides)


def build_model(name: str, config) -> ReportModel:
    return model_class(name)(config).build_all()


__all__ = ["MODELS", "PRESETS", "CNNRNN", "CNNRNNConfig", "CNNRNNAtt", "CNNRNNAttConfig", "HierRNN", "HierRNNConfig", "M2Config", "M2Transformer", "MRNA", "MRNAConfig", "model_class", "make_config", "build_model"]
