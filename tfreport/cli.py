"""Flag helpers shared by the scripts, so each flag has one name and one meaning."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Iterable


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _number(cast, test, what: str):
    """An argparse type: ``cast`` the text, then refuse nan, inf and values failing ``test``."""
    import math

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value) or not test(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _number(int, lambda v: v >= 1, "an integer of at least 1")
nonnegative_int = _number(int, lambda v: v >= 0, "an integer of at least 0")
positive_float = _number(float, lambda v: v > 0, "a positive number")
nonnegative_float = _number(float, lambda v: v >= 0, "a number of at least 0")
finite_float = _number(float, lambda v: True, "a finite number")


def add_bool(p: argparse.ArgumentParser, flag: str, default, help: str) -> None:
    p.add_argument(flag, type=parse_bool, default=default, metavar="true|false", help=help)


def add_model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (override the preset)")
    g.add_argument("--backbone", default=None, help="small | resnet50 | densenet121 | inception_v3 | dual")
    g.add_argument("--image_size", type=positive_int, default=None, help="model input size in pixels")
    g.add_argument("--backbone_weights", default=None, help="imagenet | none | PATH")
    g.add_argument("--backbone_weights_dual", default=None, help="dual: DenseNet121 branch weights")
    add_bool(g, "--share_view_extractor", None, "one backbone for both views")
    add_bool(g, "--trainable_backbone", None, "fine-tune the backbone (false: frozen)")
    add_bool(g, "--image_blind", None, "replace every study's images by one constant: the "
             "model's text-only variant")
    g.add_argument("--max_sentences", type=positive_int, default=None)
    g.add_argument("--max_words", type=positive_int, default=None, help="words per sentence, incl. </S>")
    add_bool(g, "--spatial_attention", None, "MRNA: soft attention over both views' grid cells "
             "at every word (off in every preset)")
    add_bool(g, "--report_memory", None, "MRNA: each sentence also sees all earlier sentences "
             "and its position (demo preset: on; legacy, paper: off)")


def add_train_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training (override the preset)")
    g.add_argument("--epochs", type=positive_int, default=None)
    g.add_argument("--batch_size", type=positive_int, default=None,
                   help="per replica; the global batch is this x the number of replicas")
    g.add_argument("--learning_rate", type=positive_float, default=None, help="(the peak, for noam)")
    g.add_argument("--lr_schedule", default=None, choices=["step", "noam"],
                   help="step: x lr_decay every decay_epochs (legacy); noam: warm-up then 1/sqrt")
    g.add_argument("--lr_decay", type=positive_float, default=None)
    g.add_argument("--decay_epochs", type=positive_int, default=None)
    g.add_argument("--warmup", type=nonnegative_float, default=None,
                   help="noam warm-up, as a fraction of all training steps")
    g.add_argument("--backbone_learning_rate", type=positive_float, default=None,
                   help="learning rate of a fine-tuned backbone (default: --learning_rate)")
    g.add_argument("--clip_norm", type=nonnegative_float, default=None, help="global-norm clip; 0 = off")
    g.add_argument("--adam_beta_2", type=positive_float, default=None,
                   help="Adam's second-moment decay, in (0, 1) (M2's paper preset: 0.98)")
    add_seed_flags(g)
    g.add_argument("--mixed_precision", default=None,
                   choices=["auto", "float16", "bfloat16", "off"],
                   help="auto: float16 (with loss scaling) on GPU, off on CPU")
    add_bool(g, "--jit_compile", None, "XLA-compile the training step")
    g.add_argument("--beam_size", type=positive_int, default=None)
    g.add_argument("--length_penalty", type=finite_float, default=None, metavar="ALPHA",
                   help="GNMT length penalty for ranking finished beams (validation and test "
                        "decoding); default: tfreport.decoding.DEFAULT_LENGTH_PENALTY")
    from tfreport.training.config import VAL_METRICS
    g.add_argument("--val_metric", default=None, choices=list(VAL_METRICS),
                   help="validation metric that picks best.keras")
    g.add_argument("--val_samples", type=nonnegative_int, default=None, help="studies decoded per validation")
    g.add_argument("--early_stopping", type=nonnegative_int, default=None, metavar="EPOCHS",
                   help="stop after this many epochs without a better --val_metric; 0 = off")


def add_seed_flags(g) -> None:
    """``--seed`` and ``--deterministic``, the same on every entry point."""
    g.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    g.add_argument("--deterministic", action="store_true", default=None,
                   help="deterministic TF ops: exact reruns and resumes, slower")


def apply_seed_flags(args: argparse.Namespace) -> int:
    """Seeds Python, NumPy and TF from ``--seed`` (default 0) and turns on TF op determinism
    with ``--deterministic``; returns the seed."""
    seed = args.seed or 0
    import keras
    keras.utils.set_random_seed(seed)
    if args.deterministic:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    return seed


def collect(args: argparse.Namespace, names: Iterable[str]) -> dict:
    """The flags among ``names`` that were given (None means: keep the preset's)."""
    values = vars(args)
    aliases = {"share_views": "share_view_extractor"}
    return {n: values.get(aliases.get(n, n)) for n in names
            if values.get(aliases.get(n, n)) is not None}


def run_main(main: Callable[[], None]) -> None:
    """Runs a script's main; a user error prints one clear line instead of a traceback."""
    try:
        main()
    except OSError as e:  # unwritable folder, full disk, missing file: name the path
        from tfreport.errors import os_error_message
        logging.getLogger("tfreport").debug("error", exc_info=True)
        print(f"error: {os_error_message(e)}", file=sys.stderr)
        sys.exit(2)
    except (ValueError, KeyError, RuntimeError) as e:
        logging.getLogger("tfreport").debug("error", exc_info=True)
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def read_json(path: str, what: str = ""):
    """A JSON file's content; a missing file or bad JSON is one clear error naming the path
    (``what`` says what the file should have been)."""
    import json
    from tfreport import fileio
    if not fileio.exists(path):
        raise FileNotFoundError(f"{path}: file not found" + (f" ({what})" if what else ""))
    with fileio.open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None


def load_json_object(path: str, value_type: type) -> dict:
    """Reads a JSON object {id: value}, checking the file and the value types."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object {{id: {value_type.__name__}}}")
    bad = [k for k, v in obj.items() if not isinstance(v, value_type)]
    if bad:
        raise ValueError(f"{path}: values must be {value_type.__name__}; id {bad[0]!r} has "
                         f"{type(obj[bad[0]]).__name__}")
    return {str(k): v for k, v in obj.items()}
