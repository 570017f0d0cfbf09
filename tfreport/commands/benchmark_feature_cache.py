"""Feature-cache cost at MIMIC-CXR scale: bytes per study, build and read rates, per backbone
and storage dtype, from synthetic grids written by the real cache writer.

    tfreport bench-feature-cache [--studies 2000] [--backbones resnet50 densenet121 dual]
        [--dtypes float32 float16 bfloat16] [--out docs/feature_cache_table.md]

Grids have the shape the backbone gives at the M2 transformer's `paper` preset (224 px;
--image_size to change); reports that preset's [max_sentences, max_words]. The build rate is
the writer's alone (serialise + write; a real build also runs the backbone, which is far
slower); the read rate is one ordered pass of `feature_cache.dataset` (parse + batch) over
a cache just written, so mostly from the page cache. Sizes are extrapolated to
--mimic_studies, with the shard count the cache would choose there.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Sequence, Tuple

from tfreport.cli import positive_int, run_main

MIMIC_TRAIN_STUDIES = 222_758  # MIMIC-CXR-JPG's official train split (docs/REPRODUCE.md)
BACKBONES = ("resnet50", "densenet121", "dual")
DTYPES = ("float32", "float16", "bfloat16")
POOL = 64  # distinct synthetic studies, cycled: generating grids must not dominate the rate


def grid_shape(backbone: str, image_size: int) -> Tuple[int, int, int]:
    """[2 views, cells, channels] of a backbone's grid, from tfreport's own network."""
    from tfreport.layers.backbones import backbone_architecture
    shape = backbone_architecture(backbone, image_size).output.shape
    return 2, int(shape[1]) * int(shape[2]), int(shape[3])


def _cpuinfo() -> Tuple[str, set]:
    """(model name, flags) of the first processor in /proc/cpuinfo ('' and {} elsewhere)."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not name:
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags


def machine() -> str:
    """One line about the machine: tfreport.hardware's record when it exists, with the CPU's
    ``model name`` from /proc/cpuinfo (x86 also has a numeric ``model`` line)."""
    name, flags = _cpuinfo()
    try:
        from tfreport import hardware
        info = hardware.describe()
        info["cpu"] = name or info["cpu"]
        return hardware.one_line(info)
    except (ImportError, AttributeError):  # an older tree without it
        avx512 = "AVX-512" if "avx512f" in flags else "no AVX-512"
        return f"CPU: {name or 'unknown'}, {os.cpu_count()} cores visible, {avx512}"


def synthetic_source(grid: Sequence[int], report: Sequence[int], dtype: str,
                     batch_size: int = 32):
    """A feature_cache Source of made-up studies: ReLU-like grids already in ``dtype`` (as a
    backbone computing in it gives them), random report ids, unique study ids."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(0)
    grids = tf.cast(np.maximum(rng.normal(size=(POOL, *grid)), 0).astype(np.float32), dtype)
    reports = rng.integers(0, 4000, (POOL, *report))

    def source(start: int, count: int) -> Iterator[Dict[str, object]]:
        for b in range(start, start + count, batch_size):
            n = min(batch_size, start + count - b)
            pick = np.arange(b, b + n) % POOL
            yield {"id": np.array([f"synthetic{j:07d}".encode() for j in range(b, b + n)]),
                   "grids": tf.gather(grids, pick), "view_mask": np.ones((n, 2), np.float32),
                   "report": reports[pick], "normal": np.zeros(n, np.int64),
                   "lateral_present": np.ones(n, np.float32)}
    return source


def measure(folder: str, backbone: str, grid: Tuple[int, int, int], report: Tuple[int, int],
            dtype: str, studies: int, batch_size: int, quiet: bool) -> dict:
    """Writes one synthetic cache split and reads it back; times both."""
    import tensorflow as tf
    from tfreport.data import feature_cache as fc
    per_study = fc.study_bytes(grid, dtype, report)
    plan = fc.Plan("train", studies, fc.auto_num_shards(studies, per_study), dtype, grid, report)
    start = time.perf_counter()
    cache = fc.write_split(folder, plan, synthetic_source(grid, report, dtype, batch_size),
                           quiet=quiet)
    build_s = time.perf_counter() - start
    size = sum(tf.io.gfile.stat(f).length for f in cache.files)

    def rate(ds) -> float:
        start, n = time.perf_counter(), 0
        for batch in ds:
            n += int(batch["grids"].shape[0])
        return n / (time.perf_counter() - start)

    return {"backbone": backbone, "dtype": dtype, "grid": grid, "shards": plan.num_shards,
            "bytes_per_study": size / studies, "build": studies / build_s,
            "read": rate(fc.dataset(cache, batch_size=batch_size))}


def table(rows: List[dict], mimic_studies: int) -> str:
    """The cost table, markdown, with MIMIC-CXR-scale extrapolations."""
    from tfreport.data import feature_cache as fc
    lines = [f"| backbone | grid [views, cells, ch] | dtype | bytes/study | MIMIC-CXR train "
             f"({mimic_studies:,} studies) | shards there (auto) | build, studies/s (writer) "
             "| read, studies/s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        total = r["bytes_per_study"] * mimic_studies
        shards = fc.auto_num_shards(mimic_studies, int(r["bytes_per_study"]))
        lines.append(f"| {r['backbone']} | {list(r['grid'])} | {r['dtype']} | "
                     f"{r['bytes_per_study']:,.0f} | {total / 1e9:,.1f} GB | {shards:,} | "
                     f"{r['build']:,.0f} | {r['read']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--studies", type=positive_int, default=2000,
                   help="synthetic studies written per backbone and dtype")
    p.add_argument("--backbones", nargs="+", default=list(BACKBONES),
                   help="any of tfreport's backbones (small, resnet50, densenet121, "
                        "inception_v3, dual)")
    p.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=DTYPES)
    p.add_argument("--image_size", type=positive_int, default=None,
                   help="backbone input size (default: the M2 transformer's paper preset)")
    p.add_argument("--batch_size", type=positive_int, default=32)
    p.add_argument("--mimic_studies", type=positive_int, default=MIMIC_TRAIN_STUDIES,
                   help="study count to extrapolate the size to")
    p.add_argument("--work_dir", default=None,
                   help="where the caches are written (and removed); default: a temp folder")
    p.add_argument("--out", default=None, help="also write the table (markdown) here")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    import tensorflow as tf
    from tfreport.atomic import write_text
    from tfreport.models import make_config

    paper = make_config("m2_transformer", "paper", vocab_size=1)
    image_size = args.image_size or paper.image_size
    report = (paper.max_sentences, paper.max_words)
    work = args.work_dir or tempfile.mkdtemp(prefix="bench_feature_cache_")
    rows = []
    for backbone in args.backbones:
        grid = grid_shape(backbone, image_size)
        for dtype in args.dtypes:
            folder = os.path.join(work, f"{backbone}_{dtype}")
            try:
                rows.append(measure(folder, backbone, grid, report, dtype, args.studies,
                                    args.batch_size, args.quiet))
            finally:
                if tf.io.gfile.exists(folder):
                    tf.io.gfile.rmtree(folder)
            if not args.quiet:
                print(table(rows[-1:], args.mimic_studies).splitlines()[-1], flush=True)
    command = "tfreport bench-feature-cache " + " ".join(sys.argv[1:] if argv is None else argv)
    text = (f"{table(rows, args.mimic_studies)}\n\n{args.studies:,} synthetic studies per row, "
            f"{image_size} px, reports {list(report)}, batch {args.batch_size}. "
            f"Machine: {machine()}.\n`{command.strip()}`\n")
    print(text)
    if args.out:
        write_text(args.out, text)


if __name__ == "__main__":
    run_main(main)
