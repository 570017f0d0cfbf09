"""Expected GPU wall time of docs/REPRODUCE.md's runs, from FLOPs counted per training step.

    python scripts/estimate_gpu_time.py [--utilisation 0.3] [--mimic_vocab 5000]

Counts the FLOPs of one training step of each run's model (forward, loss, gradients; the
preset's extractor trained on the images) on the traced graph, loops included, then
scales by examples and epochs. The hours are an estimate at an assumed sustained rate.
"""
import argparse

from tfreport.cli import run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--utilisation", type=float, default=0.3,
                   help="assumed share of the float16 tensor peak actually sustained")
    p.add_argument("--iu_vocab", type=int, default=1818,
                   help="vocabulary of the IU X-Ray legacy-split build")
    p.add_argument("--mimic_vocab", type=int, default=5000,
                   help="vocabulary of a MIMIC-CXR build (threshold 10)")
    p.add_argument("--models", nargs="+", default=None, help="only these models")
    p.add_argument("--heads", action="store_true",
                   help="also count each head alone on cached ResNet50 grids (legacy vocabulary "
                        "2,068), the configuration scripts/benchmark_training.py times")
    p.add_argument("--cpu_check", action="store_true",
                   help="time one model's training step here and compare the rate its counted "
                        "FLOPs imply with a large matmul's (a sanity check of the counter)")
    args = p.parse_args(argv)
    if not 0 < args.utilisation <= 1:
        p.error(f"--utilisation is a fraction in (0, 1], got {args.utilisation}")
    from tfreport.experiments.gpu_estimate import estimate, markdown, runbook_runs
    runs = [r for r in runbook_runs(args.iu_vocab, args.mimic_vocab)
            if not args.models or r.model in args.models]
    print(markdown(estimate(runs, args.utilisation), args.utilisation))
    if args.heads:
        from tfreport.experiments.gpu_estimate import head_flops
        print("\n| head (cached ResNet50 grids) | GFLOPs / example |\n|---|---|")
        for model, g in head_flops().items():
            print(f"| {model} | {g:.2f} |")
    if args.cpu_check:
        from tfreport.experiments.gpu_estimate import cpu_check
        c = cpu_check()
        print(f"\nCPU check ({c['model']} head, batch 8): {c['examples_per_second']:.2f} ex/s x "
              f"{c['gflops_per_example']:.2f} GFLOPs = {c['implied_gflops_per_s']:.0f} GFLOP/s, "
              f"{c['share_of_matmul']:.0%} of a 1024x1024 float32 matmul "
              f"({c['matmul_gflops_per_s']:.0f} GFLOP/s) in the same process")


if __name__ == "__main__":
    run_main(main)
