"""Image-free floors on the real IU X-Ray reports, for the legacy and R2Gen splits.

    python scripts/text_baselines.py --shared_dir ../shared/data --out docs/benchmarks/iu_xray_text \
        [--seeds 5] [--bootstrap 1000] [--seed 0] [--workers 2] \
        [--image_blind_runs RUNS [--carry_earlier true]]

Rows: the most frequent training report and a random training report (mean ± sd over
--seeds), each scored with tfreport's default scoring and the legacy scoring, for All, Normal
and Abnormal (MeSH "normal"), with 95% bootstrap intervals [low, high]. Writes results.md and
results.json. Reads the report files only; no images are needed.

--image_blind_runs RUNS adds each image-blind model (train.py --image_blind true) from
RUNS/legacy/<model>/ and RUNS/r2gen/<model>/ (their predictions_test.json), scored against
the same references; docs/REPRODUCE.md gives the training commands. A hand-written
RUNS-independent note on how they were trained may sit in OUT/blind_note.md. With
--carry_earlier true, a model that has no run in RUNS keeps its image-blind rows from
OUT/results.json, labelled as carried (a partial rerun keeps the rest of the table).
"""
import argparse
import json
import os

from tfreport import fileio
from tfreport.cli import add_seed_flags, apply_seed_flags, parse_bool, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared_dir", default=os.path.join("..", "shared", "data"),
                   help="holds iu_xray/{indiana_reports.csv, annotation.json} and iu_xray_legacy/")
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", type=int, default=5, help="random-report seeds")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples for the intervals")
    p.add_argument("--image_blind_runs", default=None,
                   help="folder with legacy/<model>/ and r2gen/<model>/ image-blind train.py runs")
    p.add_argument("--carry_earlier", type=parse_bool, default=False, metavar="true|false",
                   help="keep OUT/results.json's image-blind rows for models with no run in "
                        "--image_blind_runs, labelled as carried")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes scoring the runs in parallel (each run is one core for a "
                        "minute or two; the table does not depend on it)")
    add_seed_flags(p)
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers must be at least 1, got {args.workers}")
    if args.carry_earlier and not args.image_blind_runs:
        p.error("--carry_earlier true needs --image_blind_runs (it fills in the models not rerun)")
    seed = apply_seed_flags(args)
    from tfreport.atomic import write_json, write_text
    from tfreport.data.iu_xray_text import legacy_text_split, r2gen_text_split
    from tfreport.experiments import text_benchmark as tb
    reports_csv = os.path.join(args.shared_dir, "iu_xray", "indiana_reports.csv")
    for path in (reports_csv, os.path.join(args.shared_dir, "iu_xray_legacy", "data_entry.json"),
                 os.path.join(args.shared_dir, "iu_xray", "annotation.json")):
        if not fileio.exists(path):
            raise FileNotFoundError(f"{path}: not found (--shared_dir)")
    splits = [legacy_text_split(os.path.join(args.shared_dir, "iu_xray_legacy"), reports_csv),
              r2gen_text_split(os.path.join(args.shared_dir, "iu_xray", "annotation.json"),
                               reports_csv)]
    blind = ({s.name: tb.load_blind_runs(args.image_blind_runs, s.name) for s in splits}
             if args.image_blind_runs else None)
    earlier = None
    if args.carry_earlier:
        previous = os.path.join(args.out, "results.json")
        if not fileio.exists(previous):
            raise FileNotFoundError(f"{previous}: no earlier table to carry rows from "
                                    "(--carry_earlier true)")
        with fileio.open(previous, encoding="utf-8") as f:
            earlier = json.load(f)["rows"]
    rows = tb.run(splits, seeds=args.seeds, bootstrap=args.bootstrap, boot_seed=seed,
                  blind=blind, earlier=earlier, workers=args.workers)
    fileio.makedirs(args.out)
    write_json(os.path.join(args.out, "results.json"),
               {"rows": rows, "seeds": args.seeds, "bootstrap": args.bootstrap,
                "bootstrap_seed": seed})
    import sys
    meta = {"seeds": args.seeds, "bootstrap": args.bootstrap, "bootstrap_seed": seed,
            "command": "python scripts/text_baselines.py " + " ".join(
                sys.argv[1:] if argv is None else argv)}
    for key in ("reading", "blind_note"):  # hand-written paragraphs, kept across reruns
        path = os.path.join(args.out, key + ".md")
        if fileio.exists(path):
            with fileio.open(path, encoding="utf-8") as f:
                meta[key] = f.read().strip()
    write_text(os.path.join(args.out, "results.md"), tb.report(rows, meta))
    print(tb.markdown(rows))


if __name__ == "__main__":
    run_main(main)
