"""What tfreport's TFDS builders share: prepare_data.py's records, and a prepared folder.

A tfreport builder yields the very records ``prepare_data.py`` writes (``records.FEATURES``:
schema_version, JPEG bytes, text, sentences, token ids by sentence and word, the normal flag
and 14 CheXpert label slots; the same ``tf.train.Example`` on disk), each made by prepare's
own study encoder with a vocabulary built from the train split as prepare builds it. Beside
TFDS's shards it writes what prepare writes beside its own: ``summary.json`` (listing those
shards), ``vocabulary.json``, ``data_entry.json``, ``{split}_split.json``, ``studies.json``
and ``skipped.csv``. So a builder's version folder (``DATA_DIR/iu_xray/2.0.0``) *is* a
prepared dataset: :class:`~tfreport.data.prepared.PreparedDataset`, ``pipeline.dataset`` and
``train.py --data_dir`` read it unchanged. One schema, one reader.
"""
from __future__ import annotations

import abc
import dataclasses
import functools
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from tfreport.atomic import write_json
from tfreport.data import records
from tfreport.data.build import MAX_SENTENCES, MAX_WORDS, _try_encode
from tfreport.data.prepare import DEFAULTS
from tfreport.data.prepared import STUDIES, studies_record
from tfreport.data.study import ABNORMAL, NORMAL, SKIPPED, DropCounter, Study, write_skipped
from tfreport.vocab import Vocabulary

log = logging.getLogger("tfreport.data")

DOCS = {
    "schema_version": "tfreport record schema version (records.SCHEMA_VERSION)",
    "id": "study id (CXR<uid> for IU X-Ray, s<study_id> for MIMIC-CXR)",
    "frontal": "frontal view, JPEG bytes (decode with tfreport.data.pipeline.decode_image)",
    "lateral": "lateral view, JPEG bytes; empty when the view is missing (lateral_present 0)",
    "lateral_present": "1 when the study has a lateral view, else 0 (the models mask it)",
    "text": "the selected report sections, as written",
    "sentences": "legacy-normalised sentences, uncapped",
    "token_ids": "token ids of the capped sentences, flat; each sentence ends in </S>",
    "sentence_lengths": "tokens per sentence in token_ids (its </S> included)",
    "normal": "1 normal, 0 abnormal, -1 unknown",
    "labels": "14 CheXpert observations (labels.CHEXPERT_OBSERVATIONS order): 1, 0, -1, NaN blank",
}


def record_features() -> tfds.features.FeaturesDict:
    """``records.FEATURES`` as TFDS features; TFDS serializes them to the same
    ``tf.train.Example`` that ``records.serialize`` writes (names, kinds and values)."""
    out = {}
    for name, spec in records.FEATURES.items():
        if isinstance(spec, tf.io.VarLenFeature):
            shape: Tuple = (None,)
        elif isinstance(spec, tf.io.FixedLenFeature):
            shape = tuple(spec.shape)
        else:  # a feature kind TFDS would not write the way records.parse reads it
            raise TypeError(f"records.FEATURES[{name!r}]: {type(spec).__name__} has no TFDS form")
        dtype = np.object_ if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
        out[name] = tfds.features.Tensor(shape=shape, dtype=dtype, doc=DOCS.get(name))
    return tfds.features.FeaturesDict(out)


def record_fields(serialized: bytes) -> Dict[str, np.ndarray]:
    """A record ``records.serialize`` wrote -> {feature: value}, what TFDS writes back."""
    feature = tf.train.Example.FromString(serialized).features.feature
    out = {}
    for name, spec in records.FEATURES.items():
        kind = feature[name].WhichOneof("kind")
        values = list(getattr(feature[name], kind).value) if kind else []
        dtype = np.object_ if spec.dtype == tf.string else spec.dtype.as_numpy_dtype
        value = np.array(values, dtype=dtype)
        if isinstance(spec, tf.io.FixedLenFeature):
            value = value.reshape(spec.shape)
        out[name] = value
    return out


def encode(study: Study, vocab: Vocabulary, image_size: int,
           drops: Optional[DropCounter] = None, failed: Optional[Set[str]] = None
           ) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
    """(key, fields) of one study, made by prepare's own encoder; nothing when its images
    cannot be read (counted in ``drops`` and ``failed`` here; logged on a Beam worker)."""
    payload, error = _try_encode(study, vocab, image_size)
    if error is not None:
        if drops is not None:
            drops.drop(*error)
        else:
            log.warning("skipped: %s", error[1])
        if failed is not None:
            failed.add(study.id)
        return
    yield study.id, record_fields(payload)


@dataclasses.dataclass(eq=False)
class RecordConfig(tfds.core.BuilderConfig):
    """prepare_data.py's settings, for a builder; None takes prepare's default for the
    dataset (``prepare.DEFAULTS``), so the default config builds what prepare builds."""
    image_size: int = records.DEFAULT_STORE_SIZE
    sections: Optional[str] = None
    missing_view: Optional[str] = None
    vocab_min_count: Optional[int] = None
    split_ratios: Optional[str] = None  # IU X-Ray's random split (layouts without their own)
    seed: int = 0
    beam: bool = False  # generate with Apache Beam (MIMIC-CXR)


DEFAULT_CONFIG = RecordConfig(name="default")


@dataclasses.dataclass
class Plan:
    """What a builder read from manual_dir and will write: prepare's inputs to its writer."""
    layout: str
    splits: Dict[str, List[Study]]
    drops: DropCounter
    vocab: Vocabulary
    settings: dict
    failed: Set[str] = dataclasses.field(default_factory=set)  # ids whose images failed here


class RecordBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A builder of prepared records: subclasses read a raw layout (``_read``); this class
    builds the vocabulary, encodes the studies and writes the prepared folder's files."""

    DATASET = ""  # prepare_data.py's --dataset name, recorded in summary.json
    HOMEPAGE = ""
    LICENSE = ""
    _plan: Plan  # set by _split_generators, written by _download_and_prepare

    @abc.abstractmethod
    def _read(self, raw_dir: str, config: RecordConfig, sections: str, missing_view: str
              ) -> Tuple[str, Dict[str, List[Study]], DropCounter, dict]:
        """(layout, {split: studies}, drops, settings) as prepare reads ``raw_dir``."""

    @property
    def config(self) -> RecordConfig:
        """The builder config, or prepare's defaults where the builder has none (IU X-Ray)."""
        return self.builder_config or DEFAULT_CONFIG

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(features=record_features(),
                                              homepage=self.HOMEPAGE, license=self.LICENSE)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> Dict[str, Any]:
        cfg, defaults = self.config, DEFAULTS[self.DATASET]
        sections = cfg.sections or defaults["sections"]
        missing_view = cfg.missing_view or defaults["missing_view"]
        min_count = defaults["vocab_min_count"] if cfg.vocab_min_count is None \
            else cfg.vocab_min_count
        layout, splits, drops, settings = self._read(str(dl_manager.manual_dir), cfg, sections,
                                                     missing_view)
        # As prepare: from every train study the layout gave, before any image is read.
        vocab = Vocabulary.build((s for st in splits["train"] for s in st.sentences),
                                 min_count=min_count)
        settings = dict(settings, dataset=self.DATASET, layout=layout,
                        image_size=cfg.image_size, vocab_min_count=min_count,
                        schema_version=records.SCHEMA_VERSION,
                        tfds={"name": self.name, "config": cfg.name, "version": str(self.version)})
        self._plan = Plan(layout, splits, drops, vocab, settings)
        generate = self._generate_beam if cfg.beam else self._generate_examples
        return {name: generate(items) for name, items in splits.items() if items}

    def _generate_examples(self, studies: List[Study]
                           ) -> Iterator[Tuple[str, Dict[str, np.ndarray]]]:
        plan = self._plan
        for study in studies:
            yield from encode(study, plan.vocab, self.config.image_size, plan.drops, plan.failed)

    def _generate_beam(self, studies: List[Study]) -> Any:
        """A Beam transform: the launcher lists the studies, the workers encode them."""
        beam = tfds.core.lazy_imports.apache_beam
        return beam.Create(studies) | beam.FlatMap(
            functools.partial(encode, vocab=self._plan.vocab, image_size=self.config.image_size))

    def _download_and_prepare(self, dl_manager: tfds.download.DownloadManager,
                              download_config: tfds.download.DownloadConfig) -> None:
        super()._download_and_prepare(dl_manager, download_config)
        # Still inside TFDS's incomplete folder: these files appear with the shards, atomically.
        write_prepared(self.data_dir, self._plan, self.info)


def written_ids(files: List[str]) -> Set[str]:
    """The study ids the records in ``files`` hold (one pass over the shards)."""
    if not files:
        return set()
    spec = {"id": records.FEATURES["id"]}
    ds = tf.data.TFRecordDataset(files).batch(1024).map(
        lambda r: tf.io.parse_example(r, spec)["id"])
    return {i.decode() for batch in ds.as_numpy_iterator() for i in batch}


def write_prepared(folder: str, plan: Plan, info: tfds.core.DatasetInfo) -> dict:
    """Writes beside TFDS's shards in ``folder`` what ``build.write_dataset`` writes beside
    its own, and returns the summary. The study lists hold what the shards hold (their ids
    are read back), so a study whose images failed, here or on a Beam worker, is in none."""
    if info.file_format != tfds.core.file_adapters.FileFormat.TFRECORD:
        raise ValueError(f"{folder}: the {info.name} shards are {info.file_format.value}; "
                         "tfreport reads TFRecord shards (build without file_format)")
    shards = {s: sorted(info.splits[s].filenames) for s in info.splits}
    kept: Dict[str, List[Study]] = {}
    for split, studies in plan.splits.items():
        held = written_ids([os.path.join(folder, n) for n in shards.get(split, [])])
        kept[split] = [s for s in studies if s.id in held]
        for s in studies:
            if s.id not in held and s.id not in plan.failed:
                plan.drops.drop("not_encoded", f"study {s.id}: not in the {split} shards (its "
                                "images failed on a Beam worker, whose log names the problem, "
                                "or max_examples_per_split left it out)", s.id, s.frontal or "")
    write_skipped(os.path.join(folder, SKIPPED), plan.drops.skipped)
    plan.vocab.save(os.path.join(folder, "vocabulary.json"))
    write_json(os.path.join(folder, "data_entry.json"),
               {s.id: s.sentences for st in kept.values() for s in st})
    for split, studies in kept.items():
        write_json(os.path.join(folder, f"{split}_split.json"), [s.id for s in studies])
    write_json(os.path.join(folder, STUDIES), studies_record(kept))
    summary = {  # the keys and meaning of build.write_dataset's summary
        "schema_version": records.SCHEMA_VERSION,
        "dataset": plan.settings["dataset"],
        "layout": plan.layout,
        "counts": {k: len(v) for k, v in kept.items()},
        "normal": {k: sum(s.normal == NORMAL for s in v) for k, v in kept.items()},
        "abnormal": {k: sum(s.normal == ABNORMAL for s in v) for k, v in kept.items()},
        "source": dict(plan.drops.source),
        "dropped": plan.drops.as_dict(),
        "skipped_log": SKIPPED,
        "shards": {k: shards.get(k, []) for k in kept},
        "vocabulary_size": len(plan.vocab),
        "max_sentences": MAX_SENTENCES,
        "max_words": MAX_WORDS,
        "settings": plan.settings,
    }
    write_json(os.path.join(folder, "summary.json"), summary)
    return summary
