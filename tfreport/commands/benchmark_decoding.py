"""Cached against recomputed decoding for the M2 transformer: reports per second on this machine.

    python scripts/benchmark_decoding.py [--length 60] [--batch_size 16] [--beam_size 1]

The model has the paper's dimensions (3 layers, d=512, 8 heads, FF 2048, 40 memory slots)
with random weights, fed random 2 x 7 x 7 x 2048 grids (ResNet50 at 224 px), so every
report runs to --length tokens. "Cached" is tfreport's decoder (keys and values of past
tokens kept per layer); "recompute" runs the whole decoder over the padded prefix at every
step, as decoders without a cache do.
"""
import argparse
import time

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--length", type=int, default=60)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--beam_size", type=int, default=1)
    p.add_argument("--vocab_size", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=3)
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    import numpy as np
    import tensorflow as tf
    import keras
    from keras import ops
    from tfreport.decoding import decode_flat, end_flat_report, finished_stay_finished, sampler_for
    from tfreport.models import build_model, make_config
    from tfreport.vocab import PAD_ID, START_ID

    keras.utils.set_random_seed(0)
    cfg = make_config("m2_transformer", "paper", vocab_size=args.vocab_size, backbone="small",
                      image_size=32, max_tokens=args.length)
    model = build_model("m2_transformer", cfg)
    grids = tf.constant(np.random.default_rng(0).normal(size=(args.batch_size, 2, 49, 256)),
                        tf.float32)
    batch = {"grids": grids, "view_mask": tf.ones((args.batch_size, 2))}

    cached = tf.function(lambda b: decode_flat(model, b, args.beam_size))

    def recompute_fn(b):
        outputs, mask = model.encoder_outputs(b)
        n = ops.shape(mask)[0]
        prompt = ops.concatenate([ops.full((n, 1), START_ID, "int32"),
                                  ops.full((n, args.length), PAD_ID, "int32")], axis=1)
        first = ops.concatenate([ops.ones((n, 1), "bool"), ops.zeros((n, args.length), "bool")], 1)

        def next_fn(prompt, cache, index):
            outs, m = cache
            logits = model.decoder(prompt, outs, m)
            logits = ops.take(logits, index - 1, axis=1)
            return finished_stay_finished(prompt, index, logits, True), None, cache

        out = sampler_for(args.beam_size)(next_fn, prompt, cache=(outputs, mask),
                                          index=1, mask=first, stop_token_ids=None)
        return end_flat_report(out[:, 1:])

    recompute = tf.function(recompute_fn)

    def rate(fn):
        fn(batch)  # trace and warm up
        best = 0.0
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn(batch).numpy()
            best = max(best, args.batch_size / (time.perf_counter() - start))
        return best

    a = cached(batch).numpy()
    b = recompute(batch).numpy()
    same = float(np.mean(a == b))
    r_cached, r_recompute = rate(cached), rate(recompute)
    print(f"M2 (paper dims), {args.length} tokens, batch {args.batch_size}, beam {args.beam_size}")
    print("| decoding | reports per second |")
    print("|---|---|")
    print(f"| cached (tfreport) | {r_cached:.2f} |")
    print(f"| recompute the prefix every step | {r_recompute:.2f} |")
    print(f"speed-up {r_cached / r_recompute:.1f}x; identical tokens {same:.1%}")


if __name__ == "__main__":
    run_main(main)
