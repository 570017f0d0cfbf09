"""Trains a tiny model for a few steps under one strategy and saves the per-step losses and
final weights (run in a subprocess by test_distribute.py: logical devices and TF_CONFIG must
be set before TensorFlow starts). ``train_tiny`` is the same run in-process (test_gpu.py:
GPUs need no configuration before TensorFlow starts)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train_tiny(strategy, data_dir: str, workdir: str, model: str = "m2_transformer",
               batch_size: int = 8, steps: int = 4, mixed_precision: str = "off",
               jit_compile: bool = False) -> dict:
    """``steps`` updates of a tiny model (no dropout, no BatchNorm: a replica's result must
    not depend on its batch share), its checkpoints and logs in ``workdir``; returns the
    losses, the weights and where it ran."""
    import json
    import numpy as np
    import keras
    from tfreport.data import pipeline
    from tfreport.models import build_model, make_config
    from tfreport.training.config import TrainConfig
    from tfreport.training.trainer import Trainer
    from tfreport.vocab import Vocabulary

    keras.utils.set_random_seed(0)
    vocab = Vocabulary.load(os.path.join(data_dir, "vocabulary.json"))
    overrides = dict(backbone="small", backbone_width=8, image_size=32, max_sentences=4,
                     max_words=12, visual_batch_norm=False, grid_batch_norm=False)
    overrides.update({"dropout": 0.0} if model != "mrna" else
                     {"dropout_output": 0.0, "dropout_lstm": 0.0, "dropout_sentence": 0.0})
    cfg = make_config(model, "demo", vocab_size=len(vocab), **overrides)
    train_cfg = TrainConfig(epochs=1, batch_size=batch_size, learning_rate=3e-3,
                            clip_norm=1.0, mixed_precision=mixed_precision, beam_size=1,
                            jit_compile=jit_compile)
    with open(os.path.join(data_dir, "summary.json")) as f:
        n_train = json.load(f)["counts"]["train"]
    trainer = Trainer(lambda: build_model(model, cfg), vocab, train_cfg, workdir, workdir,
                      n_train, strategy=strategy, steps_per_epoch=steps, quiet=True)

    def train_fn(epoch, skip, ctx, per_replica):
        return pipeline.dataset(data_dir, "train", batch_size=per_replica,
                                image_size=cfg.image_size, max_sentences=cfg.max_sentences,
                                max_words=cfg.max_words, training=True, seed=0, epoch=epoch,
                                skip_batches=skip, input_context=ctx)

    trainer.fit(train_fn, None)
    weights = {f"w{i:04d}": v.numpy() for i, v in enumerate(trainer.model.weights)}
    return dict(losses=np.array(trainer.step_losses), replicas=strategy.num_replicas_in_sync,
                policy=trainer.policy, devices=np.array(list(strategy.extended.worker_devices)),
                gpu_peak_bytes=gpu_peak_bytes(), **weights)


def gpu_peak_bytes() -> int:
    """The most memory GPU 0 held (0 without a GPU): proof that the steps ran there."""
    import tensorflow as tf
    if not tf.config.list_logical_devices("GPU"):
        return 0
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--strategy", required=True)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--model", default="m2_transformer")
    p.add_argument("--batch_size", type=int, required=True, help="per replica")
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--logical_cpus", type=int, default=1)
    p.add_argument("--mixed_precision", default="off")
    p.add_argument("--jit_compile", action="store_true")
    args = p.parse_args()

    from tfreport.training.strategy import make_strategy, split_logical_cpus
    if args.logical_cpus > 1:
        split_logical_cpus(args.logical_cpus)
    strategy = make_strategy(args.strategy)

    import numpy as np
    result = train_tiny(strategy, args.data_dir, os.path.dirname(args.out), args.model,
                        args.batch_size, args.steps, args.mixed_precision, args.jit_compile)
    np.savez(args.out, **result)


if __name__ == "__main__":
    main()
