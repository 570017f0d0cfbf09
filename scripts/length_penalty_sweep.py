"""Choose beam search's length penalty on validation: decode a split with several GNMT alphas.

    python scripts/length_penalty_sweep.py --model_dir M [--split val] [--alphas 0 0.6 1.0] [--beam_size 3]

Prints, per alpha, BLEU-1/4, CIDEr and the report diagnostics (sentences and words per report
beside the references', distinct share). Choose on validation, never on test.
"""
import argparse

import _bootstrap  # noqa: F401

from tfreport.cli import run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", default=None, help="default: the model's training data")
    p.add_argument("--split", default="val")
    p.add_argument("--alphas", type=float, nargs="+", default=[0.0, 0.6, 1.0])
    p.add_argument("--beam_size", type=int, default=3)
    p.add_argument("--checkpoint", default="best.keras")
    args = p.parse_args(argv)
    if args.beam_size < 2:
        p.error("the length penalty ranks beams: --beam_size must be at least 2")
    from tfreport import evaluation
    from tfreport.metrics import nlg
    from tfreport.metrics.diagnostics import report_diagnostics

    print("| alpha | BLEU-1 | BLEU-4 | CIDEr | sentences (ref) | words (ref) | distinct |")
    print("|---|---|---|---|---|---|---|")
    for alpha in args.alphas:
        _, data_dir, _, predictions = evaluation.decode_split(
            args.model_dir, args.data_dir, args.split, args.beam_size, args.checkpoint,
            quiet=True, length_penalty=alpha)
        refs = evaluation.references(data_dir, args.split)
        s = nlg.score(predictions, refs, nlg.BLEU + ("CIDEr",))
        d = report_diagnostics(predictions, refs)
        print(f"| {alpha:g} | {s['BLEU-1']:.3f} | {s['BLEU-4']:.3f} | {s['CIDEr']:.3f} | "
              f"{d['sentences']:.2f} ({d['ref_sentences']:.2f}) | {d['words']:.1f} "
              f"({d['ref_words']:.1f}) | {d['distinct']:.3f} |")


if __name__ == "__main__":
    run_main(main)
