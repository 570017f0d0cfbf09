"""Runs SCST under one strategy in a fresh process (logical CPUs must be set before
TensorFlow starts; test_scst_stage.py calls it):

- ``update``: three SCST updates of a tiny CNN-RNN from fixed samples and advantages on a
  global batch of 8 studies; saves the losses and the weights, so one replica and two can be
  compared (the sampling is keyed per replica, so only the update is comparable);
- ``stage``: the SCST stage end to end (``rl.stage.run``) from ``--init_from``."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fixed_updates(strategy, data_dir: str, samples: int = 2, steps: int = 3) -> dict:
    import numpy as np
    import keras
    import tensorflow as tf
    from tfreport.data import pipeline
    from tfreport.decoding import VISUAL_KEYS
    from tfreport.models import build_model, make_config
    from tfreport.rl.rewards import Reward
    from tfreport.rl.step import SCSTStep
    from tfreport.training.optimizer import PreReducedGradients
    from tfreport.vocab import Vocabulary

    keras.utils.set_random_seed(0)
    vocab = Vocabulary.load(os.path.join(data_dir, "vocabulary.json"))
    cfg = make_config("cnn_rnn", "demo", vocab_size=len(vocab), backbone="small",
                      backbone_width=8, image_size=32, max_sentences=4, max_words=12,
                      visual_batch_norm=False, grid_batch_norm=False, dropout=0.0)
    with strategy.scope():
        model = build_model("cnn_rnn", cfg).build_all()
        # fed gradients already summed over replicas, as the Trainer's Adam is; plain SGD and
        # no clipping, so a gradient summed twice would double the update (Adam's would not
        # move, and clipping would hide the factor)
        class SGD(PreReducedGradients, keras.optimizers.SGD):
            pass
        optimizer = SGD(0.05)
        optimizer.build(model.trainable_variables)
    batch = next(iter(pipeline.dataset(data_dir, "train", batch_size=8, image_size=32,
                                       max_sentences=4, max_words=12)))
    visual = {k: batch[k] for k in VISUAL_KEYS if k in batch}
    ids = tf.repeat(model.targets(batch), samples, axis=0)  # references of different lengths
    advantage = tf.linspace(-1.0, 1.0, 8 * samples)
    step = SCSTStep(model, vocab, optimizer, Reward({"bleu4": 1.0}, corpus=["a b"]),
                    samples=samples, strategy=strategy, clip_norm=0.0)
    n = strategy.num_replicas_in_sync
    per = 8 // n

    def split(x, rows):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.nest.map_structure(
                lambda v: v[ctx.replica_id_in_sync_group * rows:
                            (ctx.replica_id_in_sync_group + 1) * rows], x))

    initial = {f"i{i:04d}": v.numpy() for i, v in enumerate(model.weights)}
    losses = []
    for _ in range(steps):
        loss, _ = step._update(split(visual, per), split(ids, per * samples),
                               split(advantage, per * samples))
        losses.append(float(loss))
    return dict(losses=np.array(losses), replicas=n, **initial,
                **{f"w{i:04d}": v.numpy() for i, v in enumerate(model.weights)})


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["update", "stage"], required=True)
    p.add_argument("--strategy", required=True)
    p.add_argument("--logical_cpus", type=int, default=1)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--init_from")
    args = p.parse_args()
    from tfreport.training.strategy import make_strategy, split_logical_cpus
    if args.logical_cpus > 1:
        split_logical_cpus(args.logical_cpus)
    if args.mode == "update":
        import numpy as np
        np.savez(args.out, **fixed_updates(make_strategy(args.strategy), args.data_dir))
        return
    from tfreport.rl.stage import SCSTConfig, run
    model_dir = os.path.join(os.path.dirname(args.out), "scst")
    run(args.init_from, model_dir, SCSTConfig(reward="cider:1,ce:1", samples=2),
        {"epochs": 1, "batch_size": 2, "val_metric": "CE-F1"}, data_dir=args.data_dir,
        logdir=os.path.join(model_dir, "logs"), steps_per_epoch=3, quiet=True,
        evaluate_test=False, strategy=args.strategy)
    with open(args.out, "w") as f:
        json.dump({"model_dir": model_dir}, f)


if __name__ == "__main__":
    main()
