"""The TFDS builders make prepare_data.py's data: the same records (schema_version, token
ids, labels, normal flag) and the same prepared folder beside TFDS's shards, so a model
trains on a builder's version folder as on prepare's OUT."""
import csv
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import tfreport.data.tfds_iu_xray  # noqa: F401  (registers iu_xray)
import tfreport.data.tfds_mimic_cxr  # noqa: F401  (registers mimic_cxr_reports)
from tfreport.data import records
from tfreport.data.prepare import prepare
from tfreport.data.prepared import PreparedDataset
from tfreport.data.tfds_records import RecordConfig
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.text import cap_sentences
from tfreport.vocab import END_ID, Vocabulary

MIMIC_CONFIG = RecordConfig(name="tiny", image_size=64, vocab_min_count=1)


@pytest.fixture(scope="module")
def iu(tiny_raw, tmp_path_factory):
    """(TFDS version folder, prepare_data.py's OUT) for the same IU X-Ray raw layout; the
    TFDS side is built by build_tfds.py."""
    from tfreport.commands.build_tfds import main
    root = tmp_path_factory.mktemp("iu_tfds")
    main(["--dataset", "iu_xray", "--manual_dir", tiny_raw, "--data_dir", str(root / "tfds")])
    built = str(root / "tfds" / "iu_xray" / "2.0.0")
    prepared = str(root / "prepared")
    prepare("iu_xray", prepared, tiny_raw, quiet=True)
    return built, prepared


@pytest.fixture(scope="module")
def mimic_raw(tmp_path_factory):
    """test_mimic_cxr's synthetic MIMIC-CXR-JPG tree, with study 59999903's frontal JPG
    corrupt: a study the layout gives but whose images fail when encoded."""
    from test_mimic_cxr import dicom, write_tree
    raw = write_tree(str(tmp_path_factory.mktemp("mimic") / "mimic-cxr-jpg"))
    with open(os.path.join(raw, "files", "p19", "p19999903", "s59999903",
                           dicom("a3") + ".jpg"), "wb") as f:
        f.write(b"not a jpeg")
    return raw


@pytest.fixture(scope="module")
def mimic(mimic_raw, tmp_path_factory):
    """(TFDS version folder, prepare_data.py's OUT) for the same MIMIC-CXR-JPG tree, with the
    same settings (64 px, every word in the vocabulary)."""
    root = tmp_path_factory.mktemp("mimic_tfds")
    builder = tfds.builder("mimic_cxr_reports", config=MIMIC_CONFIG, data_dir=str(root / "tfds"))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=mimic_raw))
    prepared = str(root / "prepared")
    prepare("mimic_cxr", prepared, mimic_raw, image_size=64, vocab_min_count=1, quiet=True)
    return builder.data_dir, prepared


@pytest.fixture(params=["iu", "mimic"])
def both(request):
    return request.param, request.getfixturevalue(request.param)


def read_records(data_dir):
    """{split: {id: tf.train.Example}} from the shards summary.json lists."""
    data = PreparedDataset(data_dir)
    out = {}
    for split in ("train", "val", "test"):
        out[split] = {}
        for path in data.files(split):
            for raw in tf.data.TFRecordDataset(path).as_numpy_iterator():
                ex = tf.train.Example.FromString(raw)
                out[split][ex.features.feature["id"].bytes_list.value[0].decode()] = ex
    return out


def values(ex, name):
    f = ex.features.feature[name]
    return list(getattr(f, f.WhichOneof("kind")).value)


def test_records_carry_schema_token_ids_labels_and_normal_flag(both, tiny_raw):
    name, (built, _) = both
    data = PreparedDataset(built)
    vocab = data.vocabulary
    assert data.summary["schema_version"] == records.SCHEMA_VERSION
    assert data.summary["dataset"] == {"iu": "iu_xray", "mimic": "mimic_cxr"}[name]
    by_split = read_records(built)
    assert {k: len(v) for k, v in by_split.items()} == data.summary["counts"]
    studies = data.studies
    for split, recs in by_split.items():
        assert sorted(recs) == sorted(data.ids(split))
        for sid, ex in recs.items():
            assert values(ex, "schema_version") == [records.SCHEMA_VERSION]
            sentences = [s.decode() for s in values(ex, "sentences")]
            assert sentences == data.entry[sid]
            # token ids: each capped sentence's words (or <unk>), then </S>; a report of
            # under 8 sentences ends with an empty one (the legacy stop rule)
            ids, lengths = values(ex, "token_ids"), values(ex, "sentence_lengths")
            assert sum(lengths) == len(ids)
            capped = cap_sentences(sentences, 8, 50)
            capped += [[]] if len(capped) < 8 else []
            assert len(lengths) == len(capped)
            start = 0
            for words, n in zip(capped, lengths):
                row = ids[start:start + n]
                start += n
                assert row[-1] == END_ID
                assert [vocab.tokens[i] for i in row[:-1]] == \
                    [w if w in vocab.index else "<unk>" for w in words]
            assert values(ex, "normal") == [studies[sid]["normal"]]
            labels = values(ex, "labels")
            assert len(labels) == len(CHEXPERT_OBSERVATIONS) == 14
            assert {o: v for o, v in zip(CHEXPERT_OBSERVATIONS, labels)
                    if not math.isnan(v)} == studies[sid]["labels"]
    every = {sid: ex for recs in by_split.values() for sid, ex in recs.items()}
    obs = list(CHEXPERT_OBSERVATIONS)
    if name == "iu":  # the raw labels.csv travels into the records
        with open(os.path.join(tiny_raw, "labels.csv")) as f:
            raw = {"CXR" + r["uid"]: r for r in csv.DictReader(f)}
        assert sum(bool(s["labels"]) for s in studies.values()) == len(every)
        for sid, ex in every.items():
            for o, v in zip(obs, values(ex, "labels")):
                assert (math.isnan(v) and not raw[sid][o]) or v == float(raw[sid][o])
    else:  # the CheXpert table travels into the records; No Finding == 1 is normal
        labels = {sid: values(ex, "labels") for sid, ex in every.items()}
        assert labels["s59999901"][obs.index("No Finding")] == 1
        assert labels["s59999902"][obs.index("Cardiomegaly")] == -1
        assert math.isnan(labels["s59999902"][obs.index("Edema")])
        assert values(every["s59999901"], "normal") == [1]
        assert values(every["s59999902"], "normal") == [0]
        assert values(every["s59999905"], "normal") == [-1]  # no labels row
        assert values(every["s59999902"], "lateral_present") == [0]
        assert values(every["s59999902"], "lateral") == [b""]


def test_same_studies_records_and_files_as_prepare_data(both):
    """Per split the same ids; per study the very record prepare writes (byte for byte);
    the same vocabulary, references, flags, labels and summary."""
    _, (built, prepared) = both
    ours, theirs = read_records(built), read_records(prepared)
    for split in ours:
        assert sorted(ours[split]) == sorted(theirs[split]), split
        for sid, ex in ours[split].items():
            assert ex.SerializeToString(deterministic=True) == \
                theirs[split][sid].SerializeToString(deterministic=True), sid
    a, b = PreparedDataset(built), PreparedDataset(prepared)
    assert a.vocabulary.tokens == b.vocabulary.tokens
    assert a.entry == b.entry and a.studies == b.studies
    for split in ("train", "val", "test"):
        assert a.ids(split) == b.ids(split)  # in the same order, too
    sa, sb = json.loads(json.dumps(a.summary)), dict(b.summary)
    assert sa.pop("shards").keys() == sb.pop("shards").keys()
    assert sa["settings"].pop("tfds")["version"] == "2.0.0"
    assert sa == sb
    with open(os.path.join(built, "skipped.csv")) as f1, \
            open(os.path.join(prepared, "skipped.csv")) as f2:
        assert f1.read() == f2.read()


def test_a_small_model_trains_on_the_builder_output(both):
    """What train.py does with --data_dir: check the splits, read the vocabulary, take
    training batches from pipeline.dataset, and step a small model; the loss is finite."""
    from model_helpers import overfit, tiny_model
    from tfreport.data import pipeline
    from tfreport.data.shard_check import check_split
    _, (built, _) = both
    for split in ("train", "val", "test"):
        assert check_split(built, split)
    vocab = Vocabulary.load(os.path.join(built, "vocabulary.json"))
    model = tiny_model("mrna", len(vocab), report_memory=False)
    c = model.config
    ds = pipeline.dataset(built, "train", batch_size=2, image_size=c.image_size,
                          max_sentences=c.max_sentences, max_words=c.max_words, training=True,
                          seed=0)
    batch = next(iter(ds))
    assert batch["report"].shape == (2, c.max_sentences, c.max_words)
    assert np.any(batch["frontal"].numpy() > 0)
    first, last = overfit(model, batch, steps=2)
    assert np.isfinite(first) and np.isfinite(last)


def test_wrong_schema_version_is_rejected_with_the_file_named(iu, tmp_path):
    from tfreport.data.shard_check import check_split
    built = str(tmp_path / "built")
    shutil.copytree(iu[0], built)
    summary_path = os.path.join(built, "summary.json")
    summary = json.load(open(summary_path))
    json.dump(dict(summary, schema_version=99), open(summary_path, "w"))
    with pytest.raises(records.SchemaError,
                       match=r"summary.json: schema_version 99 is not supported.*build_tfds"):
        PreparedDataset(built)
    json.dump(summary, open(summary_path, "w"))
    shard = os.path.join(built, summary["shards"]["train"][0])
    old = [tf.train.Example.FromString(r)
           for r in tf.data.TFRecordDataset(shard).as_numpy_iterator()]
    with tf.io.TFRecordWriter(shard) as w:
        for ex in old:
            ex.features.feature["schema_version"].int64_list.value[:] = [2]
            w.write(ex.SerializeToString())
    with pytest.raises(records.SchemaError, match=f"{shard}: schema_version 2 is not supported"):
        check_split(built, "train")


def test_tfds_load_gives_the_record_fields(iu, tiny_raw):
    """tfds.load still works on the same data_dir and gives the record's fields; the
    images are the stored JPEG bytes."""
    data_dir = os.path.dirname(os.path.dirname(iu[0]))
    ds, info = tfds.load("iu_xray", split="train", data_dir=data_dir, with_info=True)
    assert str(info.version) == "2.0.0" and "2.0.0" in info.release_notes
    assert sum(info.splits[s].num_examples for s in info.splits) == 64
    assert set(info.features.keys()) == set(records.FEATURES)
    ex = next(iter(ds))
    assert ex["id"].numpy().decode().startswith("CXR")
    assert tf.io.decode_jpeg(ex["frontal"]).shape == (64, 64, 1)
    assert ex["schema_version"] == records.SCHEMA_VERSION and len(ex["token_ids"]) > 0


def test_build_tfds_says_how_to_train(tiny_raw, tmp_path, capsys):
    from tfreport.commands.build_tfds import main
    main(["--dataset", "iu_xray", "--manual_dir", tiny_raw, "--data_dir", str(tmp_path)])
    out = capsys.readouterr().out
    folder = os.path.join(str(tmp_path), "iu_xray", "2.0.0")
    assert f"Train on it: python scripts/train.py --data_dir {folder}" in out


def test_beam_build_writes_the_same_prepared_folder(mimic, mimic_raw, tmp_path):
    """The Beam path (DirectRunner here) gives the same studies, records and summary; the
    study lists come from what the workers wrote."""
    beam = pytest.importorskip("apache_beam", reason="pip install -r requirements-beam.txt")
    config = RecordConfig(name="tiny_beam", image_size=64, vocab_min_count=1, beam=True)
    builder = tfds.builder("mimic_cxr_reports", config=config, data_dir=str(tmp_path))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=mimic_raw, beam_options=beam.options.pipeline_options.PipelineOptions(
            ["--runner=DirectRunner", "--direct_num_workers=1"])))
    a, b = PreparedDataset(builder.data_dir), PreparedDataset(mimic[0])
    assert a.summary["counts"] == b.summary["counts"] == {"train": 5, "val": 1, "test": 1}
    # the corrupt study failed on a worker: left out everywhere, counted, listed
    theirs = dict(b.summary["dropped"])
    assert theirs.pop("unreadable_image") == 1
    assert a.summary["dropped"] == dict(theirs, not_encoded=1)
    with open(os.path.join(builder.data_dir, "skipped.csv")) as f:
        assert "s59999903,not_encoded," in f.read()
    assert a.entry == b.entry and a.studies == b.studies
    ours, theirs = read_records(builder.data_dir), read_records(mimic[0])
    assert {s: sorted(v) for s, v in ours.items()} == {s: sorted(v) for s, v in theirs.items()}
