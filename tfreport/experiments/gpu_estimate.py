"""Expected GPU wall time of the runbook's training runs, from counted FLOPs per example.

An *estimate*: FLOPs per training example are counted on the traced graph
(:mod:`tfreport.experiments.flops`), multiplied by the examples and epochs of each run, and divided by an
assumed sustained rate (a fraction of the GPU's dense float16 tensor peak). Validation and
test decoding, data loading and start-up are not included. Recurrent decoders run step by
step and rarely reach a GPU's matrix rate, so for them the estimate is a lower bound.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

# Dense float16/bfloat16 tensor-core peaks, TFLOP/s (vendor datasheets).
GPU_PEAK_TFLOPS: Dict[str, float] = {"T4": 65.0, "A100": 312.0, "H100 SXM": 989.0}
IU_LEGACY_TRAIN = 2667  # tfreport's legacy split of the Kaggle IU X-Ray build (docs/iu_xray.md)
MIMIC_TRAIN = 222758  # studies in MIMIC-CXR-JPG's official train split


@dataclass
class Run:
    dataset: str
    model: str
    preset: str
    train_examples: int
    epochs: int
    overrides: Dict[str, object]
    vocab_size: int
    label: str = ""


def runbook_runs(iu_vocab: int = 1818, mimic_vocab: int = 5000) -> List[Run]:
    """The runs docs/REPRODUCE.md asks for, with each preset's epochs."""
    from tfreport.training.config import TrainConfig
    runs = []
    for model in ("cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna", "m2_transformer"):
        preset = "paper" if model == "m2_transformer" else "legacy"
        runs.append(Run("IU X-Ray", model, preset, IU_LEGACY_TRAIN,
                        TrainConfig.preset(preset, model).epochs, {}, iu_vocab))
    for backbone in ("resnet50", "densenet121", "dual"):
        runs.append(Run("MIMIC-CXR", "m2_transformer", "paper", MIMIC_TRAIN,
                        TrainConfig.preset("paper", "m2_transformer").epochs,
                        {"backbone": backbone, "image_size": 224}, mimic_vocab, backbone))
    return runs


def estimate(runs: List[Run], utilisation: float = 0.3,
             gpus: Optional[Dict[str, float]] = None) -> List[dict]:
    """Per run: GFLOPs per example, total PFLOPs and hours on each GPU."""
    from tfreport.experiments.flops import per_example
    gpus = gpus or GPU_PEAK_TFLOPS
    rows = []
    for r in runs:
        per_ex = per_example(r.model, r.preset, r.vocab_size, **r.overrides)
        total = per_ex * r.train_examples * r.epochs
        rows.append({"dataset": r.dataset, "model": r.model, "preset": r.preset,
                     "extractor": r.label or "preset's", "train_examples": r.train_examples,
                     "epochs": r.epochs, "gflops_per_example": per_ex / 1e9,
                     "total_pflops": total / 1e15,
                     "hours": {g: total / (utilisation * peak * 1e12) / 3600
                               for g, peak in gpus.items()}})
    return rows


def head_flops(vocab_size: int = 2068) -> Dict[str, float]:
    """GFLOPs per example of each head alone on cached ResNet50 grids: the configuration
    ``scripts/benchmark_training.py`` times, so counted FLOPs x measured ex/s gives the rate
    this CPU sustained (a check on the counter against the CPU's matmul peak)."""
    from tfreport.experiments.flops import per_example
    from tfreport.models import MODELS
    return {m: per_example(m, "paper" if m == "m2_transformer" else "legacy", vocab_size,
                           cached=True, backbone="resnet50", image_size=224) / 1e9
            for m in sorted(MODELS)}


def markdown(rows: List[dict], utilisation: float) -> str:
    gpus = list(rows[0]["hours"]) if rows else []
    lines = ["| dataset | model | preset | extractor | train studies | epochs | GFLOPs / example "
             "| total PFLOPs | " + " | ".join(f"{g} h (est.)" for g in gpus) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * len(gpus)]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['model']} | {r['preset']} | {r['extractor']} | "
                     f"{r['train_examples']:,} | {r['epochs']} | {r['gflops_per_example']:.1f} | "
                     f"{r['total_pflops']:.1f} | "
                     + " | ".join(f"{h:.2f}" for h in r["hours"].values()) + " |")
    lines.append(f"\nAssumed sustained rate: {utilisation:.0%} of each GPU's dense float16 "
                 "tensor peak (" + ", ".join(f"{g} {p:g}" for g, p in
                                             GPU_PEAK_TFLOPS.items() if g in gpus)
                 + " TFLOP/s). Training steps only.")
    return "\n".join(lines)


def cpu_check(model: str = "m2_transformer", batch_size: int = 8, vocab_size: int = 2068,
              size: int = 1024) -> Dict[str, float]:
    """A check of the counter on this machine: the rate a counted training step sustains
    (counted FLOPs x measured examples/s), against a large float32 matmul in the same
    process. Above 100% would mean the count is too high."""
    import time

    import tensorflow as tf

    from tfreport.experiments.flops import per_example
    from tfreport.training.throughput import measure

    a, b = tf.random.normal([size, size]), tf.random.normal([size, size])
    matmul = tf.function(lambda: tf.matmul(a, b))

    def matmul_rate():
        matmul()
        times = []
        for _ in range(10):
            start = time.perf_counter()
            matmul().numpy()
            times.append(time.perf_counter() - start)
        return 2 * size ** 3 / min(times) / 1e9

    preset = "paper" if model == "m2_transformer" else "legacy"
    before = matmul_rate()
    step = measure(model, preset, "off", vocab_size, batch_size=batch_size, steps=3)
    peak = max(before, matmul_rate())
    gflops = per_example(model, preset, vocab_size, cached=True, backbone="resnet50",
                         image_size=224) / 1e9
    rate = gflops * step["examples_per_second"]
    return {"model": model, "matmul_gflops_per_s": peak, "examples_per_second":
            step["examples_per_second"], "gflops_per_example": gflops,
            "implied_gflops_per_s": rate, "share_of_matmul": rate / peak}
