"""Label reports with a CheXpert labeler: tfreport's rule-based one (offline, no weights) or CheXbert.

    python scripts/label_reports.py --reports R.json --out labels.csv
    python scripts/label_reports.py --reports R.json --out labels.csv \
        --labeler chexbert --chexbert_weights pretrained/chexbert

R.json is {id: report text}; labels.csv has a column id and the 14 observation columns
(1 positive, 0 negative, -1 uncertain, blank not mentioned). CheXbert needs the folder
`tfreport convert-chexbert` writes from the published checkpoint (docs/chexbert.md).
"""
import argparse

from tfreport import labelers
from tfreport.cli import add_seed_flags, apply_seed_flags, load_json_object, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_seed_flags(p)
    labelers.add_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    from tfreport.atomic import writing
    from tfreport.labeler import write_label_csv
    labeler = labelers.from_args(args, p, quiet=args.quiet)
    reports = load_json_object(args.reports, str)
    if not reports:
        raise ValueError(f"{args.reports}: no reports to label (an empty JSON object)")
    with writing(args.out) as tmp:
        write_label_csv(tmp, labeler.label_reports(reports))
    print(f"Labelled {len(reports)} reports with {labeler.name} -> {args.out}")


if __name__ == "__main__":
    run_main(main)
