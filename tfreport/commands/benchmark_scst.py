"""SCST's cost per step on this machine: sampling, rewards and the update, in seconds.

    python scripts/benchmark_scst.py --init_from models/RUN [--reward cider:1,ce:1] \
        [--batch_size 16] [--scst_samples 5] [--scst_baseline mean|greedy] [--steps 10] \
        [--freeze_backbone]

Runs --steps SCST updates on the run's training batches (after one warm-up step that
compiles) and prints each part's mean and sd per step: "sample" draws --scst_samples
reports per study (and the greedy report with the greedy baseline), "reward" decodes them
to text and scores them (numpy and the labeler, on the CPU), "update" is the teacher-forced
pass, the SCST loss and the Adam step. Nothing is saved; the run is not changed.
"""
import argparse

from tfreport.cli import positive_int, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init_from", required=True)
    p.add_argument("--reward", default="cider:1,ce:1")
    p.add_argument("--batch_size", type=positive_int, default=16)
    p.add_argument("--scst_samples", type=positive_int, default=5)
    p.add_argument("--scst_baseline", default="mean", choices=["mean", "greedy"])
    p.add_argument("--scst_sampling", default="sample", choices=["sample", "beam"])
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--steps", type=positive_int, default=10)
    p.add_argument("--freeze_backbone", action="store_true",
                   help="the image extractor fixed, as scst.py --freeze_backbone")
    args = p.parse_args(argv)
    import os
    import statistics

    import keras

    from tfreport import evaluation
    from tfreport.hardware import describe, one_line
    print(one_line(describe()), flush=True)  # the machine the figures are from
    from tfreport.data import pipeline
    from tfreport.rl.rewards import Reward, parse_spec
    from tfreport.rl.stage import SCSTConfig, load_policy, load_run
    from tfreport.rl.step import SCSTStep
    from tfreport.vocab import Vocabulary
    SCSTConfig(reward=args.reward, baseline=args.scst_baseline, samples=args.scst_samples)
    init = load_run(args.init_from)
    mc = init["model_config"]
    model = load_policy(args.init_from, args.freeze_backbone)
    vocab = Vocabulary.load(os.path.join(args.init_from, "vocabulary.json"))
    refs = evaluation.references(init["data_dir"], "train")
    step = SCSTStep(model, vocab, keras.optimizers.Adam(5e-5),
                    Reward(parse_spec(args.reward), corpus=list(refs.values())),
                    samples=args.scst_samples, baseline=args.scst_baseline,
                    temperature=args.temperature, sampling=args.scst_sampling)
    ds = pipeline.dataset(init["data_dir"], "train", batch_size=args.batch_size,
                          image_size=mc["image_size"], max_sentences=mc["max_sentences"],
                          max_words=mc["max_words"], training=True, seed=0)
    parts = {"sample": [], "reward": [], "update": []}
    words = []
    for i, batch in enumerate(ds.take(args.steps + 1)):
        out = step(batch, [[refs[s.decode()] for s in batch["id"].numpy()]], step=i)
        if i == 0:
            continue  # compiles the three functions
        for name in parts:
            parts[name].append(out[f"seconds/{name}"])
        words.append(sum(len(t.split()) for t in out["samples"]) / max(1, len(out["samples"])))
    n = args.batch_size * args.scst_samples
    print(f"{init['model']} from {args.init_from}: batch {args.batch_size} x "
          f"{args.scst_samples} {'beams' if args.scst_sampling == 'beam' else 'samples'} = {n} "
          f"reports a step, {args.scst_baseline} baseline, "
          f"reward {args.reward}, {args.steps} steps after a warm-up"
          f"{', extractor fixed' if args.freeze_backbone else ''}")
    print("| part | seconds per step (mean ± sd) | share |")
    print("|---|---|---|")
    total = sum(statistics.mean(v) for v in parts.values())
    for name, values in parts.items():
        mean = statistics.mean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"| {name} | {mean:.3f} ± {sd:.3f} | {mean / total:.0%} |")
    print(f"| step | {total:.3f} | |")
    print(f"Sampled reports averaged {statistics.mean(words):.0f} words.")


if __name__ == "__main__":
    run_main(main)
