"""CE-macro-F1 over supported observations, its seed mean and the sighted - blind gap."""
import pytest

from tfreport.metrics import grounding

OBS = ("Cardiomegaly", "Pleural Effusion")


def test_positives_keeps_only_ones():
    labels = {"a": {"Cardiomegaly": 1, "Edema": -1, "Pleural Effusion": 0, "Mass": None}}
    assert grounding.positives(labels) == {"a": ["Cardiomegaly"]}


def test_supported_counts_reference_positives():
    ref = {str(i): (["Cardiomegaly"] if i < 3 else []) + (["Edema"] if i < 1 else [])
           for i in range(5)}
    assert grounding.supported(ref, ("Edema", "Cardiomegaly", "Mass"), min_positives=3) == [
        "Cardiomegaly"]
    assert grounding.supported(ref, ("Edema", "Cardiomegaly"), min_positives=1) == [
        "Edema", "Cardiomegaly"]


def test_macro_f1_known_value():
    ref = {"a": ["Cardiomegaly"], "b": ["Cardiomegaly", "Pleural Effusion"], "c": []}
    pred = {"a": ["Cardiomegaly"], "b": [], "c": ["Pleural Effusion"]}
    # Cardiomegaly: tp 1, fn 1 -> F1 2/3; Pleural Effusion: fp 1, fn 1 -> F1 0.
    assert grounding.macro_f1(pred, ref, OBS) == pytest.approx(1 / 3)
    # An observation nobody states and nobody has scores 0, not 1.
    assert grounding.macro_f1(ref, ref, OBS + ("Edema",)) == pytest.approx(2 / 3)


def test_missing_prediction_is_an_error():
    with pytest.raises(KeyError, match="'b'"):
        grounding.macro_f1({"a": []}, {"a": [], "b": []}, OBS)


def _data(n=40):
    ref = {f"s{i}": [OBS[i % 2]] if i % 3 else [] for i in range(n)}
    perfect = dict(ref)
    empty = {k: [] for k in ref}
    half = {k: (v if int(k[1:]) % 5 < 3 else []) for k, v in ref.items()}  # some misses
    return ref, perfect, empty, half


def test_seed_mean_and_interval():
    ref, perfect, empty, half = _data()
    out = grounding.seed_mean([perfect, perfect, perfect], ref, OBS, resamples=200)
    assert out["mean"] == 1.0 and out["sd"] == 0.0 and out["ci"] == [1.0, 1.0]
    mixed = grounding.seed_mean([perfect, half], ref, OBS, resamples=200)
    assert mixed["per_seed"][0] == 1.0 and mixed["per_seed"][1] < 1.0
    assert mixed["mean"] == pytest.approx(sum(mixed["per_seed"]) / 2)
    assert mixed["sd"] > 0
    low, high = mixed["ci"]
    assert low < mixed["mean"] < high < 1.0
    assert grounding.seed_mean([half], ref, OBS, resamples=10)["sd"] is None


def test_gap_is_paired():
    ref, perfect, empty, half = _data()
    g = grounding.gap([perfect], [empty], ref, OBS, resamples=200)
    assert g["gap"] == 1.0 and g["ci"] == [1.0, 1.0]
    same = grounding.gap([half], [half], ref, OBS, resamples=200)
    assert same["gap"] == 0.0 and same["ci"] == [0.0, 0.0]  # paired draws cancel exactly
    g2 = grounding.gap([perfect, half], [empty], ref, OBS, resamples=200)
    assert g2["ci"][0] < g2["gap"] < g2["ci"][1]


def test_gap_p_value_known_values():
    ref, perfect, empty, half = _data()
    assert grounding.gap([perfect], [empty], ref, OBS, resamples=199)["p"] == pytest.approx(2 / 200)
    assert grounding.gap([half], [half], ref, OBS, resamples=199)["p"] == 1.0


def test_the_benchmark_marks_rows_tied_with_the_best():
    """The best sighted row by CE-macro-F1 is marked best; a row whose paired difference
    from it holds 0 is tied; a clearly worse row is not; blind rows and the floor are not
    compared."""
    from tfreport.experiments import benchmark as b
    from tfreport.experiments.benchmark_report import _vs_best
    ref, perfect, empty, half = _data()
    near = dict(perfect)
    near[next(k for k in sorted(ref) if ref[k])] = []  # one study's findings missed
    raw = {"a": [{"positives": perfect}], "b": [{"positives": near}],
           "c": [{"positives": empty}], "a-blind": [{"positives": empty}]}
    rows = [{"key": k, "label": k, "model": "m",
             "config": {"model_config": {"image_blind": k.endswith("blind")}},
             "grounding": grounding.seed_mean([r["positives"] for r in raw[k]], ref, OBS, 50)}
            for k in ("a", "b", "c", "a-blind")]
    b._against_the_best(rows, raw, ref, OBS)
    by = {r["key"]: r.get("grounding_vs_best") for r in rows}
    assert by["a"] == {"best": "a", "is_best": True} and _vs_best(by["a"]) == "best"
    assert by["b"]["tied"] and by["b"]["gap"] < 0 and _vs_best(by["b"]).startswith("tied: -0.")
    assert not by["c"]["tied"] and by["c"]["gap"] == -1.0 and by["c"]["p"] < 0.05
    assert _vs_best(by["c"]).startswith("-1.000 [-1.000, -1.000] p ")
    assert by["a-blind"] is None
