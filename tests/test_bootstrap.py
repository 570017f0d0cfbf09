"""Bootstrap intervals: exact per-report statistics, intervals around the point estimate,
the same intervals for the same seed."""
import random

import numpy as np
import pytest

from tfreport import labeler
from tfreport.metrics import bootstrap as boot
from tfreport.metrics import scoring

REPORTS = ["no acute cardiopulmonary abnormality", "the heart is enlarged",
           "small left pleural effusion", "heart size normal lungs clear",
           "right upper lobe consolidation", "there is a small pneumothorax on the right",
           "no pleural effusion or pneumothorax", "pacemaker in place lungs are clear"]


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(0)
    refs = {f"s{i}": " ".join(rng.sample(REPORTS, 2)) for i in range(40)}
    preds = {k: " ".join(rng.sample(REPORTS, rng.randint(0, 2))) for k in refs}
    normal = {k: i % 3 == 0 for i, k in enumerate(sorted(refs))}
    return preds, refs, normal


def test_statistics_reproduce_every_corpus_figure(corpus):
    preds, refs, _ = corpus
    point = scoring.score(preds, refs)
    pl, rl = labeler.label_reports(preds), labeler.label_reports(refs)
    with boot.open_meteor() as meteor:
        stats = boot.collect(preds, refs, pl, rl, 0, meteor)
        full = boot.corpus(stats, np.arange(len(preds)), meteor)
    assert set(full) >= {"BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr", "CE-F1"}
    for k, v in full.items():
        assert v == pytest.approx(point[k], abs=1e-9), k


def test_intervals_contain_the_estimate_and_repeat_with_the_seed(corpus):
    preds, refs, normal = corpus
    a = scoring.score(preds, refs, normal, bootstrap=60, seed=3)
    b = scoring.score(preds, refs, normal, bootstrap=60, seed=3)
    c = scoring.score(preds, refs, normal, bootstrap=60, seed=4)
    for block in [a] + list(a["groups"].values()):
        for metric, (low, high) in block["ci"].items():
            assert low <= block[metric] <= high, metric
    assert a["ci"] == b["ci"] and a["groups"]["normal"]["ci"] == b["groups"]["normal"]["ci"]
    assert a["ci"] != c["ci"]
    assert a["ci"]["BLEU-4"][1] - a["ci"]["BLEU-4"][0] > 0  # a real spread over 40 studies
