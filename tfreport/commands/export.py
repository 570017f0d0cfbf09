"""Export a trained model as a TensorFlow SavedModel that serves report text.

    python scripts/export.py --model_path models/RUN --out exported/RUN [--beam_size 3] [--version N] [--overwrite]

Writes OUT/<version>/ (TF Serving's layout: OUT is the model's base path; the version is one
past the highest numbered folder in OUT, 1 for a new OUT). The `serving_default` signature
takes `frontal` and `lateral`: [batch] strings of PNG or JPEG bytes (an empty lateral string
means no lateral view) and returns {"report": [batch] strings}.
    m = tf.saved_model.load("exported/RUN/1")
    m.signatures["serving_default"](frontal=tf.constant([png]), lateral=tf.constant([png2]))
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_path", required=True, help="model directory or .keras file")
    p.add_argument("--out", required=True,
                   help="the model's base folder; the SavedModel goes to OUT/<version>/")
    p.add_argument("--version", type=int, default=None,
                   help="version folder to write (default: one past the highest in OUT, or 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT/<version> when it exists (without it, export refuses)")
    p.add_argument("--beam_size", type=int, default=3)
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    if args.beam_size < 1:
        p.error("--beam_size must be at least 1")
    if args.version is not None and args.version < 1:
        p.error(f"--version must be a positive integer, got {args.version}")
    from tfreport.export import cli_examples, export
    written = export(args.model_path, args.out, args.beam_size, version=args.version,
                     overwrite=args.overwrite)
    print(f"Wrote SavedModel {written} (version {written.rstrip('/').rsplit('/', 1)[-1]}; "
          "signature serving_default: frontal, lateral -> report)")
    print(cli_examples(written))


if __name__ == "__main__":
    run_main(main)
