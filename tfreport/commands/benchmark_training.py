"""Training throughput of every model on cached features, float32 against bfloat16.

    python scripts/benchmark_training.py [--models mrna m2_transformer] [--steps 5]

Uses the legacy preset's model sizes (the paper preset for M2) and ResNet50-shaped grids
(7x7x2048 per view at 224 px), with the IU X-Ray legacy vocabulary size.
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None, help="default: all")
    p.add_argument("--precisions", nargs="+", default=["off", "bfloat16"])
    p.add_argument("--steps", type=int, default=5, help="timed steps (best one counts)")
    p.add_argument("--vocab_size", type=int, default=2068, help="legacy IU X-Ray vocabulary")
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    import os
    import platform
    from tfreport.models import MODELS
    from tfreport.training.throughput import measure
    models = args.models or sorted(MODELS)
    rows = []
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("| model | preset | batch | " + " | ".join(f"{p} ex/s" for p in args.precisions)
          + " | speed-up |")
    print("|---|---|---|" + "---|" * len(args.precisions) + "---|")
    for name in models:
        preset = "paper" if name == "m2_transformer" else "legacy"
        figures = [measure(name, preset, prec, args.vocab_size, steps=args.steps)
                   for prec in args.precisions]
        rates = [f["examples_per_second"] for f in figures]
        speedup = rates[-1] / rates[0] if len(rates) > 1 else 1.0
        rows.append((name, rates))
        print(f"| {name} | {preset} | {figures[0]['batch_size']} | "
              + " | ".join(f"{r:.1f}" for r in rates) + f" | {speedup:.2f}x |", flush=True)


if __name__ == "__main__":
    run_main(main)
