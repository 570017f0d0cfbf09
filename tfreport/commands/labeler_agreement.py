"""Agreement of tfreport's labeler with IU X-Ray MeSH terms, per observation.

    python scripts/labeler_agreement.py --reports_csv ../shared/data/iu_xray/indiana_reports.csv
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reports_csv", required=True, help="IU X-Ray indiana_reports.csv")
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    from tfreport.metrics.mesh_agreement import MESH_FOR, agreement
    result = agreement(args.reports_csv)
    print(f"{result.pop('_reports')['count']} reports (MeSH 'No Indexing' left out)\n")
    print("| observation | MeSH headings | MeSH positives | labeler positives | precision | recall | F1 |")
    print("|---|---|---|---|---|---|---|")
    for obs, r in result.items():
        mesh = "; ".join(MESH_FOR.get(obs, ["normal"]))
        print(f"| {obs} | {mesh} | {r['mesh_positives']} | {r['labeler_positives']} | "
              f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |")


if __name__ == "__main__":
    run_main(main)
