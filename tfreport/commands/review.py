"""Write the review page of decoded model folders: reports beside references, with heatmaps.

    python scripts/review.py --model_dir M [--model_dir M2 ...] --out DIR [--split test]

Each --model_dir must hold predictions_<split>.json (evaluate.py writes it; benchmark rows
keep theirs). DIR/index.html opens from the file system, with no network: per study both
views, the generated and the reference report, the labeler's findings of each (agreements
and disagreements marked), per-report scores and each sentence's heatmap (soft attention,
or Grad-CAM for the models without it). Filter by normal/abnormal, a disagreeing finding and
the model; sort by any per-report score.
"""
import argparse

from tfreport.cli import positive_int, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", action="append", required=True,
                   help="a decoded model folder; repeat for several runs")
    p.add_argument("--name", action="append", default=None,
                   help="a run's name on the page (one per --model_dir; default: folder name)")
    p.add_argument("--out", required=True, help="the page's folder (index.html goes there)")
    p.add_argument("--split", default="test")
    p.add_argument("--data_dir", default=None, help="default: the data each model trained on")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="only the first N studies of the split")
    p.add_argument("--no_heatmaps", action="store_true", help="skip the per-sentence heatmaps")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.name and len(args.name) != len(args.model_dir):
        p.error(f"give one --name per --model_dir ({len(args.name)} names, "
                f"{len(args.model_dir)} folders)")
    from tfreport.review_page import build
    path = build(args.out, args.model_dir, args.split, args.name, args.data_dir, args.limit,
                 heatmaps=not args.no_heatmaps, quiet=args.quiet)
    print(f"Review page: {path} (open it in a browser; it needs no network)")


if __name__ == "__main__":
    run_main(main)
