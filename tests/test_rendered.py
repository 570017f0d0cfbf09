"""The rendered IU X-Ray set: what a report states is what is drawn, and it builds."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from tfreport.data import rendered

REPORTS = [  # uid, MeSH, findings, impression
    ("1", "normal", "The lungs are clear. No pleural effusion. Heart size normal.", "No acute disease."),
    ("2", "Pleural Effusion/right", "Large right pleural effusion. No pneumothorax.", "Right effusion."),
    ("3", "Cardiomegaly", "The heart is enlarged. No effusion.", "Cardiomegaly."),
    ("4", "Nodule", "Possible left lung nodule. No pneumothorax.", "Nodule may represent a nipple shadow."),
]


@pytest.fixture
def source(tmp_path):
    d = tmp_path / "iu_xray"
    d.mkdir()
    with open(d / "indiana_reports.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uid", "MeSH", "Problems", "image", "indication", "comparison", "findings",
                    "impression"])
        for uid, mesh, findings, impression in REPORTS:
            w.writerow([uid, mesh, mesh, "Chest", "", "", findings, impression])
    with open(d / "indiana_projections.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uid", "filename", "projection"])
        for uid, *_ in REPORTS:
            w.writerow([uid, f"{uid}_IM-0001-1001.dcm.png", "Frontal"])
            w.writerow([uid, f"{uid}_IM-0001-2001.dcm.png", "Lateral"])
    return str(tmp_path)


def test_stated_findings_follow_the_labeler_with_attributes():
    rng = np.random.default_rng(0)
    found = rendered.stated_findings("Large right pleural effusion. No pneumothorax.", rng)
    assert [(f.observation, f.side, f.zone) for f in found] == [("Pleural Effusion", "right", "lower")]
    assert found[0].severity >= 0.75
    assert rendered.stated_findings("No pneumothorax. Lungs are clear.", rng) == []
    assert rendered.stated_findings("Possible pneumonia.", rng) == []  # uncertain: not drawn
    both = rendered.stated_findings("Bilateral pleural effusions.", rng)
    assert both[0].side == "both"


def test_render_draws_only_what_each_report_states(source, tmp_path):
    raw = rendered.render(source, str(tmp_path / "raw"), quiet=True)
    drawn = rendered.read_drawn(raw)
    assert sum(drawn["CXR1"].values()) == 0 and sum(drawn["CXR4"].values()) == 0
    assert drawn["CXR2"]["Pleural Effusion"] == 1 and sum(drawn["CXR2"].values()) == 1
    assert drawn["CXR3"]["Cardiomegaly"] == 1 and sum(drawn["CXR3"].values()) == 1
    images = sorted(os.listdir(os.path.join(raw, "images")))
    assert len(images) == 8
    assert Image.open(os.path.join(raw, "images", images[0])).size == (128, 128)
    info = json.load(open(os.path.join(raw, "render_info.json")))
    assert info["studies"] == 4 and info["drawn"]["Pleural Effusion"] == 1
    # the same inputs reuse the render; the images are deterministic
    before = open(os.path.join(raw, "images", images[2]), "rb").read()
    rendered.render(source, raw, quiet=True)
    assert open(os.path.join(raw, "images", images[2]), "rb").read() == before


def test_an_effusion_is_visible_at_the_lung_base(source, tmp_path):
    raw = rendered.render(source, str(tmp_path / "raw"), quiet=True)
    load = lambda uid: np.asarray(Image.open(os.path.join(raw, "images", f"{uid}_IM-0001-1001.dcm.png")),  # noqa: E731
                                  np.float32)
    # the patient's right lung is on the image's left; its base is filled by the effusion
    base = lambda img: img[80:100, 25:55].mean()  # noqa: E731
    assert base(load(2)) > base(load(1)) + 20


def test_bad_source_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="indiana_reports.csv"):
        rendered.render(str(tmp_path), str(tmp_path / "raw"), quiet=True)
