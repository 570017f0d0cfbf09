import os

import pytest

from tfreport import labeler
from tfreport.labels import CHEXPERT_OBSERVATIONS


def lab(text):
    return labeler.label_report(text)


@pytest.mark.parametrize("text,obs,value", [
    ("There is a small left pleural effusion.", "Pleural Effusion", 1),
    ("No pleural effusion.", "Pleural Effusion", 0),
    ("No pneumothorax or pleural effusion.", "Pleural Effusion", 0),
    ("Pleural effusion is not seen.", "Pleural Effusion", 0),
    ("Opacity may represent atelectasis.", "Atelectasis", -1),
    ("Possible right lower lobe pneumonia.", "Pneumonia", -1),
    ("Pneumonia cannot be excluded.", "Pneumonia", -1),
    ("Cardiomegaly.", "Cardiomegaly", 1),
    ("The heart is enlarged.", "Cardiomegaly", 1),
    ("Heart size is normal.", "Cardiomegaly", 0),
    ("Mild cardiomegaly without pleural effusion.", "Cardiomegaly", 1),
    ("Mild cardiomegaly without pleural effusion.", "Pleural Effusion", 0),
    ("Small pericardial effusion.", "Pleural Effusion", None),
    ("Left chest wall pacemaker.", "Support Devices", 1),
    ("Healed left rib fracture.", "Fracture", 1),
    ("The lungs are clear.", "Consolidation", 0),
    ("Right upper lobe nodule.", "Lung Lesion", 1),
    ("No focal consolidation, but there is a right pneumothorax.", "Pneumothorax", 1),
    ("No focal consolidation, but there is a right pneumothorax.", "Consolidation", 0),
])
def test_mentions_negation_uncertainty(text, obs, value):
    assert lab(text)[obs] == value


def test_positive_wins_over_uncertain_and_negative():
    assert lab("No effusion on the right. Small left pleural effusion.")["Pleural Effusion"] == 1
    assert lab("No effusion. Possible small effusion.")["Pleural Effusion"] == -1


def test_no_finding():
    assert lab("No acute cardiopulmonary abnormality. Heart size normal.")["No Finding"] == 1
    assert lab("Cardiomegaly.")["No Finding"] is None
    # a device alone is not a pathology
    assert lab("Pacemaker in place. Lungs are clear.")["No Finding"] == 1
    assert set(lab("")) == set(CHEXPERT_OBSERVATIONS)


def test_label_csv_round_trip_and_external_formats(tmp_path):
    labels = labeler.label_reports({"a": "Cardiomegaly.", "b": "No effusion."})
    path = str(tmp_path / "labels.csv")
    labeler.write_label_csv(path, labels)
    assert labeler.read_label_csv(path) == labels
    # MIMIC's chexpert CSV: subject_id, study_id and float values, joined on study_id
    mimic = tmp_path / "mimic.csv"
    cols = ["subject_id", "study_id", *CHEXPERT_OBSERVATIONS]
    row = ["10000032", "50414267"] + ["" for _ in CHEXPERT_OBSERVATIONS]
    row[cols.index("Cardiomegaly")] = "1.0"
    row[cols.index("Edema")] = "-1.0"
    mimic.write_text(",".join(cols) + "\n" + ",".join(row) + "\n")
    got = labeler.read_label_csv(str(mimic))["50414267"]
    assert got["Cardiomegaly"] == 1 and got["Edema"] == -1 and got["Fracture"] is None
    # CheXbert output: a Reports column, no id, joined by row order (lengths must match)
    chexbert = tmp_path / "chexbert.csv"
    cols = ["Reports", *CHEXPERT_OBSERVATIONS]
    chexbert.write_text(",".join(cols) + "\n" + ",".join(["x"] + ["0"] * 14) + "\n")
    assert labeler.read_label_csv(str(chexbert), ["s1"])["s1"]["Fracture"] == 0
    with pytest.raises(ValueError, match="row order"):
        labeler.read_label_csv(str(chexbert), ["s1", "s2"])


def test_bad_label_value_names_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id," + ",".join(CHEXPERT_OBSERVATIONS) + "\na," + ",".join(["2"] * 14) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv:2: column 'No Finding' has '2'"):
        labeler.read_label_csv(str(path))


IU_REPORTS = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "iu_xray",
                          "indiana_reports.csv")


@pytest.mark.skipif(not os.path.exists(IU_REPORTS), reason="real IU X-Ray reports not available")
def test_agreement_with_mesh_on_real_iu_reports():
    from tfreport.metrics.mesh_agreement import FREQUENT, agreement
    result = agreement(IU_REPORTS)
    assert result["_reports"]["count"] == 3851 - 92  # MeSH 'No Indexing' left out
    for obs in FREQUENT:
        assert result[obs]["f1"] >= 0.8, (obs, result[obs])
    assert result["No Finding"]["recall"] > 0.95
