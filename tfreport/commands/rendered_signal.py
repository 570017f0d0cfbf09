"""The signal per finding in the rendered IU X-Ray images: a linear pixel probe's test AUROC.

    python scripts/rendered_signal.py --raw_dir data/iu_xray_rendered/raw --data_dir data/iu_xray_rendered/r2gen
"""
import argparse
import json

from tfreport import fileio
from tfreport.cli import run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--raw_dir", default="data/iu_xray_rendered/raw", help="the rendered raw layout")
    p.add_argument("--data_dir", required=True, help="a prepared build of it (gives the splits)")
    p.add_argument("--size", type=int, default=None, help="probe pixels per side per view")
    p.add_argument("--out", default=None, help="also write the table as JSON here")
    args = p.parse_args(argv)
    from tfreport.data import rendered_signal
    table = rendered_signal.pixel_probe(args.raw_dir, args.data_dir,
                                        size=args.size or rendered_signal.PROBE_SIZE)
    print("| observation | train positives | test positives | pixel-probe AUROC |")
    print("|---|---|---|---|")
    for obs, row in table.items():
        print(f"| {obs} | {row['train_positives']} | {row['test_positives']} | {row['auroc']:.3f} |")
    if args.out:
        with fileio.open(args.out, "w", encoding="utf-8") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    run_main(main)
