"""Decoding speed: reports per second and time to the first report, per model and beam size.

    python scripts/benchmark_decoding.py [--models m2_transformer,mrna] [--preset paper]
        [--beam_sizes 1,3] [--length 60] [--batch_size 16] [--save_ids F.npz | --check_ids F.npz]

Each model is built at ``--preset`` with random weights and a 1,000-word vocabulary, and fed
random 2 x 49 x 256 grids (the feature-cache input, so no backbone runs). Random weights
almost never end a report, so every report runs to full length: M2 to ``--length`` tokens,
a hierarchical model its preset's sentences and words. The figures are per-step speed, with
nothing gained from reports that end early.

- **time to first report**: a new ``Decoder``'s first batch, tracing included, as
  ``generate.py`` and ``evaluate.py`` pay it once per run;
- **reports/s**: the best of ``--repeats`` later batches.

``--save_ids`` keeps every decoded id; ``--check_ids`` compares them with a saved file (the
same flags on another version of tfreport), so a speed-up is shown to write the same reports.
The script only uses ``Decoder`` and the model zoo, so it runs on older checkouts too
(``PYTHONPATH=OLD_CHECKOUT python scripts/benchmark_decoding.py ...``).
"""
from __future__ import annotations

import argparse
import json
import time

from tfreport.cli import run_main


def _csv(cast):
    return lambda text: [cast(x) for x in text.split(",") if x]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=_csv(str), default=["m2_transformer", "mrna"])
    p.add_argument("--preset", default="paper")
    p.add_argument("--beam_sizes", type=_csv(int), default=[1, 3])
    p.add_argument("--length", type=int, default=60, help="M2: tokens per report")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--vocab_size", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--save_ids", default=None, help="write every decoded id to this .npz")
    p.add_argument("--check_ids", default=None, help="compare the ids with this .npz")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = p.parse_args(argv)

    import numpy as np
    import keras
    import tensorflow as tf
    from tfreport.decoding import Decoder
    from tfreport.models import build_model, make_config
    from tfreport.vocab import PAD_ID

    try:  # older checkouts have no hardware record
        from tfreport.hardware import describe, one_line
        machine = one_line(describe())
    except ImportError:
        machine = "(no tfreport.hardware in this version)"
    print(machine)
    grids = tf.constant(np.random.default_rng(0).normal(size=(args.batch_size, 2, 49, 256)),
                        tf.float32)
    batch = {"grids": grids, "view_mask": tf.ones((args.batch_size, 2))}
    rows, ids = [], {}
    for name in args.models:
        keras.utils.set_random_seed(0)
        extra = {"max_tokens": args.length} if name == "m2_transformer" else {}
        cfg = make_config(name, args.preset, vocab_size=args.vocab_size, backbone="small",
                          image_size=32, **extra)
        model = build_model(name, cfg)
        for beam in args.beam_sizes:
            decoder = Decoder(model, None, beam_size=beam)
            start = time.perf_counter()
            out = decoder.ids(batch)
            first = time.perf_counter() - start
            best = 0.0
            for _ in range(args.repeats):
                start = time.perf_counter()
                out = decoder.ids(batch)
                best = max(best, args.batch_size / (time.perf_counter() - start))
            tokens = float(np.mean(np.sum(out != PAD_ID, axis=tuple(range(1, out.ndim)))))
            key = f"{name}-beam{beam}"
            ids[key] = out
            rows.append(dict(model=name, beam=beam, first_s=round(first, 2),
                             reports_per_s=round(best, 3), tokens=round(tokens, 1)))
            print(f"{key}: first report {first:.2f} s, {best:.2f} reports/s, "
                  f"{tokens:.1f} tokens a report", flush=True)
    print(f"\n{args.preset} preset, batch {args.batch_size}; {machine}")
    print("| model | beam | time to first report (s) | reports/s | tokens a report |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['beam']} | {r['first_s']:.2f} | {r['reports_per_s']:.2f} | "
              f"{r['tokens']:.1f} |")
    if args.save_ids:
        np.savez(args.save_ids, **ids)
    if args.check_ids:
        saved = np.load(args.check_ids)
        for key, out in ids.items():
            same = key in saved.files and saved[key].shape == out.shape
            share = float(np.mean(saved[key] == out)) if same else 0.0
            print(f"{key}: {'identical' if share == 1.0 else f'{share:.2%} of ids equal'} "
                  f"to {args.check_ids}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine, "preset": args.preset, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    run_main(main)
