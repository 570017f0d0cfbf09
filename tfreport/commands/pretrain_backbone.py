"""Pretrain a backbone on the 14 CheXpert observations ("CheXpert-style"), for the report models.

    python scripts/pretrain_backbone.py --backbone densenet121 --data_dir D --out PATH \
        [--labels dataset|labeler] [--uncertain ignore|zeros|ones] [--image_size N] [--epochs N]
    python scripts/train.py --model m2_transformer --backbone densenet121 --backbone_weights PATH

Writes PATH/backbone.weights.h5 (what --backbone_weights PATH loads), PATH/config.json and the
validation AUROC table PATH/auroc.md (+ .json). --labels dataset uses the dataset's labels
(MIMIC-CXR's chexpert CSV, the demo's labels.csv); labeler runs tfreport's labeler on the
reports (--labeler chexbert --chexbert_weights FOLDER: CheXbert instead of the rule-based
labeler). Blank labels are masked; uncertain ones follow --uncertain (U-Ignore/U-Zeros/U-Ones).
"""
import argparse

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="densenet121", help="densenet121 | resnet50 | small | inception_v3")
    p.add_argument("--data_dir", default=None, help="prepared dataset (default: the demo)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--labels", default="dataset", choices=["dataset", "labeler"])
    p.add_argument("--uncertain", default="ones", choices=["ignore", "zeros", "ones"])
    p.add_argument("--image_size", type=int, default=None, help="default 224 (64 on the demo and the rendered IU X-Ray set)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--init_weights", default=None, help="start from imagenet | PATH (default random)")
    add_seed_flags(p)
    p.add_argument("--quiet", action="store_true")
    from tfreport import labelers
    labelers.add_flags(p)
    args = p.parse_args(argv)
    import os
    from tfreport.data.build import read_summary
    from tfreport.data.prepared import demo_dataset
    from tfreport.pretraining import PretrainConfig, auroc_markdown, pretrain
    data_dir = args.data_dir or demo_dataset(quiet=args.quiet)
    from tfreport.training.config import SYNTHETIC_DATASETS
    demo = read_summary(data_dir)["dataset"] in SYNTHETIC_DATASETS
    apply_seed_flags(args)
    cfg = PretrainConfig(backbone=args.backbone, image_size=args.image_size or (64 if demo else 224),
                         labels=args.labels, uncertain=args.uncertain, epochs=args.epochs,
                         batch_size=args.batch_size, learning_rate=args.learning_rate,
                         init_weights=args.init_weights, seed=args.seed or 0,
                         labeler=args.labeler, chexbert_weights=args.chexbert_weights)
    table = pretrain(data_dir, args.out, cfg, quiet=args.quiet)
    print(auroc_markdown(table, cfg))
    print(f"Backbone weights: {os.path.join(args.out, 'backbone.weights.h5')}\n"
          f"Use them with: --backbone {cfg.backbone} --backbone_weights {args.out}")


if __name__ == "__main__":
    run_main(main)
