"""Export a trained model as a TensorFlow SavedModel that serves report text.

    python scripts/export.py --model_path models/RUN --out exported/RUN [--beam_size 3]

The `serving_default` signature takes `frontal` and `lateral`: [batch] strings of PNG or JPEG
bytes (an empty lateral string means no lateral view) and returns {"report": [batch] strings}.
    m = tf.saved_model.load("exported/RUN")
    m.signatures["serving_default"](frontal=tf.constant([png]), lateral=tf.constant([png2]))
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_path", required=True, help="model directory or .keras file")
    p.add_argument("--out", required=True, help="SavedModel directory to write")
    p.add_argument("--beam_size", type=int, default=3)
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    if args.beam_size < 1:
        p.error("--beam_size must be at least 1")
    from tfreport.export import export
    print(f"Wrote SavedModel {export(args.model_path, args.out, args.beam_size)} "
          "(signature serving_default: frontal, lateral -> report)")


if __name__ == "__main__":
    run_main(main)
