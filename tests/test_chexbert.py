"""CheXbert in Keras: label decoding, the converter from the published checkpoint's layout,
the forward pass against a reference (numpy here; PyTorch's where torch is installed), the
converted folder and the --labeler flags."""
import json
import math
import os

import numpy as np
import pytest

from tfreport import chexbert, labelers
from tfreport import chexbert_checkpoint as cc
from tfreport.labels import CHEXPERT_OBSERVATIONS

from chexbert_helpers import VOCAB
from chexbert_helpers import random_state as _random_state
from chexbert_helpers import tiny_config as _tiny_config
from chexbert_helpers import vocab_file as _vocab_file


# ---------------------------------------------------------------------------------------
# numpy reference: BERT as the paper defines it, written from the equations
# ---------------------------------------------------------------------------------------
def _layer_norm(x, g, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def _gelu(x, exact=True):
    if exact:
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def _reference(state, ids, mask, heads, exact_gelu=True):
    s = {k[len("module."):]: v.astype("float64") for k, v in state.items()}
    length = ids.shape[1]
    x = (s["bert.embeddings.word_embeddings.weight"][ids]
         + s["bert.embeddings.position_embeddings.weight"][:length][None]
         + s["bert.embeddings.token_type_embeddings.weight"][0][None, None])
    x = _layer_norm(x, s["bert.embeddings.LayerNorm.weight"], s["bert.embeddings.LayerNorm.bias"])
    hidden = x.shape[-1]
    d = hidden // heads
    i = 0
    while f"bert.encoder.layer.{i}.attention.self.query.weight" in s:
        p = f"bert.encoder.layer.{i}."
        lin = lambda v, n: v @ s[p + n + ".weight"].T + s[p + n + ".bias"]
        split = lambda v: v.reshape(v.shape[0], length, heads, d).transpose(0, 2, 1, 3)
        q, k, v = (split(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + (1 - mask[:, None, None, :]) * -1e9
        w = np.exp(scores - scores.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        ctx = (w @ v).transpose(0, 2, 1, 3).reshape(x.shape)
        x = _layer_norm(x + lin(ctx, "attention.output.dense"),
                        s[p + "attention.output.LayerNorm.weight"], s[p + "attention.output.LayerNorm.bias"])
        f = _gelu(lin(x, "intermediate.dense"), exact_gelu)
        x = _layer_norm(x + lin(f, "output.dense"), s[p + "output.LayerNorm.weight"],
                        s[p + "output.LayerNorm.bias"])
        i += 1
    cls = x[:, 0]
    obs = np.stack([cls @ s[f"linear_heads.{j}.weight"].T + s[f"linear_heads.{j}.bias"]
                    for j in range(13)], 1)
    return obs, cls @ s["linear_heads.13.weight"].T + s["linear_heads.13.bias"]


IDS = np.array([[2, 7, 8, 9, 10, 11, 5, 3, 0, 0],
                [2, 16, 14, 17, 18, 19, 8, 9, 5, 3],
                [2, 3, 0, 0, 0, 0, 0, 0, 0, 0]], "int32")
MASK = (IDS != 0).astype("int32")


# ---------------------------------------------------------------------------------------
def test_decode_known_logits():
    obs = np.zeros((2, 13, 4), "float32")
    nf = np.zeros((2, 2), "float32")
    # report 0: Cardiomegaly (head 1) positive, Pleural Effusion (head 9) negative,
    # Edema (head 4) uncertain, the rest blank; No Finding blank
    obs[0, :, 0] = 1
    obs[0, 1, 1] = obs[0, 9, 2] = obs[0, 4, 3] = 5
    # report 1: every head blank, No Finding positive
    obs[1, :, 0] = 1
    nf[1, 1] = 3
    a, b = chexbert.decode(obs, nf)
    assert list(a) == list(CHEXPERT_OBSERVATIONS)  # tfreport's order, whatever the heads'
    assert a["Cardiomegaly"] == 1 and a["Pleural Effusion"] == 0 and a["Edema"] == -1
    assert a["No Finding"] is None and a["Pneumothorax"] is None and a["Support Devices"] is None
    assert b["No Finding"] == 1 and all(b[o] is None for o in CHEXPERT_OBSERVATIONS[1:])


def test_tiny_checkpoint_matches_the_reference_forward_pass():
    config = _tiny_config()
    state = _random_state(config)
    model, got = cc.from_state_dict(state, num_heads=config.num_heads)
    assert got == config  # sizes read off the tensors
    out = model({"token_ids": IDS, "padding_mask": MASK})
    want_obs, want_nf = _reference(state, IDS, MASK, config.num_heads)
    np.testing.assert_allclose(out["observations"].numpy(), want_obs, atol=2e-5)
    np.testing.assert_allclose(out["no_finding"].numpy(), want_nf, atol=2e-5)
    # the check can fail: the tanh-approximate GELU (keras-hub's BERT default) is off by more
    approx_obs, _ = _reference(state, IDS, MASK, config.num_heads, exact_gelu=False)
    assert np.abs(approx_obs - want_obs).max() > 20 * 2e-5
    # padding never changes a report's logits
    alone = model({"token_ids": IDS[:1, :8], "padding_mask": MASK[:1, :8]})
    np.testing.assert_allclose(alone["observations"].numpy(), out["observations"].numpy()[:1], atol=1e-4)


def test_published_layout_converts():
    """bert-base-uncased's names and shapes (110M weights) map onto the Keras model."""
    config = chexbert.CheXbertConfig.published()
    layout = cc.published_layout(config)
    assert len(layout) == 5 + 12 * 16 + 2 + 28
    assert layout["module.bert.encoder.layer.11.intermediate.dense.weight"] == (3072, 768)
    assert layout["module.linear_heads.13.weight"] == (2, 768)
    state = _random_state(config, scale=0.02)
    model, got = cc.from_state_dict(state)
    assert got == config
    bert, heads = model.get_layer("bert"), model.get_layer("heads")
    np.testing.assert_array_equal(bert.get_layer("token_embedding").embeddings.numpy(),
                                  state["module.bert.embeddings.word_embeddings.weight"])
    q = bert.get_layer("transformer_layer_7")._self_attention_layer.query_dense.kernel.numpy()
    np.testing.assert_array_equal(q.reshape(768, 768),
                                  state["module.bert.encoder.layer.7.attention.self.query.weight"].T)
    np.testing.assert_array_equal(heads.obs_kernel.numpy()[9], state["module.linear_heads.9.weight"].T)
    out = model({"token_ids": IDS, "padding_mask": MASK})
    assert out["observations"].shape == (3, 13, 4) and np.isfinite(out["observations"]).all()


def test_bad_checkpoints_get_named_errors(tmp_path):
    config = _tiny_config()
    state = _random_state(config)
    with pytest.raises(ValueError, match="lacks 1 CheXbert tensors.*linear_heads.13.bias"):
        cc.from_state_dict({k: v for k, v in state.items() if "heads.13.bias" not in k}, num_heads=2)
    bad = dict(state)
    bad["module.linear_heads.3.weight"] = np.zeros((3, config.hidden_dim), "float32")
    with pytest.raises(ValueError, match=r"linear_heads.3.weight: \(3, 16\), expected \(4, 16\)"):
        cc.from_state_dict(bad, num_heads=2)
    with pytest.raises(ValueError, match="not a CheXbert checkpoint"):
        cc.from_state_dict({**state, "module.classifier.weight": np.zeros((2, 16))}, num_heads=2)
    with pytest.raises(ValueError, match="not a CheXbert state dict"):
        cc.from_state_dict({"encoder.weight": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="not a multiple of BERT's 64-wide heads"):
        cc.config_from_state(state)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        cc.read_state_dict(os.path.join(str(tmp_path), "chexbert.pth"))
    junk = os.path.join(str(tmp_path), "junk.pth")
    with open(junk, "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        cc.read_state_dict(junk)
    # the older LayerNorm names (gamma, beta) and no module. prefix load the same
    renamed = {k[len("module."):].replace("LayerNorm.weight", "LayerNorm.gamma")
               .replace("LayerNorm.bias", "LayerNorm.beta"): v for k, v in state.items()}
    a, _ = cc.from_state_dict(state, num_heads=2)
    b, _ = cc.from_state_dict(renamed, num_heads=2)
    np.testing.assert_allclose(a({"token_ids": IDS, "padding_mask": MASK})["no_finding"],
                               b({"token_ids": IDS, "padding_mask": MASK})["no_finding"], atol=1e-6)


@pytest.fixture
def converted(tmp_path, capsys):
    """A tiny checkpoint (.npz) converted by the command into a labeler folder."""
    from tfreport.commands import convert_chexbert
    config = _tiny_config()
    ckpt = os.path.join(str(tmp_path), "chexbert.npz")
    np.savez(ckpt, **_random_state(config))
    out = os.path.join(str(tmp_path), "chexbert")
    convert_chexbert.main(["--checkpoint", ckpt, "--vocab", _vocab_file(tmp_path), "--out", out,
                           "--num_heads", "2"])
    printed = capsys.readouterr().out
    assert "(2 layers, hidden 16, 28 tokens)" in printed and "Use it with: --labeler chexbert" in printed
    return out


def test_converted_folder_labels_reports(converted, tmp_path):
    assert sorted(os.listdir(converted)) == sorted(chexbert.FILES)
    with open(os.path.join(converted, "config.json")) as f:
        assert json.load(f)["config"]["num_heads"] == 2
    lab = chexbert.CheXbertLabeler.load(converted)
    assert lab.name.startswith("CheXbert (chexbert, ") and len(lab.name) == len("CheXbert (chexbert, 12345678)")
    # WordPiece ids as CheXbert feeds them: [CLS] ... [SEP], lower-cased, unknown -> [UNK]
    (enc,) = lab.encode(["No pleural EFFUSION, or pneumothorax."])
    assert enc == [2, 7, 8, 9, 6, 10, 11, 5, 3]
    assert lab.encode(["no  cardiomegaly."])[0] == [2, 7, 1, 5, 3]
    assert lab.encode([""])[0] == [2, 3] and lab.encode(["  \n "])[0] == [2, 3]
    long = lab.encode(["no effusion. " * 40])[0]  # cut to the encoder's 32 positions
    assert len(long) == 32 and long[0] == 2 and long[-1] == 3
    reports = {"a": "no pleural effusion or pneumothorax.", "b": "the heart is enlarged.",
               "c": "No pleural effusion or\npneumothorax.", "d": ""}
    labels = lab.label_reports(reports)
    assert set(labels) == set(reports)
    for row in labels.values():
        assert list(row) == list(CHEXPERT_OBSERVATIONS)
        assert all(v in (None, 1, 0, -1) for v in row.values())
        assert row["No Finding"] in (None, 1)
    assert labels["a"] == labels["c"]  # the same text once cleaned
    # labels are the decoded logits of the encoded text
    obs, nf = lab.logits(lab.encode([reports["b"]]))
    assert labels["b"] == chexbert.decode(obs, nf)[0]
    # a batch of many (sorted by length, padded) labels each report as it labels it alone
    many = {str(i): " ".join(VOCAB[5 + (i * j) % 23] for j in range(1 + i % 9)) for i in range(40)}
    together = chexbert.CheXbertLabeler.load(converted, batch_size=7).label_reports(many)
    one = chexbert.CheXbertLabeler.load(converted, batch_size=1)
    assert all(together[k] == one.label_report(v) for k, v in list(many.items())[:12])


def test_failed_conversion_leaves_no_folder(tmp_path):
    from tfreport.commands import convert_chexbert
    config = _tiny_config()
    ckpt = os.path.join(str(tmp_path), "chexbert.npz")
    np.savez(ckpt, **_random_state(config))
    vocab = os.path.join(str(tmp_path), "short.txt")
    with open(vocab, "w") as f:
        f.write("\n".join(VOCAB[:-3]))
    out = os.path.join(str(tmp_path), "chexbert")
    with pytest.raises(ValueError, match="short.txt: 25 tokens, but .*chexbert.npz embeds 28"):
        convert_chexbert.main(["--checkpoint", ckpt, "--vocab", vocab, "--out", out, "--num_heads", "2"])
    assert not os.path.exists(out) and not os.path.exists(out + ".converting")
    with open(vocab, "w") as f:
        f.write("\n".join(VOCAB[4:]))
    with pytest.raises(ValueError, match=r"not a BERT vocabulary \(no \[PAD\]"):
        convert_chexbert.main(["--checkpoint", ckpt, "--vocab", vocab, "--out", out])
    with pytest.raises(FileNotFoundError, match="not a converted CheXbert folder.*config.json"):
        os.makedirs(out)
        chexbert.CheXbertLabeler.load(out)
    # --out never removes a folder that holds anything but a conversion
    keep = os.path.join(out, "notes.txt")
    open(keep, "w").write("mine")
    with pytest.raises(FileExistsError, match="not a converted CheXbert folder"):
        convert_chexbert.main(["--checkpoint", ckpt, "--vocab", _vocab_file(tmp_path), "--out", out,
                               "--num_heads", "2"])
    assert open(keep).read() == "mine"


def test_labeler_flags(converted, tmp_path, capsys):
    assert labelers.get() is labelers.RULES
    with pytest.raises(ValueError, match="needs --chexbert_weights"):
        labelers.get("chexbert")
    with pytest.raises(ValueError, match="add --labeler chexbert"):
        labelers.get("rules", converted)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        labelers.get("chexbert", os.path.join(str(tmp_path), "nowhere"))
    # score.py: the CE figures come from CheXbert and the output names it
    from tfreport.commands import score
    preds = {"1": "the heart is enlarged.", "2": "no pleural effusion or pneumothorax."}
    refs = {"1": "the heart is enlarged.", "2": "lungs are clear."}
    pp, rp = (os.path.join(str(tmp_path), n) for n in ("p.json", "r.json"))
    for path, obj in ((pp, preds), (rp, refs)):
        with open(path, "w") as f:
            json.dump(obj, f)
    capsys.readouterr()
    score.main(["--predictions", pp, "--references", rp, "--labeler", "chexbert",
                "--chexbert_weights", converted])
    result = json.loads(capsys.readouterr().out)
    from tfreport.metrics.clinical import clinical_efficacy
    lab = chexbert.CheXbertLabeler.load(converted)
    assert result["CE-labeler"] == lab.name
    want = clinical_efficacy(lab.label_reports(preds), lab.label_reports(refs))["micro"]["f1"]
    assert result["CE-F1"] == pytest.approx(want)
    score.main(["--predictions", pp, "--references", rp])
    assert json.loads(capsys.readouterr().out)["CE-labeler"] == labelers.RULES_NAME
    with pytest.raises(SystemExit):
        score.main(["--predictions", pp, "--references", rp, "--labeler", "chexbert"])
    assert "needs --chexbert_weights" in capsys.readouterr().err
    from tfreport.commands import evaluate  # checked before any decoding
    with pytest.raises(SystemExit):
        evaluate.main(["--model_dir", str(tmp_path), "--labeler", "chexbert"])
    assert "needs --chexbert_weights" in capsys.readouterr().err
    # compare.py: the paired table's CE figures and its footnote are CheXbert's
    from tfreport.commands import compare
    other = os.path.join(str(tmp_path), "q.json")
    with open(other, "w") as f:
        json.dump({"1": "lungs are clear.", "2": "the heart is enlarged."}, f)
    capsys.readouterr()
    compare.main(["--predictions", f"A={pp}", f"B={other}", "--references", rp, "--resamples", "20",
                  "--trials", "20", "--no_meteor", "--quiet", "--labeler", "chexbert",
                  "--chexbert_weights", converted])
    assert f"CE labels: {lab.name}." in capsys.readouterr().out
    # label_reports.py writes CheXbert's labels in tfreport's CSV
    from tfreport.commands import label_reports
    from tfreport.labeler import read_label_csv
    csv_path = os.path.join(str(tmp_path), "labels.csv")
    label_reports.main(["--reports", pp, "--out", csv_path, "--labeler", "chexbert",
                        "--chexbert_weights", converted])
    assert read_label_csv(csv_path) == lab.label_reports(preds)


def test_against_the_pytorch_module(tmp_path):
    """CheXbert's own module (transformers' BertModel and 14 nn.Linear heads, saved through
    DataParallel as the published checkpoint was) against the converted Keras model; the
    torch-free zip reader against torch on the same file. Torch runs in its own process."""
    import importlib.util
    import subprocess
    import sys
    for name in ("torch", "transformers"):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"{name} is not installed (the reference forward pass needs it)")
    out = str(tmp_path)
    np.savez(os.path.join(out, "inputs.npz"), ids=IDS, mask=MASK)
    script = os.path.join(os.path.dirname(__file__), "chexbert_torch_reference.py")
    run = subprocess.run([sys.executable, script, out, str(len(VOCAB))], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    path = os.path.join(out, "chexbert.pth")
    with np.load(os.path.join(out, "state.npz")) as z:
        torch_state = {k: z[k] for k in z.files}
    state = cc._read_zip(path)["model_state_dict"]  # as a user without torch reads it
    assert sorted(state) == sorted(torch_state) and "module.linear_heads.13.weight" in state
    for k in state:
        np.testing.assert_array_equal(state[k], torch_state[k])
    model, _ = cc.from_state_dict(cc.read_state_dict(path), num_heads=2)
    want = np.load(os.path.join(out, "logits.npz"))
    got = model({"token_ids": IDS, "padding_mask": MASK})
    np.testing.assert_allclose(got["observations"].numpy(), want["observations"], atol=5e-5)
    np.testing.assert_allclose(got["no_finding"].numpy(), want["no_finding"], atol=5e-5)
    # and the labels are CheXbert's decoding (argmax; 0 blank, 1 pos, 2 neg, 3 uncertain)
    labels = chexbert.decode(got["observations"].numpy(), got["no_finding"].numpy())
    for j, name in enumerate(chexbert.CONDITIONS[:-1]):
        for r in range(len(IDS)):
            assert labels[r][name] == (None, 1, 0, -1)[int(want["observations"][r, j].argmax())]


def test_pretraining_labels_from_chexbert(converted, tiny_data):
    """--labels labeler --labeler chexbert: the backbone's targets are CheXbert's labels of
    each study's report (blank -> NaN)."""
    from tfreport.data.prepared import PreparedDataset
    from tfreport.pretraining import PretrainConfig, labeler_labels
    from tfreport.text import join_report
    lab = chexbert.CheXbertLabeler.load(converted)
    targets = labeler_labels(tiny_data, lab)
    entry = PreparedDataset(tiny_data).entry
    assert set(targets) == set(entry)
    sid = sorted(entry)[0]
    want = lab.label_report(join_report(entry[sid]))
    got = targets[sid]
    for i, obs in enumerate(CHEXPERT_OBSERVATIONS):
        assert (math.isnan(got[i]) if want[obs] is None else got[i] == want[obs]), obs
    with pytest.raises(ValueError, match="go with --labels labeler"):
        PretrainConfig(labels="dataset", labeler="chexbert", chexbert_weights=converted)
