"""Measure whether the heatmaps point at the findings, on the demo (drawn at known places).

    python scripts/localisation.py --model_dir M [--model_dir M2 ...] --out docs/localisation.md

For each generated sentence that states a finding its study has: the sentence's attention
(or Grad-CAM) mass inside the finding's drawn pixels, against the region's share of the
visible area. Lift 1 is chance. Writes the table (Markdown) and OUT with .json beside it.
Folders given the same --name are seeds of one model: the table then adds each finding's
lift as mean ± sd over them.

    python scripts/localisation.py --model_dir runs/a-seed0 --name A --model_dir runs/a-seed1 --name A ...
"""
import argparse
import json
import os

from tfreport import fileio
from tfreport.cli import nonnegative_int, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_dir", action="append", required=True,
                   help="a model folder trained and decoded on the demo; repeat")
    p.add_argument("--name", action="append", default=None, help="one per --model_dir")
    p.add_argument("--raw_dir", default=os.path.join("data", "demo", "raw"),
                   help="the demo's raw folder (default data/demo/raw)")
    p.add_argument("--demo_seed", type=int, default=0, help="the seed the demo was drawn with")
    p.add_argument("--split", default="test")
    p.add_argument("--bootstrap", type=nonnegative_int, default=1000, metavar="N")
    p.add_argument("--out", default=None, help="write the table here (.md; .json beside it)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    names = args.name or [os.path.basename(os.path.normpath(m)) for m in args.model_dir]
    if len(names) != len(args.model_dir):
        p.error("give one --name per --model_dir")
    if args.out:
        from tfreport.errors import ensure_writable_file
        ensure_writable_file(args.out, "--out table")
    from tfreport.metrics import localisation
    groups, results = {}, {}
    for n, m in zip(names, args.model_dir):
        r = localisation.localise(m, args.raw_dir, args.split, args.demo_seed, args.bootstrap,
                                  quiet=args.quiet)
        groups.setdefault(n, []).append(r)
        label = n if names.count(n) == 1 else f"{n} ({os.path.basename(os.path.normpath(m))})"
        results[label] = r
    table = localisation.markdown(results)
    if any(len(g) > 1 for g in groups.values()):
        table = ("## Over seeds\n\n" + localisation.seeds_markdown(groups)
                 + "\n\n## Each run\n\n" + table)
        results = {"runs": results,
                   "seeds": {n: localisation.seed_summary(g) for n, g in groups.items()}}
    print(table)
    if args.out:
        with fileio.open(args.out + ".partial", "w", encoding="utf-8") as f:
            f.write(table + "\n")
        fileio.replace(args.out + ".partial", args.out)
        json_path = os.path.splitext(args.out)[0] + ".json"
        with fileio.open(json_path + ".partial", "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
        fileio.replace(json_path + ".partial", json_path)
        print(f"Wrote {args.out} and {json_path}")


if __name__ == "__main__":
    run_main(main)
