import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfreport.data import pipeline, records
from tfreport.data.build import read_summary
from tfreport.vocab import PAD_ID


def test_prepared_summary_counts(tiny_data):
    s = read_summary(tiny_data)
    assert s["schema_version"] == records.SCHEMA_VERSION
    assert sum(s["counts"].values()) == 64
    for split in ("train", "val", "test"):
        assert s["normal"][split] + s["abnormal"][split] == s["counts"][split]
    assert not os.path.exists(tiny_data + ".partial")
    ids = [json.load(open(os.path.join(tiny_data, f"{k}_split.json"))) for k in ("train", "val", "test")]
    assert sum(map(len, ids)) == len(set().union(*map(set, ids))) == 64


def test_round_trip_preserves_images_text_and_ids(tiny_raw, tiny_data, tiny_vocab):
    entry = json.load(open(os.path.join(tiny_data, "data_entry.json")))
    ds = pipeline.dataset(tiny_data, "train", batch_size=4, image_size=64, max_sentences=8,
                          max_words=50)
    seen = 0
    for batch in ds:
        for i, sid in enumerate(batch["id"].numpy()):
            sid = sid.decode()
            uid = int(sid[3:])
            src = np.asarray(Image.open(os.path.join(tiny_raw, "images",
                                                     f"{uid}_IM-{uid:04d}-1001.dcm.png")), float)
            got = batch["frontal"][i, ..., 0].numpy()
            assert np.abs(got - src).mean() < 3.0  # JPEG, same size: close to the source
            assert tiny_vocab.decode_report(batch["report"][i].numpy()) == entry[sid]
            assert float(batch["lateral_present"][i]) == 1.0
            seen += 1
    assert seen == read_summary(tiny_data)["counts"]["train"]


def test_images_are_stored_encoded(tiny_data):
    path = os.path.join(tiny_data, read_summary(tiny_data)["shards"]["train"][0])
    raw = next(iter(tf.data.TFRecordDataset(path))).numpy()
    ex = tf.train.Example.FromString(raw)
    jpeg = ex.features.feature["frontal"].bytes_list.value[0]
    assert jpeg[:2] == b"\xff\xd8"  # JPEG bytes, never float arrays
    assert Image.open(io.BytesIO(jpeg)).size == (64, 64)


def test_reader_truncates_words_but_keeps_end_token(tiny_data):
    ds = pipeline.dataset(tiny_data, "val", batch_size=2, image_size=32, max_sentences=3,
                          max_words=4)
    report = next(iter(ds))["report"].numpy()
    assert report.shape == (2, 3, 4)
    for row in report.reshape(-1, 4):
        real = row[row != PAD_ID]
        assert len(real) == 0 or real[-1] == 1  # every kept sentence still ends in </S>


def test_unknown_schema_version_is_rejected(tiny_data, tmp_path):
    import shutil
    bad = str(tmp_path / "bad")
    shutil.copytree(tiny_data, bad)
    s = json.load(open(os.path.join(bad, "summary.json")))
    s["schema_version"] = 99
    json.dump(s, open(os.path.join(bad, "summary.json"), "w"))
    with pytest.raises(records.SchemaError, match="schema_version 99"):
        read_summary(bad)


def test_encode_image_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png"):
        records.encode_image(str(bad))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        records.encode_image(str(tmp_path / "missing.png"))
