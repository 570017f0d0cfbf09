"""Reader throughput and record size: tfreport's JPEG records against the legacy layout
(two 299x299x3 float32 images per record), on the same studies.

    python scripts/benchmark_reader.py --data_dir D [--split train] [--image_size 299]
"""
import argparse
import os
import tempfile
import time

from tfreport.cli import add_seed_flags, apply_seed_flags, run_main


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data_dir", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--image_size", type=int, default=299, help="model input size")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="passes over the split; the best counts")
    add_seed_flags(p)
    args = p.parse_args(argv)
    apply_seed_flags(args)
    import numpy as np
    import tensorflow as tf
    from tfreport.data import pipeline
    from tfreport.data.build import split_files
    from tfreport.hardware import describe, one_line
    print(one_line(describe()), flush=True)  # the machine the figures are from

    files = split_files(args.data_dir, args.split)
    n = sum(1 for _ in tf.data.TFRecordDataset(files))
    ours_bytes = sum(os.path.getsize(f) for f in files) / n

    def rate(make):
        best = 0.0
        for _ in range(args.repeats):
            start, count = time.perf_counter(), 0
            for batch in make():
                count += int(batch["id"].shape[0])
            best = max(best, count / (time.perf_counter() - start))
        return best

    ours = rate(lambda: pipeline.dataset(args.data_dir, args.split, batch_size=args.batch_size,
                                         image_size=args.image_size, max_sentences=8, max_words=50))

    # The legacy layout: the same images as float32 [299, 299, 3] arrays, two per record.
    size = 299
    tmp = tempfile.mkdtemp()
    legacy_path = os.path.join(tmp, "legacy.tfrecord")
    src = pipeline.dataset(args.data_dir, args.split, batch_size=1, image_size=size,
                           max_sentences=8, max_words=50)
    with tf.io.TFRecordWriter(legacy_path) as w:
        for b in src:
            feats = {k: tf.train.Feature(float_list=tf.train.FloatList(
                value=np.repeat(b[k][0].numpy(), 3, axis=-1).ravel() / 255.0))
                for k in ("frontal", "lateral")}
            feats["id"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[b["id"][0].numpy()]))
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
    legacy_bytes = os.path.getsize(legacy_path) / n
    spec = {"frontal": tf.io.FixedLenFeature([size * size * 3], tf.float32),
            "lateral": tf.io.FixedLenFeature([size * size * 3], tf.float32),
            "id": tf.io.FixedLenFeature([], tf.string)}

    def legacy_ds():
        def parse(r):
            ex = tf.io.parse_single_example(r, spec)
            return {"id": ex["id"], "frontal": tf.reshape(ex["frontal"], [size, size, 3]),
                    "lateral": tf.reshape(ex["lateral"], [size, size, 3])}
        return (tf.data.TFRecordDataset(legacy_path).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(args.batch_size).prefetch(tf.data.AUTOTUNE))

    legacy = rate(legacy_ds)
    os.remove(legacy_path)
    print(f"{n} records from {args.data_dir} ({args.split}); model input {args.image_size} px")
    print("| layout | bytes per record | records per second |")
    print("|---|---|---|")
    print(f"| tfreport (JPEG, decode + resize to {args.image_size}) | {ours_bytes:,.0f} | {ours:,.1f} |")
    print(f"| legacy (float32 299x299x3 x 2, parse only) | {legacy_bytes:,.0f} | {legacy:,.1f} |")
    print(f"size ratio {legacy_bytes / ours_bytes:.0f}x; speed ratio {ours / legacy:.2f}x")


if __name__ == "__main__":
    run_main(main)
