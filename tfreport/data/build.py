"""Writes a prepared dataset (TFRecord shards + legacy JSON files + summary.json), resumably.

Work goes into ``OUT.partial/`` with a manifest of finished shards. A rerun with the same
settings resumes from it; OUT appears only when everything is written (docs/design.md §5).
"""
from __future__ import annotations

import concurrent.futures as futures
import hashlib
import json
import logging
import os
from typing import Dict, List, Optional

from tfreport import fileio
from tfreport.atomic import write_json
from tfreport.data import records
from tfreport.data.study import (ABNORMAL, NORMAL, SKIPPED, DropCounter, LayoutError, Study,
                                 write_skipped)
from tfreport.progress import progress
from tfreport.text import cap_sentences
from tfreport.vocab import Vocabulary

log = logging.getLogger("tfreport.data")

MAX_SENTENCES = 8  # legacy cap applied when records are written
MAX_WORDS = 50  # 49 words + </S>
STUDIES_PER_SHARD = 512
MANIFEST = "manifest.json"


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


def _encode_study(study: Study, vocab: Vocabulary, image_size: int):
    """Study -> serialized record; raises ValueError/FileNotFoundError for bad images."""
    frontal = records.encode_image(study.frontal, image_size)
    if study.lateral is None:
        lateral = None
    elif study.lateral == study.frontal:
        lateral = frontal
    else:
        lateral = records.encode_image(study.lateral, image_size)
    capped = cap_sentences(study.sentences, MAX_SENTENCES, MAX_WORDS)
    ids = vocab.encode_report(capped, MAX_SENTENCES, MAX_WORDS)
    return records.serialize(study.id, frontal, lateral, study.text, study.sentences, ids,
                             study.normal, study.labels)


def write_dataset(out_dir: str, splits: Dict[str, List[Study]], drops: DropCounter, *,
                  dataset: str, layout: str, image_size: int = records.DEFAULT_STORE_SIZE,
                  vocab_min_count: int = 1, vocab: Optional[Vocabulary] = None,
                  settings: Optional[dict] = None, workers: int = 0, quiet: bool = False) -> dict:
    """Writes every split to ``out_dir`` and returns the summary.

    Studies whose images fail to load are skipped and counted; the run goes on. Every
    skipped study is listed in ``skipped.csv``. A build that keeps no study at all is an
    error (:class:`EmptyDatasetError`): OUT is not written, and the skip log is left in
    ``OUT.partial/skipped.csv``.
    """
    out_dir = out_dir.rstrip("/")
    partial = out_dir + ".partial"
    if vocab is None:
        vocab = Vocabulary.build((s for st in splits["train"] for s in st.sentences),
                                 min_count=vocab_min_count)
    settings = dict(settings or {}, dataset=dataset, layout=layout, image_size=image_size,
                    vocab_min_count=vocab_min_count, schema_version=records.SCHEMA_VERSION,
                    ids={k: [s.id for s in v] for k, v in splits.items()})
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    manifest = _open_manifest(partial, fingerprint)
    workers = workers or min(8, os.cpu_count() or 1)

    kept: Dict[str, List[Study]] = {}
    with futures.ThreadPoolExecutor(workers) as pool:
        for split, studies in splits.items():
            count = max(1, -(-len(studies) // STUDIES_PER_SHARD))
            kept[split] = []
            for index in range(count):
                name = shard_name(split, index, count)
                chunk = studies[index * STUDIES_PER_SHARD:(index + 1) * STUDIES_PER_SHARD]
                if name in manifest["shards"]:
                    done = set(manifest["shards"][name]["ids"])
                    kept[split].extend(s for s in chunk if s.id in done)
                    for reason, n in manifest["shards"][name]["drops"].items():
                        drops.counts[reason] += n
                    drops.skipped.extend(manifest["shards"][name].get("skipped", []))
                    continue
                shard_drops = DropCounter()
                tmp = os.path.join(partial, name + ".tmp")
                ok = []
                jobs = pool.map(lambda s: _try_encode(s, vocab, image_size), chunk)
                with tf_writer(tmp) as writer:
                    for study, (payload, error) in progress(
                            zip(chunk, jobs), total=len(chunk), disable=quiet, unit="study",
                            desc=f"{split} shard {index + 1}/{count}"):
                        if error is not None:
                            shard_drops.drop(*error)
                            continue
                        writer.write(payload)
                        ok.append(study)
                fileio.replace(tmp, os.path.join(partial, name))
                manifest["shards"][name] = {"ids": [s.id for s in ok],
                                            "drops": shard_drops.as_dict(),
                                            "skipped": shard_drops.skipped}
                write_json(os.path.join(partial, MANIFEST), manifest)
                for reason, n in shard_drops.counts.items():
                    drops.counts[reason] += n
                drops.skipped.extend(shard_drops.skipped)
                kept[split].extend(ok)

    write_skipped(os.path.join(partial, SKIPPED), drops.skipped)
    if not any(kept.values()):
        raise EmptyDatasetError(_empty_message(out_dir, partial, drops))

    vocab.save(os.path.join(partial, "vocabulary.json"))
    write_json(os.path.join(partial, "data_entry.json"),
                 {s.id: s.sentences for st in kept.values() for s in st})
    for split, studies in kept.items():
        write_json(os.path.join(partial, f"{split}_split.json"), [s.id for s in studies])
    from tfreport.data.prepared import STUDIES, studies_record
    write_json(os.path.join(partial, STUDIES), studies_record(kept))
    summary = {
        "schema_version": records.SCHEMA_VERSION,
        "dataset": dataset,
        "layout": layout,
        "counts": {k: len(v) for k, v in kept.items()},
        "normal": {k: sum(s.normal == NORMAL for s in v) for k, v in kept.items()},
        "abnormal": {k: sum(s.normal == ABNORMAL for s in v) for k, v in kept.items()},
        "source": dict(drops.source),
        "dropped": drops.as_dict(),
        "skipped_log": SKIPPED,
        "shards": {k: sorted(n for n in manifest["shards"] if n.startswith(k + "-"))
                   for k in kept},
        "vocabulary_size": len(vocab),
        "max_sentences": MAX_SENTENCES,
        "max_words": MAX_WORDS,
        "settings": {k: v for k, v in settings.items() if k != "ids"},
    }
    write_json(os.path.join(partial, "summary.json"), summary)
    fileio.remove(os.path.join(partial, MANIFEST))
    if fileio.exists(out_dir):  # a stale build is replaced only now, when this one is complete
        fileio.rmtree(out_dir)
    fileio.replace(partial, out_dir, last=("summary.json",))  # an object store: file by file
    return summary


class EmptyDatasetError(LayoutError):
    """A build in which no study could be kept."""


def _empty_message(out_dir: str, partial: str, drops: DropCounter) -> str:
    reasons = ", ".join(f"{r}: {n}" for r, n in drops.as_dict().items()) or "none"
    found = ", ".join(f"{k} {v}" for k, v in drops.source.items())
    return (f"{out_dir}: no usable study, nothing written (the raw layout held "
            f"{found or 'no studies'}; skipped by reason: {reasons}); every skipped study is "
            f"listed in {os.path.join(partial, SKIPPED)}")


def _try_encode(study: Study, vocab: Vocabulary, image_size: int):
    """(record, None) or (None, (reason, message, study id, file)) for the skip log."""
    try:
        return _encode_study(study, vocab, image_size), None
    except FileNotFoundError as e:
        return None, ("missing_image", f"study {study.id}: {e}", study.id, _named_file(e, study))
    except ValueError as e:
        return None, (getattr(e, "reason", "unreadable_image"), f"study {study.id}: {e}",
                      study.id, _named_file(e, study))


def _named_file(error: Exception, study: Study) -> str:
    """The image an encoding error names (its message starts with the path)."""
    text = str(error)
    for path in (study.frontal, study.lateral):
        if path and text.startswith(path + ":"):
            return path
    return study.frontal or ""


def _open_manifest(partial: str, fingerprint: str) -> dict:
    path = os.path.join(partial, MANIFEST)
    if fileio.exists(path):
        with fileio.open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("fingerprint") == fingerprint:
            log.info("resuming %s: %d shards already written", partial, len(manifest["shards"]))
            return manifest
        log.info("%s holds a build with other settings; starting over", partial)
    fileio.rmtree(partial, ignore_errors=True)
    fileio.makedirs(partial)
    manifest = {"fingerprint": fingerprint, "shards": {}}
    write_json(path, manifest)
    return manifest


def tf_writer(path: str):
    """A TFRecord writer; TensorFlow writes local paths and URLs (gs://, ram://) alike."""
    import tensorflow as tf
    return tf.io.TFRecordWriter(path)


def read_summary(data_dir: str) -> dict:
    """Loads ``summary.json``, rejecting an unknown schema version or an unfinished build."""
    path = os.path.join(data_dir, "summary.json")
    if not fileio.exists(path):
        hint = " (an unfinished build is in .partial; rerun prepare_data.py)" if fileio.exists(
            data_dir.rstrip("/") + ".partial") else ""
        raise FileNotFoundError(f"{path}: not found; is --data_dir a prepared dataset?{hint}")
    with fileio.open(path, encoding="utf-8") as f:
        summary = json.load(f)
    records.check_schema_version(summary.get("schema_version", -1), path)
    return summary


def split_files(data_dir: str, split: str) -> List[str]:
    summary = read_summary(data_dir)
    if split not in summary["shards"]:
        raise ValueError(f"{data_dir}: no split {split!r}; it has {sorted(summary['shards'])}")
    return [os.path.join(data_dir, n) for n in summary["shards"][split]]
