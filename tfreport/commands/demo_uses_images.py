"""Measure whether a trained model uses the images, on the demo test split.

Compares the model's reports with the most frequent training report (which ignores the
image) by macro-F1 over positive mentions of the demo findings.

    python scripts/demo_uses_images.py --model_dir models/<run> [--data_dir data/demo/prepared]
"""
import argparse
import json

from tfreport import fileio
from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", required=True)
    p.add_argument("--data_dir", default=None, help="default: the model's training data")
    p.add_argument("--split", default="test")
    p.add_argument("--beam_size", type=int, default=3)
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    from tfreport.evaluation import decode_split
    from tfreport.experiments.baselines import most_frequent_report
    from tfreport.metrics.demo_findings import demo_truth, findings_f1

    _, data_dir, _, predictions = decode_split(args.model_dir, args.data_dir, args.split,
                                               args.beam_size)
    truth = demo_truth(data_dir)
    frequent = most_frequent_report(data_dir)
    result = {"split": args.split, "model_dir": args.model_dir,
              "model": findings_f1(predictions, truth),
              "most_frequent_training_report": findings_f1({k: frequent for k in predictions}, truth),
              "most_frequent_report_text": frequent}
    print(f"{'finding':18s} {'support':>7s} {'model F1':>9s} {'frequent F1':>12s}")
    for name, row in result["model"]["per_finding"].items():
        base = result["most_frequent_training_report"]["per_finding"][name]
        print(f"{name:18s} {row['support']:7d} {row['f1']:9.3f} {base['f1']:12.3f}")
    print(f"{'macro-F1':18s} {'':7s} {result['model']['macro_f1']:9.3f} "
          f"{result['most_frequent_training_report']['macro_f1']:12.3f}")
    if args.out:
        with fileio.open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    run_main(main)
