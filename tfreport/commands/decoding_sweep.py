"""Choose decoding settings on validation: the length penalty, and MBR's samples and temperature.

    python scripts/decoding_sweep.py --model_dir M [--split val] [--alphas 0 0.6 1.0] [--mbr 8:0.8 8:1.0]

Each setting decodes the split once and prints BLEU-1/4, CIDEr, CE-F1, CE-macro-F1 over the
observations with at least --min_positives positives in the split's references, and the report
diagnostics (sentences and words beside the references', distinct). Choose on validation, never
on test.
"""
import argparse

from tfreport.cli import run_main


def _mbr(text: str):
    try:
        k, t = text.split(":")
        return int(k), float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--mbr takes K:T (samples:temperature), got {text!r}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", default=None, help="default: the model's training data")
    p.add_argument("--split", default="val")
    p.add_argument("--alphas", type=float, nargs="*", default=[0.0],
                   help="length penalties to try with the beam")
    p.add_argument("--mbr", type=_mbr, nargs="*", default=[], metavar="K:T",
                   help="MBR settings to try (length penalty 0)")
    p.add_argument("--min_positives", type=int, default=20)
    p.add_argument("--beam_size", type=int, default=3)
    p.add_argument("--checkpoint", default="best.keras")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from tfreport import evaluation, labeler
    from tfreport.metrics import nlg, scoring

    settings = [("beam", a, 0, 1.0) for a in args.alphas]
    settings += [("mbr", 0.0, k, t) for k, t in args.mbr]
    print("| decoding | alpha | BLEU-1 | BLEU-4 | CIDEr | CE-F1 | CE-macro-F1 (frequent) | "
          "sentences (ref) | words (ref) | distinct |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    frequent = None
    for kind, alpha, k, t in settings:
        _, data_dir, _, predictions = evaluation.decode_split(
            args.model_dir, args.data_dir, args.split, args.beam_size, args.checkpoint,
            quiet=True, length_penalty=alpha, mbr_samples=k, temperature=t, seed=args.seed)
        refs = evaluation.references(data_dir, args.split)
        if frequent is None:
            counts = {}
            for labels in labeler.label_reports(refs).values():
                for obs, v in labels.items():
                    counts[obs] = counts.get(obs, 0) + (v == 1)
            frequent = [o for o, n in counts.items() if n >= args.min_positives and o != "No Finding"]
        r = scoring.score(predictions, refs, metrics=nlg.BLEU + ("CIDEr",))
        per = r["CE"]["per_condition"]
        macro = sum(per[o]["f1"] for o in frequent) / len(frequent) if frequent else float("nan")
        d = r["diagnostics"]
        name = "beam" if kind == "beam" else f"MBR {k} samples, T {t:g}"
        print(f"| {name} | {alpha:g} | {r['BLEU-1']:.3f} | {r['BLEU-4']:.3f} | {r['CIDEr']:.3f} | "
              f"{r['CE-F1']:.3f} | {macro:.3f} | {d['sentences']:.2f} ({d['ref_sentences']:.2f}) | "
              f"{d['words']:.1f} ({d['ref_words']:.1f}) | {d['distinct']:.3f} |")
    print(f"\nCE-macro-F1 over: {', '.join(frequent or [])}")


if __name__ == "__main__":
    run_main(main)
