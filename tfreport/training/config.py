"""Optimisation settings: a dataclass with the legacy, paper and demo presets."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional

# Each preset's optimisation, shared by every model (docs/design.md §3); the demo preset
# trains in minutes on a CPU. What one model changes in a preset is in its own config's
# ``TRAIN_PRESETS`` (models/hier_rnn.py, models/m2_transformer.py).
_PRESETS: Dict[str, Dict[str, Any]] = {
    "legacy": dict(learning_rate=1e-4, lr_decay=0.9, decay_epochs=5, clip_norm=5.0,
                   batch_size=26, epochs=50),
    "paper": dict(learning_rate=1e-4, lr_decay=0.9, decay_epochs=5, clip_norm=5.0,
                  batch_size=26, epochs=50),
    "demo": dict(learning_rate=2e-3, lr_decay=0.8, decay_epochs=4, clip_norm=5.0,
                 batch_size=32, epochs=14, beam_size=3, val_samples=200),
}

SCHEDULES = ("step", "noam")
# What chooses best.keras on validation. CE-F1+BLEU-4 is the sum of the two: clinical content
# first, with fluency as its counterweight and tie-break (a model that states no finding on
# validation scores the all-normal CE-F1 at every epoch, and CE-F1 alone would then keep its
# first, unreadable epoch). docs/benchmarks/iu_xray_rendered/README.md measures it.
VAL_METRICS = ("BLEU-4", "CIDEr", "CE-F1", "CE-F1+BLEU-4")


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 26  # per replica; the global batch is this x the replicas
    learning_rate: float = 1e-4  # the peak, for noam
    lr_schedule: str = "step"  # step: x lr_decay every decay_epochs; noam: warm-up, then 1/sqrt
    lr_decay: float = 0.9
    decay_epochs: int = 5
    warmup: float = 0.1  # noam: warm-up steps as a fraction of all training steps
    backbone_learning_rate: Optional[float] = None  # fine-tuned backbone; None = learning_rate
    adam_beta_2: float = 0.999
    clip_norm: float = 5.0  # global-norm gradient clipping; 0 turns it off
    seed: int = 0
    deterministic: bool = False  # TF op determinism (slower; exact reruns and resumes)
    mixed_precision: str = "auto"  # auto | float16 | bfloat16 | off
    jit_compile: bool = False
    beam_size: int = 3
    length_penalty: Optional[float] = None  # GNMT alpha for beam ranking; None: decoding's default
    val_metric: str = "BLEU-4"  # chooses the best checkpoint, on validation only
    val_samples: int = 0  # studies decoded for validation metrics each epoch; 0 = all
    early_stopping: int = 0  # stop after this many epochs without a better val_metric; 0 = off
    num_text_samples: int = 4  # sample reports written to TensorBoard per epoch

    def __post_init__(self):
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"unknown --lr_schedule {self.lr_schedule!r}; valid: "
                             f"{', '.join(SCHEDULES)}")
        if self.val_metric not in VAL_METRICS:
            raise ValueError(f"unknown --val_metric {self.val_metric!r}; valid: "
                             f"{', '.join(VAL_METRICS)}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"--warmup is a fraction of all steps, in [0, 1); got {self.warmup}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        for f in dataclasses.fields(self):  # nan and inf pass every comparison below
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"--{f.name} must be a finite number, got {value}")
        positive = ("learning_rate", "lr_decay", "backbone_learning_rate")
        for name in positive:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"--{name} must be positive, got {value}")
        at_least = {"decay_epochs": 1, "beam_size": 1, "val_samples": 0, "early_stopping": 0,
                    "num_text_samples": 0}
        for name, low in at_least.items():
            if getattr(self, name) < low:
                raise ValueError(f"--{name} must be at least {low}, got {getattr(self, name)}")
        if self.clip_norm < 0:
            raise ValueError(f"--clip_norm must be 0 (off) or positive, got {self.clip_norm}")
        if not 0.0 < self.adam_beta_2 < 1.0:
            raise ValueError(f"adam_beta_2 must be in (0, 1), got {self.adam_beta_2}")

    @classmethod
    def preset(cls, preset: str, model: str, **overrides) -> "TrainConfig":
        if preset not in _PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(_PRESETS)}")
        from tfreport.models import model_class
        values = dict(_PRESETS[preset])
        values.update(model_class(model).config_class.TRAIN_PRESETS.get(preset, {}))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


# Datasets whose images are synthetic and small: they train with the CPU-sized demo preset
# unless --preset says otherwise; real data defaults to the legacy preset.
SYNTHETIC_DATASETS = ("demo", "iu_xray_rendered")


def default_preset(dataset: str) -> str:
    return "demo" if dataset in SYNTHETIC_DATASETS else "legacy"
