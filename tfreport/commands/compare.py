r"""Paired significance between systems: paired bootstrap and approximate randomisation.

    python scripts/compare.py --predictions A=runs/a/predictions_test.json \
        B=runs/b/predictions_test.json --data_dir D [--split test]
    python scripts/compare.py --predictions A.json B.json --references R.json [--normal N.json]
    python scripts/compare.py --predictions nll=s0.json,s1.json,s2.json scst=t0.json,t1.json,t2.json --data_dir D

Every system after the first is compared with the first on the same studies, for all,
normal and abnormal studies: each metric's difference, its 95% interval (paired bootstrap)
and two p-values (paired bootstrap, approximate randomisation). --out FILE also writes the
JSON. METEOR runs the Java scorer once per draw (minutes for 1000 + 1000 draws of 600
studies); --no_meteor leaves it out. A system given as several files (NAME=FILE,FILE,...)
is several runs of it (seeds): it is scored by their mean, with the sd across them and its
own 95% interval, and randomisation pairs the i-th file of each system.
"""
import argparse
import os

from tfreport import fileio, labelers
from tfreport.cli import load_json_object, nonnegative_int


def _system(value: str):
    """NAME=FILE[,FILE...] (several files: runs of one system), or FILE named by its stem
    (by its folder for a run's predictions_*.json); returns (name, [paths])."""
    name, sep, path = value.partition("=")
    if not sep:
        path = value
        name = os.path.splitext(os.path.basename(path))[0]
        if name.startswith("predictions"):
            name = os.path.basename(os.path.dirname(fileio.abspath(path))) or name
    paths = path.split(",")
    if not name or not all(paths):
        raise argparse.ArgumentTypeError(f"expected NAME=FILE[,FILE...] or FILE, got {value!r}")
    if len(paths) > 1 and not sep:
        raise argparse.ArgumentTypeError(f"several runs of one system need a name: NAME={value}")
    return name, paths


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", nargs="+", required=True, type=_system, metavar="NAME=FILE",
                   help="two or more JSON files {id: report}; the first is the baseline "
                        "(NAME: the file's stem; a run's predictions_*.json, its folder); "
                        "NAME=FILE,FILE,... for runs (seeds) of one system")
    p.add_argument("--data_dir", default=None, help="a prepared dataset: references and normal flags")
    p.add_argument("--split", default="test", help="with --data_dir (default test)")
    p.add_argument("--references", default=None, help="JSON {id: report} (instead of --data_dir)")
    p.add_argument("--normal", default=None, help="JSON {id: true|false} (with --references)")
    p.add_argument("--resamples", type=nonnegative_int, default=1000, help="paired bootstrap resamples")
    p.add_argument("--trials", type=nonnegative_int, default=1000,
                   help="approximate-randomisation trials")
    p.add_argument("--uncertain", type=int, choices=[0, 1], default=0)
    p.add_argument("--no_meteor", action="store_true", help="leave METEOR out (no Java calls)")
    p.add_argument("--out", default=None, help="also write the JSON result here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--external", action="append", default=[], metavar="NAME=FILE[,FILE...]",
                   help="per-report scores from another tool, one file per system in "
                        "--predictions order (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seeds the resamples and the shuffles")
    labelers.add_flags(p)
    args = p.parse_args(argv)
    if len(args.predictions) < 2:
        p.error("--predictions needs two or more files")
    names = [n for n, _ in args.predictions]
    if len(set(names)) != len(names):
        p.error(f"--predictions: two systems share a name ({', '.join(names)}); use NAME=FILE")
    if (args.data_dir is None) == (args.references is None):
        p.error("give --data_dir or --references (one of them)")
    if args.data_dir and args.normal:
        p.error("--normal goes with --references; --data_dir has its own normal flags")
    if args.references and args.split != "test":
        p.error("--split goes with --data_dir; --references is one split already")
    if not args.resamples and not args.trials:
        p.error("--resamples 0 and --trials 0 leave no test to run")
    seed = args.seed
    labeler = labelers.from_args(args, p, quiet=args.quiet)
    if args.data_dir:
        from tfreport.data.prepared import PreparedDataset
        data = PreparedDataset(args.data_dir)
        references, normal = data.references(args.split), data.normal(args.split)
    else:
        references = load_json_object(args.references, str)
        normal = load_json_object(args.normal, bool) if args.normal else None
    systems = {}
    for name, paths in args.predictions:
        runs = []
        for path in paths:
            runs.append(load_json_object(path, str))
            if not runs[-1]:
                raise ValueError(f"{path}: no predictions (an empty JSON object)")
        systems[name] = runs[0] if len(runs) == 1 else runs
    counts = {len(v) if isinstance(v, list) else 1 for v in systems.values()}
    if len(counts) > 1 and args.trials:
        p.error("--predictions: the systems have different numbers of runs, and approximate "
                "randomisation pairs them; give as many runs of each, or --trials 0")
    from tfreport.metrics import paired
    from tfreport.metrics.external import check_cover, parse_specs, read_scores
    try:
        specs = parse_specs(args.external)
    except ValueError as e:
        p.error(str(e))
    external = {name: {} for name in systems}
    for metric, paths in specs.items():
        paths = paths.split(",")
        if len(paths) != len(systems):
            p.error(f"--external {metric}: {len(paths)} files for {len(systems)} systems "
                    "(one per --predictions file, in order)")
        for name, path in zip(systems, paths):
            if isinstance(systems[name], list):
                p.error(f"--external {metric}: {name} has several runs; external metrics "
                        "need one run per system")
            external[name][metric] = read_scores(path)
            check_cover(metric, external[name][metric], systems[name], path)
    result = paired.compare_systems(systems, references, normal, args.resamples, args.trials,
                                    seed, args.uncertain, use_meteor=not args.no_meteor,
                                    quiet=args.quiet, external=external, labeler=labeler)
    print(paired.markdown(result))
    if args.out:
        from tfreport.atomic import write_json
        write_json(args.out, result)
        print(f"\nWritten to {args.out}")


if __name__ == "__main__":
    from tfreport.cli import run_main
    run_main(main)
