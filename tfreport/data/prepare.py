"""``prepare_data.py``'s work: raw layout -> prepared TFRecords, for each dataset."""
from __future__ import annotations

import json
import logging
import os
import random
from typing import Dict, List, Optional

from tfreport import fileio
from tfreport.data import demo, iu_xray
from tfreport.data.build import write_dataset
from tfreport.data.records import DEFAULT_STORE_SIZE
from tfreport.data.splits import SPLITS, parse_ratios, random_split
from tfreport.data.study import DropCounter, Study

log = logging.getLogger("tfreport.data")

DATASETS = ("demo", "iu_xray", "iu_xray_rendered", "mimic_cxr")
SPLIT_MODES = ("random", "legacy", "r2gen", "official")
# Per-dataset defaults of the shared flags (docs/design.md §5): IU legacy keeps impression+findings and
# both views; MIMIC-CXR takes findings (else impression), masks a missing lateral view and
# keeps words seen at least 10 times.
DEFAULTS = {
    "demo": dict(sections="impression+findings", missing_view="drop", vocab_min_count=1),
    "iu_xray": dict(sections="impression+findings", missing_view="drop", vocab_min_count=1),
    "iu_xray_rendered": dict(sections="impression+findings", missing_view="drop",
                             vocab_min_count=1),
    "mimic_cxr": dict(sections="findings_or_impression", missing_view="mask", vocab_min_count=10),
}
DEMO_DATA_DIR = os.path.join("data", "demo", "prepared")
DEMO_SPLIT_RATIOS = "0.7,0.1,0.2"  # test >= 200 studies at the default size
DEFAULT_SPLIT_RATIOS = "0.8,0.1,0.1"
LEGACY_VAL_FRACTION = 0.05  # the legacy split has no validation set: a seeded 5% of train


RAW_LABELS = "labels.csv"  # the demo's and the rendered set's CheXpert labels, beside the CSVs


def attach_raw_labels(studies: List[Study], path: str) -> int:
    """Gives each study the labels of ``labels.csv`` (uid, then one column per CheXpert
    observation: 1, 0, -1 or blank), where the raw folder has one; returns how many studies
    got labels. The labels then travel in the records and in ``studies.json``."""
    if not fileio.exists(path):
        return 0
    from tfreport.data.tables import read_table
    from tfreport.labels import CHEXPERT_OBSERVATIONS
    by_id: Dict[str, Dict[str, float]] = {}
    for row in read_table(path, {"uid"}):
        try:
            by_id[iu_xray.study_id(int(row["uid"]))] = {
                o: float(row[o]) for o in CHEXPERT_OBSERVATIONS if (row.get(o) or "").strip()}
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}, line {row['_line']}: malformed labels row ({e})") from None
    for s in studies:
        s.labels = dict(by_id.get(s.id, s.labels))
    return sum(s.id in by_id for s in studies)


def demo_needs_generating(raw_dir: str, num_studies: Optional[int]) -> bool:
    """Whether the demo raw folder must be (re)generated: it is missing, or ``num_studies``
    asks for another count than it holds. A folder the demo did not write (no demo
    ``labels.csv``) is never replaced: asking it for another count is an error."""
    reports = os.path.join(raw_dir, "indiana_reports.csv")
    if not fileio.exists(reports):
        return True
    if num_studies is None:
        return False
    from tfreport.data.tables import read_table
    held = sum(1 for _ in read_table(reports, {"uid"}))
    if held == num_studies:
        return False
    if not demo.is_demo_raw(raw_dir):
        raise ValueError(f"--num_studies {num_studies}: {raw_dir} holds {held} studies and was "
                         "not written by the demo generator, so it is not replaced; pass "
                         "another --raw_dir to generate a demo there")
    log.warning("%s holds %d demo studies, --num_studies asks for %d: regenerating it",
                raw_dir, held, num_studies)
    return True


def legacy_split(studies: List[Study], split_dir: str, seed: int,
                 drops: DropCounter) -> Dict[str, List[Study]]:
    """The legacy 2,811/300 lists, with a seeded 5% of train held out for validation."""
    lists = {}
    for name in ("train", "test"):
        path = os.path.join(split_dir, f"{name}_split.json")
        if not fileio.exists(path):
            raise FileNotFoundError(f"{path}: the legacy split needs train_split.json and "
                                    "test_split.json (pass --legacy_splits DIR)")
        with fileio.open(path, encoding="utf-8") as f:
            lists[name] = {iu_xray.study_id(iu_xray.uid_of(i)) for i in json.load(f)}
    train_ids = sorted(lists["train"])
    random.Random(seed).shuffle(train_ids)
    val_ids = set(train_ids[: round(LEGACY_VAL_FRACTION * len(train_ids))])
    out: Dict[str, List[Study]] = {k: [] for k in SPLITS}
    for s in studies:
        if s.id in lists["test"]:
            out["test"].append(s)
        elif s.id in val_ids:
            out["val"].append(s)
        elif s.id in lists["train"]:
            out["train"].append(s)
        else:
            drops.drop("not_in_split", f"study {s.id} is in neither legacy split list",
                       s.id, os.path.join(split_dir, "train_split.json"))
    return out


def r2gen_split(studies: List[Study], annotation: Optional[str],
                drops: DropCounter) -> Dict[str, List[Study]]:
    """R2Gen's 2,069/296/590 split, from the layout itself or from ``annotation``."""
    where: Dict[str, str] = {}
    if annotation:
        with fileio.open(annotation, encoding="utf-8") as f:
            for split, entries in json.load(f).items():
                for e in entries:
                    where[iu_xray.study_id(iu_xray.uid_of(e["id"]))] = e.get("split", split)
    out: Dict[str, List[Study]] = {k: [] for k in SPLITS}
    for s in studies:
        split = s.split or where.get(s.id)
        split = {"validate": "val", "validation": "val"}.get(split, split)
        if split not in out:
            drops.drop("not_in_split", f"study {s.id} is not in the R2Gen annotation", s.id,
                       annotation or "")
            continue
        out[split].append(s)
    return out


def prepare(dataset: str, out_dir: str, raw_dir: Optional[str] = None, *,
            images_dir: Optional[str] = None, split: Optional[str] = None,
            split_ratios: Optional[str] = None, seed: int = 0,
            image_size: int = DEFAULT_STORE_SIZE, missing_view: Optional[str] = None,
            sections: Optional[str] = None, vocab_min_count: Optional[int] = None,
            num_studies: Optional[int] = None, projections_csv: Optional[str] = None,
            reports_csv: Optional[str] = None, legacy_splits: Optional[str] = None,
            r2gen_annotation: Optional[str] = None, reports_dir: Optional[str] = None,
            render_dir: Optional[str] = None,
            quiet: bool = False) -> dict:
    """Builds the prepared dataset in ``out_dir`` and returns its summary.

    ``num_studies`` (demo only): the demo raw folder is generated with that many studies,
    and regenerated when it holds another count (default: reuse it, else 2,000)."""
    if dataset not in DATASETS:
        raise ValueError(f"--dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    defaults = DEFAULTS[dataset]
    missing_view = missing_view or defaults["missing_view"]
    sections = sections or defaults["sections"]
    vocab_min_count = defaults["vocab_min_count"] if vocab_min_count is None else vocab_min_count
    if dataset == "mimic_cxr":
        return prepare_mimic(out_dir, raw_dir, images_dir=images_dir, split=split,
                             image_size=image_size, missing_view=missing_view,
                             sections=sections, vocab_min_count=vocab_min_count,
                             reports_dir=reports_dir, quiet=quiet)
    if dataset == "demo":
        raw_dir = raw_dir or demo.DEFAULT_RAW_DIR
        if demo_needs_generating(raw_dir, num_studies):
            num_studies = num_studies or demo.DEFAULT_NUM_STUDIES
            log.info("generating %d demo studies in %s", num_studies, raw_dir)
            demo.generate(raw_dir, num_studies=num_studies, seed=seed, quiet=quiet)
        split_ratios = split_ratios or DEMO_SPLIT_RATIOS
    elif dataset == "iu_xray_rendered":
        if raw_dir is None:
            raise ValueError("--dataset iu_xray_rendered needs --raw_dir: the folder with the real "
                             "IU X-Ray report CSVs and split files (e.g. ../shared/data)")
        from tfreport.data import rendered
        found = rendered.shared_split_files(raw_dir)
        r2gen_annotation = r2gen_annotation or found["r2gen_annotation"]
        legacy_splits = legacy_splits or found["legacy_splits"]
        split = split or "r2gen"
        raw_dir = rendered.render(raw_dir, render_dir or rendered.DEFAULT_RAW_DIR, seed=seed,
                                  quiet=quiet)
    elif raw_dir is None:
        raise ValueError(f"--dataset {dataset} needs --raw_dir")
    split_ratios = split_ratios or DEFAULT_SPLIT_RATIOS

    drops = DropCounter()
    layout, studies = iu_xray.read_layout(raw_dir, drops, images_dir=images_dir,
                                          sections=sections, missing_view=missing_view,
                                          projections_csv=projections_csv,
                                          reports_csv=reports_csv)
    log.info("%s: found the %s layout with %d usable studies", raw_dir, layout, len(studies))
    attach_raw_labels(studies, os.path.join(raw_dir, RAW_LABELS))
    split = split or {"r2gen": "r2gen", "legacy": "legacy"}.get(layout, "random")
    if split not in SPLIT_MODES:
        raise ValueError(f"--split {split!r}; valid: {', '.join(SPLIT_MODES)}")
    if split == "random":
        splits = random_split(studies, parse_ratios(split_ratios), seed)
    elif split == "legacy":
        splits = legacy_split(studies, legacy_splits or raw_dir, seed, drops)
    else:
        if layout != "r2gen" and not r2gen_annotation:
            raise ValueError("--split r2gen needs --r2gen_annotation annotation.json for the "
                             f"{layout} layout")
        splits = r2gen_split(studies, r2gen_annotation, drops)
    return write_dataset(
        out_dir, splits, drops, dataset=dataset, layout=layout, image_size=image_size,
        vocab_min_count=vocab_min_count, quiet=quiet,
        settings={"raw_dir": fileio.abspath(raw_dir), "split": split,
                  "split_ratios": split_ratios if split == "random" else None, "seed": seed,
                  "sections": sections, "missing_view": missing_view})


def prepare_mimic(out_dir: str, raw_dir: Optional[str], *, images_dir: Optional[str],
                  split: Optional[str], image_size: int, missing_view: str, sections: str,
                  vocab_min_count: int, reports_dir: Optional[str], quiet: bool) -> dict:
    """MIMIC-CXR-JPG (or R2Gen's MIMIC annotation) with the official split by patient."""
    from tfreport.data import mimic_cxr
    if raw_dir is None:
        raise ValueError("--dataset mimic_cxr needs --raw_dir (the MIMIC-CXR-JPG top level)")
    if split not in (None, "official"):
        raise ValueError(f"--split {split} is not available for MIMIC-CXR; it uses the "
                         "official split by patient")
    drops = DropCounter()
    layout, studies = mimic_cxr.read_layout(raw_dir, drops, sections=sections,
                                            missing_view=missing_view, reports_dir=reports_dir,
                                            images_dir=images_dir)
    log.info("%s: found the %s layout with %d usable studies", raw_dir, layout, len(studies))
    return write_dataset(
        out_dir, mimic_cxr.official_splits(studies), drops, dataset="mimic_cxr", layout=layout,
        image_size=image_size, vocab_min_count=vocab_min_count, quiet=quiet,
        settings={"raw_dir": fileio.abspath(raw_dir), "split": "official",
                  "reports_dir": fileio.abspath(reports_dir) if reports_dir else None,
                  "sections": sections, "missing_view": missing_view})
