"""Published results, quoted with their dataset, split and scoring: reported, not run here.

Benchmark tables set these beside tfreport's own rows, always in their own block, because
their splits, scoring and labelers differ from the rows run here.
"""
from __future__ import annotations

from typing import Dict, List

# Each entry: where it comes from, the data it was measured on, and its figures (All unless
# the group says otherwise). Values as printed by the sources (docs/design.md §1).
PUBLISHED: List[Dict] = [
    {"source": "legacy project (TF1)", "model": "CNN-RNN", "dataset": "IU X-Ray",
     "split": "legacy 2,811/300", "scoring": "coco-caption, legacy references (8 x 49 words)",
     "group": "All", "BLEU-1": .3087, "BLEU-2": .2018, "BLEU-3": .1400, "BLEU-4": .0986,
     "METEOR": .1528, "ROUGE-L": .3208, "CIDEr": .3068},
    {"source": "legacy project (TF1)", "model": "CNN-RNN-Att", "dataset": "IU X-Ray",
     "split": "legacy 2,811/300", "scoring": "coco-caption, legacy references (8 x 49 words)",
     "group": "All", "BLEU-1": .3274, "BLEU-2": .2155, "BLEU-3": .1478, "BLEU-4": .1036,
     "METEOR": .1571, "ROUGE-L": .3184, "CIDEr": .3649},
    {"source": "legacy project (TF1)", "model": "Hier-RNN", "dataset": "IU X-Ray",
     "split": "legacy 2,811/300", "scoring": "coco-caption, legacy references (8 x 49 words)",
     "group": "All", "BLEU-1": .3426, "BLEU-2": .2318, "BLEU-3": .1602, "BLEU-4": .1121,
     "METEOR": .1583, "ROUGE-L": .3343, "CIDEr": .2755},
    {"source": "legacy project (TF1)", "model": "MRNA", "dataset": "IU X-Ray",
     "split": "legacy 2,811/300", "scoring": "coco-caption, legacy references (8 x 49 words)",
     "group": "All", "BLEU-1": .3721, "BLEU-2": .2445, "BLEU-3": .1729, "BLEU-4": .1234,
     "METEOR": .1647, "ROUGE-L": .3224, "CIDEr": .3054},
    {"source": "legacy project (TF1), unreleased improved model", "model": "improved",
     "dataset": "IU X-Ray", "split": "legacy 2,811/300",
     "scoring": "coco-caption, legacy references; 'normal' undefined", "group": "All",
     "BLEU-4": .1473},
    {"source": "legacy project (TF1), unreleased improved model", "model": "improved",
     "dataset": "IU X-Ray", "split": "legacy 2,811/300",
     "scoring": "coco-caption, legacy references; 'normal' undefined", "group": "Normal",
     "BLEU-4": .1750},
    {"source": "legacy project (TF1), unreleased improved model", "model": "improved",
     "dataset": "IU X-Ray", "split": "legacy 2,811/300",
     "scoring": "coco-caption, legacy references; 'normal' undefined", "group": "Abnormal",
     "BLEU-4": .0934},
    {"source": "R2Gen (Chen et al. 2020)", "model": "R2Gen", "dataset": "IU X-Ray",
     "split": "R2Gen 2,069/296/590", "scoring": "coco-caption", "group": "All",
     "BLEU-4": .165, "METEOR": .187, "ROUGE-L": .371},
    {"source": "double-feature study (2021)", "model": "M2, ImageNet ResNet50",
     "dataset": "MIMIC-CXR", "split": "official", "scoring": "coco-caption; CheXbert F1",
     "group": "All", "BLEU-4": .0874, "CE-F1": .4195},
    {"source": "double-feature study (2021)", "model": "M2, CheXpert DenseNet121",
     "dataset": "MIMIC-CXR", "split": "official", "scoring": "coco-caption; CheXbert F1",
     "group": "All", "BLEU-4": .1084, "CE-F1": .5116},
    {"source": "double-feature study (2021)", "model": "M2, both (double feature)",
     "dataset": "MIMIC-CXR", "split": "official", "scoring": "coco-caption; CheXbert F1",
     "group": "All", "BLEU-4": .1062, "CE-F1": .5152},
    {"source": "Miura et al. (2021)", "model": "M2 + RL rewards", "dataset": "MIMIC-CXR",
     "split": "official", "scoring": "coco-caption; CheXbert 5-finding micro-F1",
     "group": "All", "BLEU-4": .114, "CIDEr": .509, "CE-5-micro-F1": .567},
]


def published(dataset: str = None) -> List[Dict]:
    """The published rows, optionally for one dataset ("IU X-Ray" or "MIMIC-CXR")."""
    return [r for r in PUBLISHED if dataset is None or r["dataset"] == dataset]
