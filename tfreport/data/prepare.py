"""``prepare_data.py``'s work: raw layout -> prepared TFRecords, for each dataset."""
from __future__ import annotations

import logging
import os
from typing import Optional

from tfreport.data import demo, iu_xray
from tfreport.data.build import write_dataset
from tfreport.data.records import DEFAULT_STORE_SIZE
from tfreport.data.splits import parse_ratios, random_split
from tfreport.data.study import DropCounter

log = logging.getLogger("tfreport.data")

DATASETS = ("demo", "iu_xray")
DEMO_DATA_DIR = os.path.join("data", "demo", "prepared")
DEMO_SPLIT_RATIOS = "0.7,0.1,0.2"  # test >= 200 studies at the default size
DEFAULT_SPLIT_RATIOS = "0.8,0.1,0.1"


def prepare(dataset: str, out_dir: str, raw_dir: Optional[str] = None, *,
            images_dir: Optional[str] = None, split: str = "random",
            split_ratios: Optional[str] = None, seed: int = 0,
            image_size: int = DEFAULT_STORE_SIZE, missing_view: str = "drop",
            sections: str = "impression+findings", vocab_min_count: int = 1,
            num_studies: int = demo.DEFAULT_NUM_STUDIES, quiet: bool = False) -> dict:
    """Builds the prepared dataset in ``out_dir`` and returns its summary."""
    if dataset not in DATASETS:
        raise ValueError(f"--dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    if dataset == "demo":
        raw_dir = raw_dir or demo.DEFAULT_RAW_DIR
        if not os.path.exists(os.path.join(raw_dir, "indiana_reports.csv")):
            log.info("generating %d demo studies in %s", num_studies, raw_dir)
            demo.generate(raw_dir, num_studies=num_studies, seed=seed, quiet=quiet)
        split_ratios = split_ratios or DEMO_SPLIT_RATIOS
    elif raw_dir is None:
        raise ValueError(f"--dataset {dataset} needs --raw_dir")
    split_ratios = split_ratios or DEFAULT_SPLIT_RATIOS

    drops = DropCounter()
    layout, studies = iu_xray.read_layout(raw_dir, drops, images_dir=images_dir,
                                          sections=sections, missing_view=missing_view)
    log.info("%s: found the %s layout with %d usable studies", raw_dir, layout, len(studies))
    if split != "random":
        raise ValueError(f"--split {split!r} is not available for the {layout} layout; use random")
    splits = random_split(studies, parse_ratios(split_ratios), seed)
    return write_dataset(
        out_dir, splits, drops, dataset=dataset, layout=layout, image_size=image_size,
        vocab_min_count=vocab_min_count, quiet=quiet,
        settings={"raw_dir": os.path.abspath(raw_dir), "split": split, "split_ratios": split_ratios, "seed": seed,
                  "sections": sections, "missing_view": missing_view})
