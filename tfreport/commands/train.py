"""Train a report model. With no --data_dir it builds and uses the demo dataset.

    python scripts/train.py --model mrna
    tensorboard --logdir summary
    python scripts/train.py --model m2_transformer --backbone dual --strategy mirrored
    python scripts/train.py --model mrna --model_dir models/RUN --resume   # after a kill
"""
import argparse
import logging

from tfreport.cli import add_bool, add_model_flags, add_train_flags, collect, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mrna", help="model name (default mrna)")
    p.add_argument("--preset", default=None, help="legacy | paper | demo (default: demo on the demo data, else legacy)")
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
    p.add_argument("--strategy", default="auto",
                   choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"],
                   help="auto: mirrored over all GPUs when there are several, else one device; "
                        "multi_worker reads TF_CONFIG")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --model_dir from its last saved state")
    add_bool(p, "--evaluate_test", True, "score best.keras on the test split at the end")
    p.add_argument("--quiet", action="store_true")
    add_model_flags(p)
    add_train_flags(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    from tfreport.training.run import MODEL_FLAGS, TRAIN_FLAGS, RunSpec, train
    spec = RunSpec(model=args.model, preset=args.preset, data_dir=args.data_dir,
                   model_dir=args.model_dir, logdir=args.logdir, run_name=args.run_name,
                   steps_per_epoch=args.steps_per_epoch, num_studies=args.num_studies,
                   text_summaries=args.text_summaries, feature_cache=args.feature_cache,
                   strategy=args.strategy, resume=args.resume,
                   evaluate_test=args.evaluate_test, quiet=args.quiet)
    train(spec, collect(args, MODEL_FLAGS), collect(args, TRAIN_FLAGS))


if __name__ == "__main__":
    run_main(main)
