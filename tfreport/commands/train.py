"""Train a report model. With no --data_dir it builds and uses the demo dataset.

    python scripts/train.py --model mrna
    tensorboard --logdir summary
    python scripts/train.py --model m2_transformer --backbone dual --strategy mirrored
    python scripts/train.py --model mrna --model_dir models/RUN --resume   # after a kill
    python scripts/train.py --model m2_transformer --model_option memory_slots=0   # any config field
    python scripts/train.py --config models/RUN/config.json --model_dir models/RERUN   # replay a run
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import List, Optional, Tuple

from tfreport.cli import (add_bool, add_model_flags, add_train_flags, collect,
                          nonnegative_int, run_main)

# config.json fields that are not the run's choices (recomputed from the data)
_DERIVED_MODEL_FIELDS = ("vocab_size",)


def parser() -> argparse.ArgumentParser:
    """train.py's flags; the benchmark builds and parses its recorded commands with it."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="model name (default mrna)")
    p.add_argument("--preset", default=None, help="legacy | paper | demo (default: demo on the demo data, else legacy)")
    p.add_argument("--config", default=None, metavar="CONFIG_JSON",
                   help="replay a run: its model, preset, data and every resolved model and "
                        "training value from its config.json; flags given here override them")
    p.add_argument("--data_dir", default=None, help="prepared dataset (default: build/use the demo)")
    p.add_argument("--model_dir", default=None, help="where checkpoints go (default models/<run_name>)")
    p.add_argument("--logdir", default="summary", help="TensorBoard root (default summary)")
    p.add_argument("--run_name", default=None)
    p.add_argument("--steps_per_epoch", type=int, default=None, help="default: one pass over train")
    p.add_argument("--num_studies", type=int, default=None, help="demo size when it is built")
    add_bool(p, "--text_summaries", True, "write report text and images to TensorBoard")
    p.add_argument("--no_text_summaries", dest="text_summaries", action="store_false",
                   help="keep report text and images out of TensorBoard (MIMIC-CXR)")
    add_bool(p, "--feature_cache", False,
             "compute frozen-backbone features once and train from them "
             "(needs --trainable_backbone false)")
    p.add_argument("--feature_cache_shards", type=nonnegative_int, default=0, metavar="N",
                   help="shard files per split of the feature cache (0: about 128 MiB each, "
                        "or the count of an earlier build)")
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                   help="auto: mirrored over all GPUs when there are several, else one device; "
                        "multi_worker reads TF_CONFIG")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --model_dir from its last saved state")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --model_dir (without this, train.py "
                        "refuses to write into a folder that holds a run)")
    add_bool(p, "--evaluate_test", True, "score best.keras on the test split at the end")
    p.add_argument("--show_samples", type=int, default=3,
                   help="test reports printed beside their references at the end")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--profile_steps", default=None, metavar="START,END",
                   help="write a TensorBoard profile of training steps START to END (counted "
                        "from 1; N alone: N to N+4) into LOGDIR/RUN/train; view it with "
                        "pip install tensorboard-plugin-profile")
    add_model_flags(p)
    p.add_argument("--model_option", action="append", default=[], metavar="KEY=VALUE",
                   help="set any field of the model's config dataclass (e.g. memory_slots=0, "
                        "d_model=256, backbone_width=16); VALUE is read as JSON, else a string")
    add_train_flags(p)
    return p


def model_options(pairs: List[str]) -> dict:
    """``["memory_slots=0", "backbone=dual"]`` -> ``{"memory_slots": 0, "backbone": "dual"}``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model_option expects KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _replayed(path: str) -> dict:
    from tfreport.cli import read_json
    config = read_json(path, "--config expects a run's config.json")
    if not isinstance(config, dict):
        raise ValueError(f"{path}: not a train.py config.json (not a JSON object)")
    missing = [k for k in ("model", "model_config", "train_config") if k not in config]
    if missing:
        raise ValueError(f"{path}: not a train.py config.json (no {', '.join(missing)})")
    return config


def resolve(args: argparse.Namespace):
    """(RunSpec, model overrides, training overrides) from parsed flags."""
    from tfreport.training.profiling import parse_profile_steps
    from tfreport.training.run import MODEL_FLAGS, TRAIN_FLAGS, RunSpec
    base: dict = {}
    model_over, train_over = {}, {}
    if args.config:
        base = _replayed(args.config)
        model_over = {k: v for k, v in base["model_config"].items()
                      if k not in _DERIVED_MODEL_FIELDS}
        train_over = dict(base["train_config"])
    model_over.update(collect(args, MODEL_FLAGS))
    model_over.update(model_options(args.model_option))
    train_over.update(collect(args, TRAIN_FLAGS))
    spec = RunSpec(model=args.model or base.get("model") or "mrna",
                   preset=args.preset or base.get("preset"),
                   data_dir=args.data_dir or base.get("data_dir"),
                   model_dir=args.model_dir, logdir=args.logdir, run_name=args.run_name,
                   steps_per_epoch=args.steps_per_epoch, num_studies=args.num_studies,
                   text_summaries=args.text_summaries, feature_cache=args.feature_cache,
                   feature_cache_shards=args.feature_cache_shards,
                   show_samples=args.show_samples, strategy=args.strategy, resume=args.resume,
                   overwrite=args.overwrite,
                   evaluate_test=args.evaluate_test, quiet=args.quiet,
                   profile_steps=(parse_profile_steps(args.profile_steps)
                                  if args.profile_steps else None))
    return spec, model_over, train_over


def parse(argv: Optional[List[str]]) -> Tuple[object, dict, dict, argparse.Namespace]:
    args = parser().parse_args(argv)
    return (*resolve(args), args)


def main(argv=None):
    spec, model_over, train_over, args = parse(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from tfreport.training.run import train
    train(spec, model_over, train_over)


if __name__ == "__main__":
    run_main(main)
