"""Convert the published CheXbert checkpoint (PyTorch) into tfreport's Keras CheXbert labeler.

    python scripts/convert_chexbert.py --checkpoint chexbert.pth --vocab vocab.txt \
        --out pretrained/chexbert
    python scripts/score.py ... --labeler chexbert --chexbert_weights pretrained/chexbert

--checkpoint is CheXbert's chexbert.pth (a training checkpoint whose model_state_dict holds
module.bert.* and module.linear_heads.*), or a .npz of the same tensors. torch reads any
.pth; without torch, PyTorch's zip format (torch >= 1.6) is read directly. --vocab is
bert-base-uncased's vocab.txt (30522 lines). Writes --out/config.json, vocab.txt and
chexbert.weights.h5, then labels a few sentences as a check. See docs/chexbert.md.
"""
import argparse

from tfreport.cli import run_main

CHECK = (("no pleural effusion or pneumothorax.", "Pleural Effusion"),
         ("there is a large right pleural effusion.", "Pleural Effusion"),
         ("the heart is enlarged.", "Cardiomegaly"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="chexbert.pth (or a .npz of its tensors)")
    p.add_argument("--vocab", required=True, help="bert-base-uncased's vocab.txt")
    p.add_argument("--out", required=True, help="the converted folder (--chexbert_weights)")
    p.add_argument("--num_heads", type=int, default=None,
                   help="attention heads (default: hidden size / 64, 12 for bert-base)")
    args = p.parse_args(argv)
    from tfreport.chexbert import CheXbertLabeler
    from tfreport.chexbert_checkpoint import convert
    config = convert(args.checkpoint, args.vocab, args.out, num_heads=args.num_heads)
    print(f"Converted {args.checkpoint} -> {args.out} ({config.num_layers} layers, "
          f"hidden {config.hidden_dim}, {config.vocabulary_size} tokens)")
    labeler = CheXbertLabeler.load(args.out)
    labels = labeler.label_reports({str(i): text for i, (text, _) in enumerate(CHECK)})
    for i, (text, obs) in enumerate(CHECK):
        print(f"  {text!r}: {obs} = {labels[str(i)][obs]}")
    print(f"Use it with: --labeler chexbert --chexbert_weights {args.out}")


if __name__ == "__main__":
    run_main(main)
