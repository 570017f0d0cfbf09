"""Optimisation settings: a dataclass with the legacy, paper and demo presets."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Dict

# Per-model legacy/paper values (DESIGN §3); the demo preset trains in minutes on a CPU.
_PRESETS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "legacy": {
        "*": dict(learning_rate=1e-4, lr_decay=0.9, decay_epochs=5, clip_norm=5.0,
                  batch_size=26, epochs=50),
    },
    "paper": {
        "*": dict(learning_rate=1e-4, lr_decay=0.9, decay_epochs=5, clip_norm=5.0,
                  batch_size=26, epochs=50),
    },
    "demo": {
        "*": dict(learning_rate=2e-3, lr_decay=0.8, decay_epochs=4, clip_norm=5.0,
                  batch_size=32, epochs=14, beam_size=3, val_samples=200),
    },
}


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 26  # global batch
    learning_rate: float = 1e-4
    lr_decay: float = 0.9  # multiplied in every `decay_epochs` epochs
    decay_epochs: int = 5
    clip_norm: float = 5.0  # global-norm gradient clipping; 0 turns it off
    seed: int = 0
    beam_size: int = 3
    val_metric: str = "BLEU-4"  # chooses the best checkpoint, on validation only
    val_samples: int = 0  # studies decoded for validation metrics each epoch; 0 = all
    num_text_samples: int = 4  # sample reports written to TensorBoard per epoch

    @classmethod
    def preset(cls, preset: str, model: str, **overrides) -> "TrainConfig":
        if preset not in _PRESETS:
            raise ValueError(f"unknown preset {preset!r}; valid: {', '.join(_PRESETS)}")
        values = dict(_PRESETS[preset].get("*", {}))
        values.update(_PRESETS[preset].get(model, {}))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)
