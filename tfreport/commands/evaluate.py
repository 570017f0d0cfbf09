"""Evaluate a trained model on a split: all, normal and abnormal studies.

    python scripts/evaluate.py --model_dir M [--data_dir D] --split test [--beam_size 3]

Writes predictions_<split>.json, metrics_<split>.json and metrics_<split>.md into the model
directory and prints the table, then the report diagnostics (sentences and words per report
beside the references', distinct, copied, repeated and novel). --html DIR also writes the review
page there (see scripts/review.py).
"""
import argparse

from tfreport import fileio
from tfreport.cli import (add_bool, add_seed_flags, apply_seed_flags, finite_float,
                          nonnegative_int, positive_float, positive_int, run_main)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", default=None, help="default: the data the model was trained on")
    p.add_argument("--split", default="test")
    p.add_argument("--beam_size", type=positive_int, default=3)
    p.add_argument("--checkpoint", default="best.keras")
    p.add_argument("--uncertain", type=int, choices=[0, 1], default=0)
    p.add_argument("--block_trigrams", action="store_true",
                   help="never repeat a trigram while decoding")
    p.add_argument("--length_penalty", type=finite_float, default=None, metavar="ALPHA",
                   help="rank finished beams by score / ((5 + length) / 6) ** ALPHA (GNMT); "
                        "default: tfreport.decoding.DEFAULT_LENGTH_PENALTY")
    p.add_argument("--mbr_samples", type=nonnegative_int, default=0, metavar="K",
                   help="choose each report by minimum Bayes risk among the searched report and "
                        "K samples (agreement: labeler F1 + word F1); 0 = the searched report")
    p.add_argument("--temperature", type=positive_float, default=1.0, help="sampling temperature (MBR)")
    add_bool(p, "--no_repeat", False, "hierarchical models: no sentence twice in a report (the "
             "best beam that repeats none; a report ends where every candidate would)")
    add_bool(p, "--mbr_no_repeat", True, "hierarchical models with --mbr_samples: never choose "
             "a candidate that says a sentence twice while another says none twice")
    p.add_argument("--bootstrap", type=nonnegative_int, default=0, metavar="N",
                   help="95%% bootstrap intervals from N resamples of the studies (e.g. 1000)")
    p.add_argument("--legacy_scoring", action="store_true",
                   help="score as the legacy project: references cut to 8 sentences of 49 words")
    add_seed_flags(p)
    p.add_argument("--html", default=None, metavar="DIR",
                   help="also write the review page there (DIR/index.html: reports beside "
                        "references, findings, per-report scores, heatmaps; no network)")
    p.add_argument("--quiet", action="store_true")
    from tfreport import labelers
    labelers.add_flags(p)
    args = p.parse_args(argv)
    if args.bootstrap < 0:
        p.error("--bootstrap must be 0 or more")
    if args.mbr_samples < 0 or args.temperature <= 0:
        p.error("--mbr_samples must be 0 or more and --temperature positive")
    if fileio.isdir(args.model_dir):  # before decoding: the outputs go there
        from tfreport.errors import ensure_writable_dir
        ensure_writable_dir(args.model_dir, "--model_dir (predictions and metrics go there)")
    if args.html:
        from tfreport.errors import ensure_writable_dir
        ensure_writable_dir(args.html, "--html (the review page goes there)")
    apply_seed_flags(args)
    labeler = labelers.from_args(args, p, quiet=args.quiet)  # before decoding: fail fast
    from tfreport.evaluation import decoding_label, evaluate
    from tfreport.metrics.table import markdown
    result = evaluate(args.model_dir, args.data_dir, args.split, args.beam_size,
                      args.checkpoint, args.uncertain, args.quiet, args.block_trigrams,
                      bootstrap=args.bootstrap, seed=args.seed or 0,
                      legacy_scoring=args.legacy_scoring, length_penalty=args.length_penalty,
                      mbr_samples=args.mbr_samples, temperature=args.temperature,
                      no_repeat=args.no_repeat, mbr_no_repeat=args.mbr_no_repeat,
                      labeler=labeler)
    print(markdown(result, f"{args.split} split, {decoding_label(result)}"))
    print(f"\nWritten to {args.model_dir}: predictions_{args.split}.json, "
          f"metrics_{args.split}.json, metrics_{args.split}.md")
    if args.html:
        from tfreport.review_page import build
        page = build(args.html, [args.model_dir], args.split, data_dir=args.data_dir,
                     quiet=args.quiet)
        print(f"Review page: {page} (open it in a browser; it needs no network)")


if __name__ == "__main__":
    run_main(main)
