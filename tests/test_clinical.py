import pytest

from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.metrics.clinical import clinical_efficacy


def L(**kw):
    out = {o: None for o in CHEXPERT_OBSERVATIONS}
    for k, v in kw.items():
        out[k.replace("_", " ")] = v
    return out


def test_recipes_on_a_hand_computed_example():
    ref = {"1": L(Cardiomegaly=1, Edema=1), "2": L(Pneumothorax=1), "3": L()}
    pred = {"1": L(Cardiomegaly=1, Edema=-1), "2": L(Pneumothorax=1, Fracture=1), "3": L()}
    ce = clinical_efficacy(pred, ref, uncertain=0)
    # positives: tp = Cardiomegaly(1) + Pneumothorax(2) = 2; fp = Fracture(2) = 1; fn = Edema(1) = 1
    assert ce["micro"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})
    # macro over 14: Cardiomegaly 1, Pneumothorax 1, Edema 0, Fracture 0, the rest 0
    assert ce["macro"]["f1"] == pytest.approx(2 / 14)
    # Miura's five: Cardiomegaly tp, Edema fn
    assert ce["miura5_micro"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3})
    # example-based: study 1 P=1 R=1/2 F=2/3; study 2 P=1/2 R=1 F=2/3; study 3 both empty -> 1
    assert ce["example"]["f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert ce["per_condition"]["Edema"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # uncertain counted as positive turns Edema into a true positive
    ce1 = clinical_efficacy(pred, ref, uncertain=1)
    assert ce1["micro"]["f1"] == pytest.approx(2 * 0.75 * 1.0 / 1.75)
    assert "positive only" in ce["recipe"] and "uncertain as positive" in ce1["recipe"]


def test_missing_reference_labels():
    with pytest.raises(KeyError):
        clinical_efficacy({"1": L()}, {})
