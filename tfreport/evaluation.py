"""Predictions and references for a split, in the shared ``{study_id: report text}`` form."""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

from tfreport import fileio
from tfreport.decoding import Decoder
from tfreport.progress import progress
from tfreport.text import join_report


SCORING_DEFAULT = "tfreport default: untruncated references, legacy-normalised text"
SCORING_LEGACY = ("legacy: references cut to 8 sentences of 49 words, legacy-normalised text "
                  "(--legacy_scoring)")


def references(data_dir: str, split: str, legacy_scoring: bool = False) -> Dict[str, str]:
    """Reference text (legacy-normalised sentences joined) for a split: untruncated, or with
    ``legacy_scoring`` cut as the legacy project scored (8 sentences of 49 words)."""
    from tfreport.data.prepared import PreparedDataset
    return PreparedDataset(data_dir).references(split, legacy_scoring)


def predict(model, vocab, ds, beam_size: int = 3, limit: Optional[int] = None,
            quiet: bool = False, block_trigrams: bool = False,
            length_penalty: Optional[float] = None, mbr_samples: int = 0,
            temperature: float = 1.0, seed: int = 0, no_repeat: bool = False,
            mbr_no_repeat: bool = True) -> Dict[str, str]:
    """Decodes every study of ``ds`` (or the first ``limit``); with ``mbr_samples``, each
    report is the minimum-Bayes-risk choice among the searched one and that many samples
    (hierarchical models, with ``mbr_no_repeat``: among those that say no sentence twice);
    with ``no_repeat``, the search itself never lets a hierarchical report say a sentence
    twice."""
    decoder = Decoder(model, vocab, beam_size, block_trigrams, length_penalty,
                      mbr_samples=mbr_samples, temperature=temperature, seed=seed,
                      no_repeat=no_repeat, mbr_no_repeat=mbr_no_repeat)
    out: Dict[str, str] = {}
    for batch in progress(ds, desc="decoding", disable=quiet, unit="batch"):
        for sid, sentences in zip(batch["id"].numpy(), decoder.reports(batch)):
            out[sid.decode()] = join_report(sentences)
        if limit and len(out) >= limit:
            break
    return out


def decode_split(model_dir: str, data_dir: Optional[str] = None, split: str = "test",
                 beam_size: int = 3, checkpoint: str = "best.keras", quiet: bool = False,
                 block_trigrams: bool = False, length_penalty: Optional[float] = None,
                 mbr_samples: int = 0, temperature: float = 1.0, seed: int = 0,
                 no_repeat: bool = False, mbr_no_repeat: bool = True):
    """Loads a model directory and decodes a split: (config, data_dir, dataset, predictions)."""
    from tfreport.data import pipeline
    from tfreport.inference import load_model
    from tfreport.vocab import Vocabulary

    with fileio.open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    data_dir = data_dir or config["data_dir"]
    mc = config["model_config"]
    model = load_model(os.path.join(model_dir, checkpoint))
    vocab = Vocabulary.load(os.path.join(model_dir, "vocabulary.json"))
    ds = pipeline.dataset(data_dir, split, batch_size=32, image_size=mc["image_size"],
                          max_sentences=mc["max_sentences"], max_words=mc["max_words"])
    predictions = predict(model, vocab, ds, beam_size, quiet=quiet,
                          block_trigrams=block_trigrams, length_penalty=length_penalty,
                          mbr_samples=mbr_samples, temperature=temperature, seed=seed,
                          no_repeat=no_repeat, mbr_no_repeat=mbr_no_repeat)
    return config, data_dir, ds, predictions


def decoding_name(beam_size: int, mbr_samples: int, temperature: float,
                  mbr_no_repeat: bool = False) -> str:
    """How a row's test reports were decoded, as its record and the table say it;
    ``mbr_no_repeat``: MBR chose among the candidates that repeat no sentence (hierarchical
    rows; a repeating one only where all of a study's candidates repeat)."""
    if not mbr_samples:
        return f"beam {beam_size}"
    name = f"MBR over beam {beam_size} + {mbr_samples} samples at T {temperature:g}"
    return name + ", no repeated sentence" if mbr_no_repeat else name


def decoding_label(metrics: dict) -> str:
    """How a metrics file's predictions were decoded, named as the benchmark names it, with
    each search option set away from its default: "beam 3", "MBR over beam 3 + 8 samples at
    T 1, no repeated sentence", "beam 3, search without repeats"."""
    from tfreport.decoding import DEFAULT_LENGTH_PENALTY
    name = decoding_name(metrics.get("beam_size", 3), metrics.get("mbr_samples") or 0,
                         metrics.get("temperature") or 1.0, bool(metrics.get("mbr_no_repeat")))
    alpha = metrics.get("length_penalty")
    options = [", search without repeats" if metrics.get("no_repeat") else "",
               ", trigram blocking" if metrics.get("block_trigrams") else "",
               f", length penalty {alpha:g}" if alpha not in (None, DEFAULT_LENGTH_PENALTY) else ""]
    return name + "".join(options)


def evaluate(model_dir: str, data_dir: Optional[str] = None, split: str = "test",
             beam_size: int = 3, checkpoint: str = "best.keras", uncertain: int = 0,
             quiet: bool = False, block_trigrams: bool = False, bootstrap: int = 0,
             seed: int = 0, legacy_scoring: bool = False,
             length_penalty: Optional[float] = None, mbr_samples: int = 0,
             temperature: float = 1.0, no_repeat: bool = False,
             mbr_no_repeat: bool = True, labeler=None) -> dict:
    """Decodes a split with a trained model and scores it (all, normal, abnormal), with
    ``bootstrap`` resamples for 95% intervals when asked; CE labels from ``labeler``
    (``labelers.get``; the rule-based one when None).

    Writes ``predictions_<split>.json``, ``metrics_<split>.json`` and ``metrics_<split>.md``
    into the model directory and returns the metrics, with the report diagnostics (copied and
    novel: against the data directory's training reports).
    """
    from tfreport.metrics import diagnostics, scoring, table

    from tfreport.decoding import DEFAULT_LENGTH_PENALTY
    from tfreport.models import model_class
    config, data_dir, ds, predictions = decode_split(model_dir, data_dir, split, beam_size,
                                                     checkpoint, quiet, block_trigrams,
                                                     length_penalty, mbr_samples, temperature,
                                                     seed, no_repeat, mbr_no_repeat)
    from tfreport.data.prepared import PreparedDataset
    refs = references(data_dir, split, legacy_scoring)
    normal = PreparedDataset(data_dir).normal(split)
    result = scoring.score(predictions, refs, normal, uncertain=uncertain, bootstrap=bootstrap,
                           seed=seed, training_reports=diagnostics.training_reports(data_dir),
                           labeler=labeler)
    result.update(split=split, beam_size=beam_size, block_trigrams=block_trigrams,
                  length_penalty=(DEFAULT_LENGTH_PENALTY if length_penalty is None
                                  else length_penalty),
                  mbr_samples=mbr_samples, temperature=temperature if mbr_samples else None,
                  no_repeat=no_repeat,
                  mbr_no_repeat=bool(mbr_samples and mbr_no_repeat
                                     and model_class(config["model"]).hierarchical),
                  checkpoint=checkpoint, data_dir=data_dir,
                  scoring=SCORING_LEGACY if legacy_scoring else SCORING_DEFAULT)
    base = os.path.join(model_dir, f"{{}}_{split}")
    with fileio.open(base.format("predictions") + ".json", "w", encoding="utf-8") as f:
        json.dump(predictions, f, indent=1)
    with fileio.open(base.format("metrics") + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    title = f"{config['model']} on {split} ({len(predictions)} studies, {decoding_label(result)})"
    with fileio.open(base.format("metrics") + ".md", "w", encoding="utf-8") as f:
        f.write(table.markdown(result, title) + "\n")
    return result
