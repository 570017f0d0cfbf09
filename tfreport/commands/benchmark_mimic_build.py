"""Studies per second and peak memory of the MIMIC-CXR build on synthetic trees of growing
size (the per-study cost should stay flat).

    python scripts/benchmark_mimic_build.py --sizes 5000 10000 20000 [--workdir /tmp/mimic_scale]

Each tree is written once in the exact MIMIC-CXR-JPG layout (made-up ids and text; images
--raw_size px), then built by `prepare_data.py --dataset mimic_cxr` in a fresh process whose
peak resident memory is reported.
"""
import argparse
import os
import subprocess
import sys
import time

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main

BUILD = ("import resource; "
         "from tfreport.data.prepare import prepare; "
         "s = prepare('mimic_cxr', {out!r}, {raw!r}, image_size={size}, quiet=True); "
         "print('STUDIES', sum(s['counts'].values())); "
         "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[5000, 10000, 20000])
    p.add_argument("--workdir", default="/tmp/mimic_scale")
    p.add_argument("--raw_size", type=int, default=256, help="side of the synthetic JPGs")
    p.add_argument("--image_size", type=int, default=256, help="stored short side")
    add_seed_flags(p)
    args = p.parse_args(argv)
    seed = apply_seed_flags(args)
    import platform
    from tfreport.data.mimic_synthetic import write_tree
    print(f"CPU: {platform.machine()}, {os.cpu_count()} cores; synthetic JPGs {args.raw_size} px")
    print("| studies | images | build s | studies/s | ms/study | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for n in args.sizes:
        raw = os.path.join(args.workdir, f"tree{n}")
        if not os.path.exists(os.path.join(raw, "mimic-cxr-2.0.0-chexpert.csv.gz")):
            write_tree(raw, n, image_size=args.raw_size, seed=seed, quiet=True)
        out = os.path.join(args.workdir, f"out{n}")
        code = BUILD.format(out=out, raw=raw, size=args.image_size)
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if run.returncode != 0:
            raise RuntimeError(f"build of {n} studies failed: {run.stderr[-2000:]}")
        values = dict(line.split() for line in run.stdout.splitlines()
                      if line.startswith(("STUDIES", "PEAK_KB")))
        studies = int(values["STUDIES"])
        import json
        images = json.load(open(os.path.join(out, "summary.json")))["source"]["images"]
        print(f"| {n} | {images} | {seconds:.0f} | {studies / seconds:.1f} | "
              f"{1000 * seconds / studies:.1f} | {int(values['PEAK_KB']) / 1024:.0f} |", flush=True)


if __name__ == "__main__":
    run_main(main)
