"""The attention localisation check (issue 17): the demo's finding regions are replayed
exactly, mass and share are right on known maps, and a whole run yields one row per finding."""
import json
import os
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from model_helpers import tiny_model
from tfreport.data import demo
from tfreport.metrics import localisation


def test_regions_replay_the_drawn_study(tiny_raw):
    labels = demo.read_labels(tiny_raw)
    checked = 0
    for sid, truth in list(labels.items())[:12]:
        uid = int(sid.replace("CXR", ""))
        regions, frontal = demo.study_regions(uid, seed=0, image_size=64)
        raw = np.asarray(Image.open(os.path.join(tiny_raw, "images",
                                                 f"{uid}_IM-{uid:04d}-1001.dcm.png")))
        assert np.array_equal(raw, frontal)  # the same random stream, the same image
        assert set(regions) == {f for f, v in truth.items() if v}
        for f, (front, lat) in regions.items():
            assert front.any() or lat.any(), f
            assert front.mean() < 0.5  # a finding is a part of the image, not all of it
        checked += 1
    assert checked == 12


def test_cell_fractions_and_mass_on_known_maps():
    mask = np.zeros((8, 8), bool)
    mask[:4, :4] = True  # the top-left quarter
    frac = localisation.cell_fractions(mask, 2)
    np.testing.assert_allclose(frac, [[1, 0], [0, 0]])
    on = {"frontal": np.array([[1.0, 0], [0, 0]]), "lateral": None}
    assert localisation.sentence_hit(on, mask, mask) == pytest.approx((1.0, 0.25))
    uniform = {"frontal": np.full((2, 2), 0.125), "lateral": np.full((2, 2), 0.125)}
    mass, share = localisation.sentence_hit(uniform, mask, np.zeros((8, 8), bool))
    assert mass == pytest.approx(share) == pytest.approx(0.125)  # uniform = chance: lift 1
    # the ceiling: all mass on the cell the region fills most (here the whole top-left cell)
    assert localisation.best_mass(uniform, mask, np.zeros((8, 8), bool)) == 1.0
    small = np.zeros((8, 8), bool)
    small[:2, :2] = True  # a quarter of one cell: no map over a 2x2 grid can do better
    assert localisation.best_mass(on, small, small) == pytest.approx(0.25)


def test_a_run_gives_a_lift_per_stated_finding(tiny_data, tiny_raw, tiny_vocab, tmp_path):
    """References as predictions (each states its study's findings) through an untrained
    attending model: every drawn finding that is stated gets a row, with an interval."""
    keras.utils.set_random_seed(0)
    model = tiny_model("cnn_rnn_att", len(tiny_vocab))
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    model.save(str(model_dir / "best.keras"))
    shutil.copy(os.path.join(tiny_data, "vocabulary.json"), model_dir / "vocabulary.json")
    c = model.config
    json.dump({"model": "cnn_rnn_att", "data_dir": tiny_data,
               "model_config": {"image_size": c.image_size, "max_sentences": c.max_sentences,
                                "max_words": c.max_words}}, open(model_dir / "config.json", "w"))
    from tfreport.data.prepared import PreparedDataset
    refs = PreparedDataset(tiny_data).references("test")
    json.dump(refs, open(model_dir / "predictions_test.json", "w"))
    out = localisation.localise(str(model_dir), tiny_raw, resamples=50)
    assert out["map_kind"] == "attention"
    rows = out["findings"]
    assert localisation.ALL in rows
    assert rows[localisation.ALL]["sentences"] == sum(
        v["sentences"] for f, v in rows.items() if f != localisation.ALL)
    for v in rows.values():
        assert 0 <= v["mass"] <= 1 and 0 < v["share"] < 1
        assert v["lift_ci"][0] <= v["lift"] <= v["lift_ci"][1] or v["studies"] == 1
        assert v["lift"] <= v["ceiling"] + 1e-9
    assert "| cnn_rnn_att |" in localisation.markdown({"cnn_rnn_att": out})
    # two runs of one model: mean ± sd over them, per finding
    other = json.loads(json.dumps(out))
    other["findings"][localisation.ALL]["lift"] = out["findings"][localisation.ALL]["lift"] + 1.0
    summary = localisation.seed_summary([out, other])
    assert summary[localisation.ALL]["mean"] == pytest.approx(
        out["findings"][localisation.ALL]["lift"] + 0.5)
    assert summary[localisation.ALL]["sd"] == pytest.approx(2 ** -0.5)
    assert summary[localisation.ALL]["seeds"] == 2
    table = localisation.seeds_markdown({"cnn_rnn_att": [out, other]})
    assert f"| cnn_rnn_att | attention | {localisation.ALL} | 2 |" in table

    with pytest.raises(ValueError, match="not drawn with seed 5"):
        localisation.localise(str(model_dir), tiny_raw, seed=5, resamples=10)
