"""Every model with every backbone trains a step and decodes through train.py's code path.

Slow (full-size ImageNet architectures, random weights, small images): run by hand with
``python -m pytest -m slow tests/test_model_backbone_grid.py``.
"""
import json
import os

import pytest

from tfreport.layers.backbones import BACKBONES
from tfreport.models import MODELS

SIZES = {"inception_v3": 75}  # its smallest input; 32 px for the others


@pytest.mark.slow
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_model_and_backbone_trains_and_decodes(model, backbone, tiny_data, tmp_path):
    from tfreport.training.run import RunSpec, train
    spec = RunSpec(model=model, preset="demo", data_dir=tiny_data,
                   model_dir=str(tmp_path / "m"), logdir=str(tmp_path / "s"),
                   run_name="grid", steps_per_epoch=1, quiet=True, show_samples=0)
    result = train(spec, {"backbone": backbone, "image_size": SIZES.get(backbone, 32),
                          "max_words": 8, "max_sentences": 3, "backbone_weights": "none"},
                   {"epochs": 1, "batch_size": 2, "beam_size": 1, "val_samples": 2})
    assert result["studies"] > 0
    preds = json.load(open(os.path.join(str(tmp_path / "m"), "predictions_test.json")))
    assert len(preds) == result["studies"]
