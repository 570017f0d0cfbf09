"""Fine-tune a trained flat model with self-critical sequence training (SCST) on CIDEr and clinical rewards.

    python scripts/scst.py --init_from models/RUN [--model_dir models/RUN-scst] \
        [--reward cider:1,ce:1] [--scst_baseline mean|greedy] [--scst_samples 5] \
        [--temperature 1.0] [--epochs 5] [--learning_rate 5e-5] [--val_metric CIDEr|CE-F1|CE-F1+BLEU-4] \
        [--freeze_backbone]

RUN is a finished train.py run of cnn_rnn, cnn_rnn_att or m2_transformer; its best.keras is
the starting policy. Rewards (weighted, comma-separated): cider (CIDEr-D, document
frequencies from the training references), bleu4 (sentence BLEU-4), ce (the labeler's
F1 of positive findings over the 14 CheXpert observations, per report) and ce5 (over
Miura's 5). The baseline is the greedy report's reward or the mean of the study's other
samples. Everything else is a training run: best.keras by --val_metric, --resume,
TensorBoard under --logdir (scst/reward, each scst/reward/NAME, scst/baseline,
scst/entropy, sampled reports), and the test split scored at the end.
"""
import argparse

from tfreport.cli import positive_int, run_main
from tfreport.training.config import VAL_METRICS


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init_from", required=True, help="the NLL run's model directory")
    p.add_argument("--model_dir", default=None, help="default: INIT_FROM-scst")
    p.add_argument("--data_dir", default=None, help="default: the data the run trained on")
    p.add_argument("--reward", default="cider:1", help="weighted rewards, e.g. cider:1,ce:1")
    p.add_argument("--scst_baseline", default="mean", choices=["mean", "greedy"])
    p.add_argument("--scst_samples", type=positive_int, default=5, help="samples per study per step")
    p.add_argument("--temperature", type=float, default=1.0, help="the samples' temperature")
    p.add_argument("--scst_sampling", default="sample", choices=["sample", "beam"],
                   help="sample: multinomial at --temperature; beam: each study's "
                        "--scst_samples best beams (the meshed-memory transformer's recipe)")
    p.add_argument("--freeze_backbone", action="store_true",
                   help="keep the image extractor's weights fixed (only the decoder learns), as "
                        "SCST on fixed CNN features does; a frozen-backbone run is frozen anyway")
    p.add_argument("--epochs", type=positive_int, default=None, help="default 5")
    p.add_argument("--batch_size", type=positive_int, default=None, help="default: the run's")
    p.add_argument("--learning_rate", type=float, default=None, help="default 5e-5, constant")
    p.add_argument("--val_metric", default=None, choices=list(VAL_METRICS),
                   help="chooses best.keras on validation (default CIDEr)")
    p.add_argument("--steps_per_epoch", type=positive_int, default=None)
    p.add_argument("--seed", type=int, default=None, help="default: the run's")
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "one_device", "mirrored", "multi_worker"],
                   help="as train.py's (auto: every local GPU); TPUs not yet")
    p.add_argument("--run_name", default=None,
                   help="its TensorBoard folder under --logdir (default: the model directory's name)")
    p.add_argument("--logdir", default="summary", help="TensorBoard root (tensorboard --logdir summary)")
    p.add_argument("--resume", action="store_true", help="continue the --model_dir run")
    p.add_argument("--no_test", action="store_true", help="skip scoring the test split at the end")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    import os
    from tfreport.metrics.table import markdown
    from tfreport.rl.stage import SCSTConfig, run
    try:
        cfg = SCSTConfig(reward=args.reward, baseline=args.scst_baseline,
                         samples=args.scst_samples, temperature=args.temperature,
                         sampling=args.scst_sampling, freeze_backbone=args.freeze_backbone)
    except ValueError as e:
        p.error(str(e))
    model_dir = args.model_dir or os.path.normpath(args.init_from) + "-scst"
    result = run(args.init_from, model_dir, cfg,
                 {"epochs": args.epochs, "batch_size": args.batch_size,
                  "learning_rate": args.learning_rate, "val_metric": args.val_metric,
                  "seed": args.seed},
                 logdir=args.logdir, data_dir=args.data_dir, resume=args.resume,
                 steps_per_epoch=args.steps_per_epoch, quiet=args.quiet,
                 evaluate_test=not args.no_test, strategy=args.strategy,
                 run_name=args.run_name)
    if result:
        print(markdown(result, f"test split, {model_dir} (SCST, reward {args.reward})"))
    print(f"Checkpoint: {os.path.join(model_dir, 'best.keras')}")


if __name__ == "__main__":
    run_main(main)
