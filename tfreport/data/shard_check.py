"""Is a prepared split readable by this version of tfreport? Checked before training, so a
shard of another schema, a missing shard or an empty split is one message naming the file,
not a graph error after the model is built."""
from __future__ import annotations

from typing import List

from tfreport import fileio
from tfreport.data import records
from tfreport.data.build import read_summary, split_files


def check_split(data_dir: str, split: str) -> List[str]:
    """The split's shard files, after checking that the split has studies and that each
    shard's first record parses with tfreport's schema (cheap: one record per shard)."""
    import tensorflow as tf
    summary = read_summary(data_dir)
    if int(summary["counts"].get(split, 0)) == 0:
        raise ValueError(f"{data_dir}: the {split} split has no studies "
                         f"(counts: {summary['counts']}); rebuild it with prepare_data.py "
                         "and a split that gives every part some studies")
    files = split_files(data_dir, split)
    for path in files:
        if not fileio.exists(path):
            raise FileNotFoundError(f"{path}: shard listed in {data_dir}/summary.json is "
                                    "missing; rebuild the dataset with prepare_data.py")
        try:
            first = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
            if first is None:
                continue  # an empty shard (more shards than studies) is legitimate
            parsed = tf.io.parse_single_example(first, records.FEATURES)
        except tf.errors.DataLossError as e:
            raise ValueError(f"{path}: truncated or corrupt TFRecord "
                             f"({e.message.splitlines()[0]}); rebuild the dataset with "
                             "prepare_data.py") from None
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(f"{path}: not a tfreport record ({e.message.splitlines()[0]}); "
                             "was it written by prepare_data.py?") from None
        records.check_schema_version(int(parsed["schema_version"]), path)
    return files
