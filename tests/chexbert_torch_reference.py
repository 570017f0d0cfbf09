"""Run by test_chexbert in its own process (torch and TensorFlow in one process can crash on
import): CheXbert's PyTorch module with random weights, saved as the published checkpoint
was (DataParallel, so every name starts "module."), and its logits on the given ids.

    python tests/chexbert_torch_reference.py OUT_DIR VOCAB_SIZE

Reads OUT_DIR/inputs.npz (ids, mask); writes OUT_DIR/chexbert.pth and OUT_DIR/logits.npz.
"""
import os
import sys

import numpy as np
import torch
import transformers


class BertLabeler(torch.nn.Module):
    """CheXbert's bert_labeler as its paper describes it: BERT, dropout on [CLS], 13
    four-way heads and a two-way No Finding head."""

    def __init__(self, cfg):
        super().__init__()
        self.bert = transformers.BertModel(cfg)
        self.dropout = torch.nn.Dropout(0.1)
        self.linear_heads = torch.nn.ModuleList(
            [torch.nn.Linear(cfg.hidden_size, 4) for _ in range(13)]
            + [torch.nn.Linear(cfg.hidden_size, 2)])

    def forward(self, ids, mask):
        cls = self.dropout(self.bert(ids, attention_mask=mask)[0][:, 0])
        return [head(cls) for head in self.linear_heads]


def main(out: str, vocab_size: int) -> None:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=32,
                                  max_position_embeddings=32, hidden_act="gelu")
    module = torch.nn.DataParallel(BertLabeler(cfg)).eval()
    with torch.no_grad():  # large weights: a wrong activation or mapping shows
        for p in module.parameters():
            if p.dim() > 1:
                p.mul_(8.0)
    torch.save({"epoch": 3, "model_state_dict": module.state_dict()},
               os.path.join(out, "chexbert.pth"))
    inputs = np.load(os.path.join(out, "inputs.npz"))
    with torch.no_grad():
        logits = module(torch.tensor(inputs["ids"], dtype=torch.long), torch.tensor(inputs["mask"]))
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    np.savez(os.path.join(out, "logits.npz"), observations=np.stack([t.numpy() for t in logits[:13]], 1),
             no_finding=logits[13].numpy())
    np.savez(os.path.join(out, "state.npz"), **state)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
