"""Build a tfreport TFDS dataset from its raw files (manual_dir), here or on Apache Beam.

    python scripts/build_tfds.py --dataset mimic_cxr_reports --manual_dir JPG_ROOT --data_dir OUT
    python scripts/build_tfds.py --dataset mimic_cxr_reports --config beam --manual_dir JPG_ROOT \
        --data_dir OUT --beam_pipeline_options "runner=DirectRunner"

--beam_pipeline_options takes comma-separated key=value pairs, as the `tfds build` CLI does
(runner=DataflowRunner,project=...; runner=SparkRunner,...; runner=FlinkRunner,...).

The examples are prepare_data.py's records, and the dataset's version folder (printed) is a
prepared dataset too: train.py --data_dir trains on it.
"""
import argparse
from typing import List, Optional

from tfreport.cli import run_main

BUILDERS = {"iu_xray": "tfreport.data.tfds_iu_xray",
            "mimic_cxr_reports": "tfreport.data.tfds_mimic_cxr"}


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=sorted(BUILDERS))
    p.add_argument("--config", default=None, help="mimic_cxr_reports: default | beam")
    p.add_argument("--manual_dir", required=True, help="the raw files")
    p.add_argument("--data_dir", required=True, help="where TFDS writes the dataset")
    p.add_argument("--beam_pipeline_options", default=None,
                   help="comma-separated key=value Beam options (with --config beam)")
    args = p.parse_args(argv)
    import importlib
    import tensorflow_datasets as tfds
    importlib.import_module(BUILDERS[args.dataset])  # registers the builder
    name = args.dataset + (f"/{args.config}" if args.config else "")
    options = None
    if args.beam_pipeline_options:
        try:
            import apache_beam as beam
        except ImportError:
            raise RuntimeError("--beam_pipeline_options needs Apache Beam: "
                               "pip install -r requirements-beam.txt") from None
        flags = [f"--{kv.strip()}" for kv in args.beam_pipeline_options.split(",") if kv.strip()]
        options = beam.options.pipeline_options.PipelineOptions(flags)
    builder = tfds.builder(name, data_dir=args.data_dir)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=args.manual_dir, beam_options=options))
    counts = {s: builder.info.splits[s].num_examples for s in builder.info.splits}
    print(f"Built {name} in {builder.data_dir}: {counts}")
    print(f"Train on it: python scripts/train.py --data_dir {builder.data_dir}")


if __name__ == "__main__":
    run_main(main)
