"""SCST's parts: every reward against known values (pycocoevalcap's own per-report scores,
clinical_efficacy's example F1, hand counts), the baselines, and the policy-gradient sign."""
import math

import numpy as np
import pytest

from tfreport.rl import rewards, scst

REFS = ["the heart is normal in size. the lungs are clear. no pleural effusion or pneumothorax.",
        "the heart is enlarged. small left pleural effusion. no pneumothorax.",
        "no acute cardiopulmonary abnormality. the lungs are clear.",
        "right lower lobe consolidation. no pleural effusion. heart size is normal.",
        "the cardiomediastinal silhouette is within normal limits. no focal consolidation."]
PREDS = ["the heart is normal in size. the lungs are clear.",
         "the heart is enlarged. no pleural effusion. no pneumothorax.",
         "no acute cardiopulmonary abnormality.",
         "the lungs are clear. no pleural effusion.",
         "the heart is normal. no focal consolidation. no pneumothorax. no effusion."]


def test_cider_d_is_pycocoevalcaps_with_the_same_document_frequencies():
    from pycocoevalcap.cider.cider import Cider
    from tfreport.metrics.nlg import normalise
    ids = [str(i) for i in range(len(REFS))]
    _, want = Cider().compute_score({i: [normalise(r)] for i, r in zip(ids, REFS)},
                                    {i: [normalise(p)] for i, p in zip(ids, PREDS)})
    cider = rewards.CiderD(REFS)  # the corpus is the scored references, as in coco-caption
    np.testing.assert_allclose(cider(PREDS, REFS), want, rtol=1e-5)
    # with the training corpus the weights change: an n-gram every document has weighs 0
    corpus = ["the lungs are clear."] * 4
    only_common = rewards.CiderD(corpus)
    assert only_common.score("the lungs are clear.", "the lungs are clear.") == 0.0
    # a two-word report has no 3- or 4-grams: two of the four orders match fully, 10 x 2 / 4
    assert only_common.score("heart enlarged.", "heart enlarged.") == pytest.approx(5.0)
    # a longer candidate is penalised by the Gaussian on the length difference (sigma 6)
    longer = only_common.score("heart enlarged " + "x " * 6, "heart enlarged.")
    assert longer < only_common.score("heart enlarged.", "heart enlarged.")


def test_sentence_bleu4_is_pycocoevalcaps_per_report_score():
    import contextlib
    import io
    from pycocoevalcap.bleu.bleu import Bleu
    from tfreport.metrics.nlg import normalise
    ids = [str(i) for i in range(len(REFS))]
    with contextlib.redirect_stdout(io.StringIO()):
        _, per = Bleu(4).compute_score({i: [normalise(r)] for i, r in zip(ids, REFS)},
                                       {i: [normalise(p)] for i, p in zip(ids, PREDS)})
    np.testing.assert_allclose(rewards.bleu4(PREDS, REFS), per[3], rtol=1e-5)
    assert rewards.sentence_bleu4(REFS[0], REFS[0]) == pytest.approx(1.0)
    assert rewards.sentence_bleu4("pneumothorax", REFS[0]) == pytest.approx(0.0, abs=1e-6)
    # by hand: 4 words of an 8-word reference, all matching: precisions 1, brevity e^(1-2)
    assert rewards.sentence_bleu4("a b c d", "a b c d e f g h") == pytest.approx(math.exp(-1), rel=1e-6)


def test_clinical_f1_is_the_example_f1():
    from tfreport import labeler
    from tfreport.metrics.clinical import MIURA_5, clinical_efficacy
    ce = rewards.ClinicalF1()
    got = ce(PREDS, REFS)
    ids = [str(i) for i in range(len(REFS))]
    want = clinical_efficacy(labeler.label_reports(dict(zip(ids, PREDS))),
                             labeler.label_reports(dict(zip(ids, REFS))))["example"]["f1"]
    assert float(got.mean()) == pytest.approx(want)
    # by hand: {Cardiomegaly, Pleural Effusion} against {Cardiomegaly}: F1 = 2 x 1 / (2 + 1)
    one = ce(["the heart is enlarged. small left pleural effusion."], ["the heart is enlarged."])
    assert one[0] == pytest.approx(2 / 3)
    five = rewards.ClinicalF1(MIURA_5)
    # no positive finding of the five on either side: they agree, reward 1
    assert five(["no acute disease."], ["the lungs are clear."])[0] == 1.0
    assert five(["no acute disease."], ["right lower lobe consolidation."])[0] == 0.0


def test_reward_spec_and_weighting():
    assert rewards.parse_spec("cider:1,ce:0.5") == {"cider": 1.0, "ce": 0.5}
    assert rewards.parse_spec("bleu4") == {"bleu4": 1.0}
    for bad, msg in (("rouge:1", "unknown reward 'rouge'"), ("cider:x", "needs a number"),
                     ("cider:-1", ">= 0"), ("ce:1,ce:2", "given twice"), ("", "at least one"),
                     ("cider:0", "at least one")):
        with pytest.raises(ValueError, match=msg):
            rewards.parse_spec(bad)
    reward = rewards.Reward({"cider": 1.0, "ce": 0.5}, corpus=REFS)
    total, parts = reward(PREDS, REFS)
    np.testing.assert_allclose(total, parts["cider"] + 0.5 * parts["ce"], rtol=1e-6)
    with pytest.raises(ValueError, match="needs the training references"):
        rewards.Reward({"cider": 1.0})
    with pytest.raises(ValueError, match="2 samples for 1 references"):
        reward(PREDS[:2], REFS[:1])


def test_baselines():
    r = np.array([[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(scst.advantages(r, "mean"),
                               [[0.0, -1.5, 1.5], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(scst.advantages(r, "greedy", np.array([1.0, 0.0])),
                               [[0.0, -1.0, 1.0], [0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match="at least 2 samples"):
        scst.advantages(r[:, :1], "mean")
    with pytest.raises(ValueError, match="needs the greedy"):
        scst.advantages(r, "greedy")
    with pytest.raises(ValueError, match="unknown baseline"):
        scst.advantages(r, "best")


def test_the_policy_gradient_raises_the_rewarded_token():
    """A one-step policy over 6 tokens; token 4 earns reward 1, the rest 0. SCST steps with
    either baseline raise p(4) and lower every other token's probability (512 samples a step
    keep the estimate's noise below the drift)."""
    import tensorflow as tf
    for baseline in ("mean", "greedy"):
        logits = tf.Variable(np.zeros((1, 6), np.float32))
        rng = np.random.default_rng(0)
        start = tf.nn.softmax(logits).numpy()[0]
        for _ in range(40):
            p = tf.nn.softmax(logits).numpy()[0]
            samples = rng.choice(6, size=(1, 512), p=p)  # 512 samples of one study
            r = (samples == 4).astype(np.float32)
            greedy = np.array([float(np.argmax(p) == 4)])
            adv = scst.advantages(r, baseline, greedy).reshape(-1)
            tokens = samples.reshape(-1, 1)
            with tf.GradientTape() as tape:
                step_logits = tf.repeat(logits[:, None, :], 512, axis=0)  # [512, 1, 6]
                loss = scst.policy_loss(step_logits, tokens, adv)
            logits.assign_sub(2.0 * tape.gradient(loss, logits))
        end = tf.nn.softmax(logits).numpy()[0]
        assert end[4] > 0.6 > start[4], (baseline, end)
        assert all(end[j] < start[j] for j in range(6) if j != 4), (baseline, end)


def test_policy_loss_ignores_pad_and_weighs_by_advantage():
    from tfreport.vocab import PAD_ID
    logits = np.random.default_rng(1).normal(size=(2, 3, 5)).astype("float32")
    tokens = np.array([[3, 4, PAD_ID], [0, 1, 3]])
    logp = scst.token_log_probs(logits, tokens).numpy()
    assert logp[0, 2] == 0.0
    ls = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert logp[1, 2] == pytest.approx(ls[1, 2, 3], rel=1e-5)
    loss = float(scst.policy_loss(logits, tokens, np.array([2.0, -1.0])))
    assert loss == pytest.approx(-(2 * logp[0].sum() - logp[1].sum()) / 5, rel=1e-5)
    assert float(scst.entropy(logits, tokens)) > 0


def test_scst_steps_raise_the_greedy_reports_reward(tiny_data, tiny_vocab):
    """A CNN-RNN trained by NLL on one batch, then 60 SCST steps on BLEU-4 (4 samples a
    study, greedy baseline): the greedy report, what the model writes at test time, scores
    higher against the references than before.

    On this toy the reward rises in a jump, when a sample finds a better phrasing, and
    whether that happens within 60 steps depends on the draws (mean baseline, or 3e-4, or
    other keys: some keys rise by .4, others by .01). So two sampling keys run, and at
    least one must rise by .1 and neither may fall: a sign error fails both."""
    import keras
    from model_helpers import overfit, tiny_batch, tiny_model
    from tfreport.decoding import VISUAL_KEYS
    from tfreport.evaluation import references
    from tfreport.rl.step import SCSTStep
    train_refs = references(tiny_data, "train")
    reward = rewards.Reward({"bleu4": 1.0}, corpus=list(train_refs.values()))
    gains = []
    for key in (0, 2):
        keras.utils.set_random_seed(0)
        model = tiny_model("cnn_rnn", len(tiny_vocab)).build_all()
        batch = tiny_batch(tiny_data, model, n=8)
        overfit(model, batch, steps=300)
        refs = [train_refs[i.decode()] for i in batch["id"].numpy()]
        step = SCSTStep(model, tiny_vocab, keras.optimizers.Adam(5e-4), reward, samples=4,
                        baseline="greedy", seed=key)
        visual = {k: batch[k] for k in VISUAL_KEYS if k in batch}

        def greedy_reward():
            return float(reward(step.texts(step.greedy(visual)), refs)[0].mean())

        before = greedy_reward()
        for i in range(60):
            out = step(batch, [refs], step=i)
        gains.append(greedy_reward() - before)
    assert max(gains) > 0.1 and min(gains) > -0.02, gains
    assert set(out) >= {"reward", "reward/bleu4", "baseline", "loss", "entropy", "samples"}
    assert out["entropy"] > 0 and len(out["samples"]) == 3
    # the flat models only, and a baseline that can be computed
    with pytest.raises(ValueError, match="hierarchical"):
        SCSTStep(tiny_model("mrna", len(tiny_vocab)), tiny_vocab, None, reward)
    with pytest.raises(ValueError, match="needs --scst_samples 2"):
        SCSTStep(model, tiny_vocab, None, reward, samples=1)


def test_beam_samples_are_each_studys_best_beams(tiny_data, tiny_vocab):
    """--scst_sampling beam: a study's k samples are its k best beams, best first, so the
    first is the beam-k report; the beams differ, and an update runs on them."""
    import keras
    import numpy as np
    from model_helpers import overfit, tiny_batch, tiny_model
    from tfreport.decoding import VISUAL_KEYS, decode_flat
    from tfreport.evaluation import references
    from tfreport.rl.step import SCSTStep
    keras.utils.set_random_seed(0)
    model = tiny_model("cnn_rnn", len(tiny_vocab)).build_all()
    batch = tiny_batch(tiny_data, model, n=4)
    overfit(model, batch, steps=60)
    train_refs = references(tiny_data, "train")
    refs = [train_refs[i.decode()] for i in batch["id"].numpy()]
    step = SCSTStep(model, tiny_vocab, keras.optimizers.Adam(1e-4),
                    rewards.Reward({"bleu4": 1.0}, corpus=list(train_refs.values())),
                    samples=3, sampling="beam")
    visual = {k: batch[k] for k in VISUAL_KEYS if k in batch}
    ids = step.local(step._sample(visual, step.key(0))[0])[0]
    assert ids.shape[0] == 4 * 3
    np.testing.assert_array_equal(ids[::3], decode_flat(model, visual, 3).numpy())
    for study in range(4):
        beams = {tuple(row) for row in ids[study * 3:(study + 1) * 3]}
        assert len(beams) == 3
    out = step(batch, [refs], step=0)
    assert np.isfinite(out["loss"]) and len(out["samples"]) == 3
    with pytest.raises(ValueError, match="unknown --scst_sampling"):
        SCSTStep(model, tiny_vocab, None, step.reward, sampling="top")
