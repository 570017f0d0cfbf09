"""Train every model on one dataset, score each on its test split, and write one table.

    python scripts/benchmark.py --data_dir D --out docs/benchmarks/NAME [--models ...] [--quick] [--reuse]
    python scripts/benchmark.py --out docs/benchmarks/demo            # the default demo dataset
    python scripts/benchmark.py --quick --out /tmp/bench               # tiny, minutes on a CPU

Rows: cnn_rnn, cnn_rnn_att, hier_rnn, mrna, m2_transformer with ResNet50, DenseNet121 and
dual extractors, and the most frequent training report. --scst REWARD adds a "+SCST" row
after each sighted flat-model row (cnn_rnn, cnn_rnn_att, m2_transformer): that row's run of
each seed fine-tuned by self-critical sequence training (scripts/scst.py, docs/scst.md). Writes results.md, results.csv,
results.json and ce_f1_per_condition.png into --out; each row's run is in --out/runs/.
--labeler chexbert --chexbert_weights FOLDER scores the CE figures with CheXbert (it implies
--reuse): rows that finished under the rule-based labeler are rescored from their test
predictions (no training), and the table goes to results-chexbert.* beside the rule-based one.
"""
import argparse
import re
import sys

from tfreport import fileio
from tfreport import labelers
from tfreport.cli import add_bool, positive_int, run_main
from tfreport.training.config import VAL_METRICS

ROW_KEYS = ("cnn_rnn", "cnn_rnn_att", "hier_rnn", "mrna", "m2_transformer-resnet50",
            "m2_transformer-densenet121", "m2_transformer-dual", "most_frequent",
            "cnn_rnn-blind", "cnn_rnn_att-blind", "hier_rnn-blind", "mrna-blind",
            "m2_transformer-blind")


def benchmark_backbones():
    from tfreport.experiments.benchmark import BASELINE_BACKBONES
    return BASELINE_BACKBONES


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", default=None, help="prepared dataset (default: the demo)")
    p.add_argument("--out", required=True, help="where the table and the runs go")
    p.add_argument("--name", default=None, help="table title (default: the --out folder name)")
    p.add_argument("--models", nargs="+", default=None, metavar="ROW",
                   help=f"rows to run (default all): {', '.join(ROW_KEYS)}")
    p.add_argument("--preset", default=None, help="legacy | paper | demo (default: per dataset)")
    p.add_argument("--resnet_weights", default="none", help="imagenet | none | PATH")
    p.add_argument("--densenet_weights", default="none",
                   help="imagenet | none | PATH (a domain-pretrained DenseNet121 where available)")
    p.add_argument("--small_weights", default="none",
                   help="none | PATH: the small backbone of the four baselines")
    p.add_argument("--baseline_backbone", default="small", choices=benchmark_backbones(),
                   help="the four baselines' extractor: small (the preset's, weights "
                        "--small_weights), densenet121 (--densenet_weights) or resnet50 "
                        "(--resnet_weights)")
    p.add_argument("--blind", action="store_true",
                   help="add each model's image-blind variant and the CE-macro-F1 gap to it")
    p.add_argument("--blind_seeds", type=int, default=1, help="seeds of the image-blind rows")
    p.add_argument("--mbr_samples", type=int, default=0,
                   help="decode the test split by MBR over the beam and N samples (0: beam)")
    p.add_argument("--temperature", type=float, default=1.0, help="the MBR samples' temperature")
    add_bool(p, "--mbr_no_repeat", True, "hierarchical rows (MRNA, Hier-RNN): MBR never "
             "chooses a candidate that says a sentence twice while another says none twice")
    p.add_argument("--row_temperature", action="append", default=[], metavar="ROW=T",
                   help="one row's MBR temperature (repeatable), chosen on validation with "
                        "decoding_sweep.py; other rows use --temperature. A +SCST row "
                        "decodes at its NLL row's T unless given its own (ROW+scst=T)")
    p.add_argument("--table_only", action="store_true",
                   help="train nothing: write the table from the finished rows' records")
    p.add_argument("--seeds", type=int, default=1, help="train each row N times; mean ± sd")
    p.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset for every row")
    p.add_argument("--steps_per_epoch", type=int, default=None)
    p.add_argument("--val_metric", default=None, choices=list(VAL_METRICS),
                   help="every NLL row's best.keras by this validation metric (default "
                        "BLEU-4; +SCST rows take --scst_val_metric). CE-F1+BLEU-4 keeps a "
                        "row from choosing a checkpoint that writes the normal template for "
                        "every study")
    p.add_argument("--frozen_backbone", action="store_true",
                   help="freeze every backbone and train from cached features (fast on a CPU)")
    p.add_argument("--quick", action="store_true",
                   help="a tiny demo dataset and tiny settings (the CI smoke run)")
    p.add_argument("--reuse", action="store_true", help="reuse rows that already finished")
    p.add_argument("--html", default=None, metavar="DIR",
                   help="also write a review page of every row's first seed (scripts/review.py)")
    p.add_argument("--html_limit", type=positive_int, default=None, metavar="N",
                   help="the review page shows the first N test studies (default all)")
    add_bool(p, "--deterministic", False, "deterministic TF ops")
    scst = p.add_argument_group("+SCST rows (docs/scst.md)")
    scst.add_argument("--scst", default=None, metavar="REWARD",
                      help="add a +SCST row after each sighted flat-model row, with this "
                           "reward (e.g. cider:1 or cider:1,ce:1)")
    scst.add_argument("--scst_learning_rate", type=float, default=None, help="default 5e-5")
    scst.add_argument("--scst_epochs", type=positive_int, default=None, help="default 5")
    scst.add_argument("--scst_batch_size", type=positive_int, default=None,
                      help="default: the NLL run's")
    scst.add_argument("--scst_baseline", choices=["mean", "greedy"], default=None,
                      help="default mean")
    scst.add_argument("--scst_samples", type=positive_int, default=None, help="default 5")
    scst.add_argument("--scst_temperature", type=float, default=None,
                      help="the samples' temperature (default 1.0)")
    scst.add_argument("--scst_sampling", choices=["sample", "beam"], default=None,
                      help="default sample")
    scst.add_argument("--scst_val_metric", choices=list(VAL_METRICS), default=None,
                      help="chooses each +SCST run's best.keras (default CIDEr)")
    scst.add_argument("--scst_freeze_backbone", action="store_true",
                      help="keep each +SCST run's image extractor fixed (scst.py "
                           "--freeze_backbone); its rows are '+scst-frozen', apart from the "
                           "plain recipe's '+scst' rows")
    p.add_argument("--table_tag", default=None, metavar="TAG",
                   help="write results-TAG.md/.csv/.json and the chart so tagged: a second "
                        "table in the same --out, of other rows (runs and records are kept by "
                        "row key, so the two tables must not share a row)")
    p.add_argument("--quiet", action="store_true")
    labelers.add_flags(p)
    args = p.parse_args(argv)
    unknown = sorted(set(args.models or ()) - set(ROW_KEYS))
    if unknown:
        raise ValueError(f"unknown --models {', '.join(unknown)}; valid: {', '.join(ROW_KEYS)}")
    if args.table_tag is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", args.table_tag):
        p.error(f"--table_tag {args.table_tag!r}: letters, digits, '_', '.' and '-' only "
                "(it goes into file names)")
    if args.seeds < 1 or args.blind_seeds < 1:
        raise ValueError("--seeds and --blind_seeds must be at least 1")
    if args.mbr_samples < 0 or args.temperature <= 0:
        raise ValueError("--mbr_samples must be >= 0 and --temperature > 0")
    row_temperatures = {}
    for pair in args.row_temperature:
        key, sep, value = pair.partition("=")
        try:
            row_temperatures[key] = float(value)
        except ValueError:
            sep = ""
        row, _, variant = key.partition("+")
        if (not sep or row not in ROW_KEYS or variant not in ("", "scst", "scst-frozen")
                or not row_temperatures[key] > 0):
            p.error(f"--row_temperature expects ROW=T with a row of {', '.join(ROW_KEYS)} "
                    f"(or ROW+scst, ROW+scst-frozen) and T > 0, got {pair!r}")
    labeler = labelers.from_args(args, p, quiet=args.quiet)
    blind_keys = {k for k in (args.models or ()) if k.endswith("-blind")}
    if blind_keys and not args.blind:
        raise ValueError(f"--models {', '.join(sorted(blind_keys))} need --blind")

    import logging
    import os
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from tfreport.experiments import benchmark, benchmark_report
    from tfreport.data.build import read_summary
    from tfreport.data.prepare import prepare
    from tfreport.training.config import default_preset

    model_overrides, train_overrides = {}, {}
    steps = args.steps_per_epoch
    data_dir = args.data_dir
    if args.quick:
        data_dir = data_dir or os.path.join(args.out, "quick_data")
        if not fileio.exists(os.path.join(data_dir, "summary.json")):
            prepare("demo", data_dir, data_dir + "_raw", num_studies=benchmark.QUICK_STUDIES,
                    split_ratios="0.5,0.25,0.25", image_size=64, quiet=True)
        model_overrides.update(benchmark.QUICK_MODEL)
        train_overrides.update(benchmark.QUICK_TRAIN)
        steps = steps or benchmark.QUICK_STEPS
    elif data_dir is None:
        from tfreport.data.prepared import demo_dataset
        data_dir = demo_dataset(quiet=args.quiet)
    summary = read_summary(data_dir)
    if args.epochs:
        train_overrides["epochs"] = args.epochs
    if args.deterministic:
        train_overrides["deterministic"] = True
    if args.val_metric:
        train_overrides["val_metric"] = args.val_metric
    if args.frozen_backbone:
        model_overrides["trainable_backbone"] = False

    rows = benchmark.default_rows(args.resnet_weights, args.densenet_weights,
                                  args.small_weights, blind=args.blind,
                                  baseline_backbone=args.baseline_backbone)
    if args.models:
        rows = [r for r in rows if r.key in args.models]
    scst = {k: v for k, v in {"reward": args.scst, "learning_rate": args.scst_learning_rate,
                              "epochs": args.scst_epochs, "batch_size": args.scst_batch_size,
                              "scst_baseline": args.scst_baseline,
                              "scst_samples": args.scst_samples,
                              "temperature": args.scst_temperature,
                              "scst_sampling": args.scst_sampling,
                              "val_metric": args.scst_val_metric,
                              "freeze_backbone": args.scst_freeze_backbone or None,
                              }.items() if v is not None}
    if scst and not args.scst:
        raise ValueError(f"--scst_* flags ({', '.join(sorted(scst))}) need --scst REWARD")
    if args.scst:
        from tfreport.rl.rewards import parse_spec
        parse_spec(args.scst)  # a clear error before anything trains
        rows = benchmark.with_scst_rows(rows, frozen_backbone=args.scst_freeze_backbone)
    settings = benchmark.Settings(data_dir=data_dir, out=args.out, preset=args.preset,
                                  model_overrides=model_overrides,
                                  train_overrides=train_overrides, steps_per_epoch=steps,
                                  seeds=args.seeds, first_seed=args.seed,
                                  feature_cache=args.frozen_backbone,
                                  mbr_samples=args.mbr_samples, temperature=args.temperature,
                                  mbr_no_repeat=args.mbr_no_repeat,
                                  row_temperatures=row_temperatures,
                                  blind_seeds=args.blind_seeds,
                                  # another labeler rescores the finished runs, never retrains them
                                  reuse=args.reuse or labeler is not labelers.RULES,
                                  table_only=args.table_only, quiet=args.quiet,
                                  labeler=labeler, scst=scst)
    if args.quick:
        settings.min_positives = benchmark.QUICK_MIN_POSITIVES
    results, reference = benchmark.run(rows, settings)
    definitions = {"demo": "the study has no findings", "iu_xray": "MeSH is exactly 'normal'",
                   "iu_xray_rendered": "MeSH is exactly 'normal'",
                   "mimic_cxr": "CheXpert No Finding is 1"}
    meta = {"name": args.name or os.path.basename(os.path.normpath(args.out)),
            "data_dir": data_dir, "dataset": summary["dataset"], "counts": summary["counts"],
            "normal_test": summary["normal"].get("test", 0),
            "abnormal_test": summary["abnormal"].get("test", 0),
            "normal_definition": definitions.get(summary["dataset"], "see the dataset"),
            "preset": args.preset or default_preset(summary["dataset"]),
            "seeds": args.seeds, "quick": args.quick, "frozen_backbone": args.frozen_backbone,
            "grounding": reference, "labeler": settings.labeler.name,
            "labeler_tag": settings.labeler_tag, "table_tag": args.table_tag,
            "not_run": [r.label for r in rows if r.key not in {x["key"] for x in results}],
            "command": "python scripts/benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    paths = benchmark_report.write(args.out, results, meta)
    print(fileio.read_text(paths["md"]).split("## Published")[0])
    print("Wrote " + ", ".join(paths.values()))
    if args.html:
        from tfreport.review_page import build
        found, missing = benchmark.review_runs(rows, settings)
        for line in missing:
            print(f"Review page: leaving out {line}", file=sys.stderr)
        if not found:
            raise FileNotFoundError(f"--html: no row of {args.out} has a decoded run with its "
                                    "checkpoint (records alone hold no report text)")
        page = build(args.html, [d for d, _ in found], "test", [n for _, n in found], data_dir,
                     args.html_limit, title=meta["name"], quiet=args.quiet)
        print(f"Review page: {page} ({len(found)} runs; open it in a browser, no network needed)")


if __name__ == "__main__":
    run_main(main)
