"""Score predictions against references: coco-caption NLG metrics and clinical efficacy.

    python scripts/score.py --predictions P.json --references R.json [--normal N.json]

Each file is a JSON object {id: report text}; N.json is {id: true|false}. Prints one JSON
object: BLEU-1..4, METEOR, ROUGE-L, CIDEr, the CE figures and, with --normal, a "groups"
block with "normal" and "abnormal". --bootstrap 1000 adds "ci": {metric: [low, high]}, 95%
intervals from resampling the studies (seeded by --seed). --external NAME=FILE (repeatable)
adds a metric scored per report by another tool (RadGraph-F1, GREEN, RaTEScore: a JSON
{id: score} or a CSV with id and one score column): its mean, per group and with intervals.
--format markdown prints the tables instead of the JSON. --labeler chexbert
--chexbert_weights FOLDER labels both texts with CheXbert (docs/chexbert.md) instead of
tfreport's rule-based labeler; the output's CE-labeler names the one used.
"""
import argparse
import json
import sys

from tfreport import labelers
from tfreport.cli import add_seed_flags, load_json_object, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", required=True)
    p.add_argument("--references", required=True)
    p.add_argument("--normal", default=None, help="JSON {id: true|false}")
    p.add_argument("--uncertain", type=int, choices=[0, 1], default=0,
                   help="count uncertain CheXpert labels as 0 (default) or 1")
    p.add_argument("--predicted_labels", default=None, help="external label CSV for the predictions")
    p.add_argument("--reference_labels", default=None, help="external label CSV for the references")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="95%% bootstrap intervals ('ci') from N resamples of the studies")
    p.add_argument("--external", action="append", default=[], metavar="NAME=FILE",
                   help="per-report scores from another tool (repeatable)")
    p.add_argument("--format", choices=["json", "markdown"], default="json")
    add_seed_flags(p)
    labelers.add_flags(p)
    args = p.parse_args(argv)
    if args.bootstrap < 0:
        p.error("--bootstrap must be 0 or more")
    from tfreport.labeler import read_label_csv
    if args.labeler != "rules" and args.predicted_labels and args.reference_labels:
        p.error("--labeler chexbert has nothing to label: both label CSVs are given")
    labeler = labelers.from_args(args, p)
    from tfreport.metrics.scoring import score
    preds = load_json_object(args.predictions, str)
    refs = load_json_object(args.references, str)
    normal = load_json_object(args.normal, bool) if args.normal else None
    pl = read_label_csv(args.predicted_labels, list(preds)) if args.predicted_labels else None
    rl = read_label_csv(args.reference_labels, list(refs)) if args.reference_labels else None
    if not preds:
        raise ValueError(f"{args.predictions}: no predictions to score (an empty JSON object)")
    covered = sum(1 for k in refs if k in preds)
    if covered < len(refs):
        print(f"warning: {args.predictions} covers {covered} of the {len(refs)} studies in "
              f"{args.references} ({covered / len(refs):.0%}); only those {covered} are "
              "scored, so the figures are not the whole set's", file=sys.stderr)
    from tfreport.metrics.external import check_cover, parse_specs, read_scores
    try:
        specs = parse_specs(args.external)
    except ValueError as e:
        p.error(str(e))
    external = {}
    for name, path in specs.items():
        external[name] = read_scores(path)
        check_cover(name, external[name], preds, path)
    result = score(preds, refs, normal, uncertain=args.uncertain, predicted_labels=pl,
                   reference_labels=rl, bootstrap=args.bootstrap, seed=args.seed or 0,
                   external=external, labeler=labeler)
    result["coverage"] = {"scored": covered, "references": len(refs)}
    if args.format == "markdown":
        from tfreport.metrics.table import markdown
        print(markdown(result, f"{args.predictions} ({covered} studies)"))
    else:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    run_main(main)
