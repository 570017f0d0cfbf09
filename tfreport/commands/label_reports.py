"""Label reports with tfreport's rule-based CheXpert labeler (offline, no weights).

    python scripts/label_reports.py --reports R.json --out labels.csv

R.json is {id: report text}; labels.csv has a column id and the 14 observation columns
(1 positive, 0 negative, -1 uncertain, blank not mentioned).
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, load_json_object, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports", required=True)
    p.add_argument("--out", required=True)
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    from tfreport.labeler import label_reports, write_label_csv
    reports = load_json_object(args.reports, str)
    write_label_csv(args.out, label_reports(reports))
    print(f"Labelled {len(reports)} reports -> {args.out}")


if __name__ == "__main__":
    run_main(main)
