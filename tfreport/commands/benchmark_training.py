"""Training throughput of every model by precision and XLA, on cached features or on images.

    python scripts/benchmark_training.py [--models mrna m2_transformer] [--steps 5]
    python scripts/benchmark_training.py --fine_tune --precisions float32 float16 bfloat16 --xla both

Without --fine_tune: the legacy preset's model sizes (the paper preset for M2) on ResNet50-shaped
cached grids (7x7x2048 per view at 224 px), the head's cost alone. With --fine_tune: images at
the preset's size through the preset's extractor, trained too (random init). The IU X-Ray legacy
vocabulary size throughout. --json_out appends one JSON line per measurement as it finishes,
so a run cut short by a time limit keeps what it measured.
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main

PRECISIONS = {"float32": "off", "off": "off", "float16": "float16", "bfloat16": "bfloat16"}


def label(precision: str, xla: bool) -> str:
    """A table column: ``float32``, ``float16+XLA``..."""
    name = "float32" if precision == "off" else precision
    return name + ("+XLA" if xla else "")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None, help="default: all")
    p.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"],
                   choices=sorted(PRECISIONS), help="float32 (= off), float16, bfloat16")
    p.add_argument("--xla", default="off", choices=["off", "on", "both"],
                   help="XLA-compile the step (jit_compile): off, on, or both, side by side")
    p.add_argument("--fine_tune", action="store_true",
                   help="images in, the preset's extractor trained too (default: cached grids)")
    p.add_argument("--preset", default=None,
                   help="default: paper for m2_transformer, legacy for the others")
    p.add_argument("--batch_size", type=int, default=None, help="default: the preset's")
    p.add_argument("--backbone", default=None,
                   help="default: the preset's (fine-tuning) or resnet50")
    p.add_argument("--image_size", type=int, default=None, help="default: the preset's or 224")
    p.add_argument("--model_option", action="append", default=[], metavar="KEY=VALUE",
                   help="set a field of each model's config (as train.py)")
    p.add_argument("--steps", type=int, default=5, help="timed steps (best one counts)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, XLA)")
    p.add_argument("--vocab_size", type=int, default=2068, help="legacy IU X-Ray vocabulary")
    p.add_argument("--json_out", default=None,
                   help="append each measurement to this file as one JSON line")
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    if args.steps < 1 or args.warmup < 0:
        p.error("--steps must be at least 1 and --warmup at least 0")
    import gc
    import json
    import sys
    import keras
    import tensorflow as tf
    from tfreport import hardware
    from tfreport.commands.train import model_options
    from tfreport.models import MODELS
    from tfreport.training.throughput import measure
    overrides = model_options(args.model_option)
    models = args.models or sorted(MODELS)
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        p.error(f"unknown model {', '.join(unknown)}; valid: {', '.join(sorted(MODELS))}")
    cells = [(PRECISIONS[prec], xla) for xla in {"off": [False], "on": [True],
                                                  "both": [False, True]}[args.xla]
             for prec in args.precisions]
    tf.get_logger().setLevel("ERROR")  # each measurement traces its own step: no retracing notes
    print(hardware.one_line(hardware.describe()))
    print("Training step on " + ("images, the extractor fine-tuned" if args.fine_tune else
                                 "cached features (the head alone)")
          + f"; examples per second, best of {args.steps} steps after {args.warmup}")
    print("| model | preset | extractor | batch | "
          + " | ".join(f"{label(*c)} ex/s" for c in cells) + " | best vs first |")
    print("|---|---|---|---|" + "---|" * len(cells) + "---|")
    for name in models:
        preset = args.preset or ("paper" if name == "m2_transformer" else "legacy")
        rates, first = [], None
        for prec, xla in cells:
            record = {"model": name, "preset": preset, "precision": label(prec, False),
                      "xla": xla, "fine_tune": args.fine_tune}
            try:
                fig = measure(name, preset, prec, args.vocab_size, batch_size=args.batch_size,
                              steps=args.steps, warmup=args.warmup, backbone=args.backbone,
                              image_size=args.image_size, fine_tune=args.fine_tune,
                              jit_compile=xla, **overrides)
                first = first or fig
                record.update(fig)
                rates.append(fig["examples_per_second"])
            except (tf.errors.OpError, ValueError, RuntimeError) as e:
                why = "out of memory" if isinstance(e, tf.errors.ResourceExhaustedError) else (
                    str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__)
                print(f"{name} {label(prec, xla)}: failed ({why})", file=sys.stderr, flush=True)
                record["error"] = why
                rates.append(None)
            if args.json_out:
                with open(args.json_out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            keras.backend.clear_session()
            gc.collect()
        done = [r for r in rates if r is not None]
        best = (f"{max(done) / rates[0]:.2f}x ({label(*cells[rates.index(max(done))])})"
                if rates[0] and len(done) > 1 else "")
        extractor = (f"{first['backbone']} {first['image_size']} px" if first else "")
        extractor += " (fine-tuned)" if args.fine_tune and first else (
            " grids (cached)" if first else "")
        print(f"| {name} | {preset} | {extractor} | {first['batch_size'] if first else ''} | "
              + " | ".join(f"{r:.1f}" if r is not None else "failed" for r in rates)
              + f" | {best} |", flush=True)


if __name__ == "__main__":
    run_main(main)
