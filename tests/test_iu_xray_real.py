"""Real IU X-Ray report files from ../shared/data (images replaced by placeholders)."""
import os

import pytest

from tfreport.data.faithfulness import compare_data_entries, placeholder_images
from tfreport.data.prepare import prepare

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
pytestmark = pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "iu_xray")),
                                reason="real IU X-Ray report files not available")


@pytest.fixture(scope="module")
def real_build(tmp_path_factory):
    raw = tmp_path_factory.mktemp("iu") / "raw"
    raw.mkdir()
    for name in ("indiana_reports.csv", "indiana_projections.csv"):
        os.symlink(os.path.join(SHARED, "iu_xray", name), raw / name)
    placeholder_images(str(raw / "indiana_projections.csv"), str(raw / "images"))
    out = str(tmp_path_factory.mktemp("iu") / "out")
    summary = prepare("iu_xray", out, str(raw), split="legacy",
                      legacy_splits=os.path.join(SHARED, "iu_xray_legacy"), quiet=True)
    return out, summary


def test_kaggle_counts(real_build):
    _, s = real_build
    assert s["source"] == {"reports": 3851, "with_both_views": 3388}
    assert s["counts"]["test"] == 300
    for split in ("train", "val", "test"):
        assert s["normal"][split] + s["abnormal"][split] <= s["counts"][split]


def test_sentences_match_the_legacy_data_entry(real_build):
    out, _ = real_build
    r = compare_data_entries(os.path.join(out, "data_entry.json"),
                             os.path.join(SHARED, "iu_xray_legacy", "data_entry.json"))
    assert r["studies_in_both"] > 3000
    assert r["share"] >= 0.95, r
