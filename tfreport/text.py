"""Report text normalisation, the legacy way (docs/design.md §2), in one place.

Every dataset goes through :func:`report_sentences`, so the demo, IU X-Ray and
MIMIC-CXR produce sentences in the same shape as the legacy ``data_entry.json``.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable, List, Sequence

SECTIONS = ("impression+findings", "findings", "impression", "findings_or_impression")

# A period ends a sentence when whitespace or the end of the text follows it, except after
# "Dr", after another period ("..", which is not a sentence of its own) and in
# abbreviations with inner periods ("p.m. XXXX"), as in the legacy data_entry.json.
_SENTENCE_END = re.compile(r"(?<![Dd]r)(?<!\.)(?<!\.[A-Za-z])\.(?=\s|$)")
_NOT_LETTER_OR_SPACE = re.compile(r"[^a-z ]+")


def split_sentences(text: str) -> List[str]:
    """Splits raw report text at periods followed by whitespace or the end."""
    pieces = _SENTENCE_END.split(text or "")
    return [p.strip() for p in pieces if p.strip(" .\t\n")]


def normalise_sentence(sentence: str) -> str:
    """Lower-cases and deletes every character that is not a letter or a space. Accents
    are folded first (ASCII text, all the legacy data, is unchanged), so a letter with an
    accent keeps its base letter instead of vanishing from the word.

    Inner spaces are kept as they are ("2.0 cm" becomes "  cm" inside a sentence), as in the
    legacy files; tokenisation splits on any run of spaces.
    """
    if not sentence.isascii():  # a hospital's accented text: "épanchement" -> "epanchement"
        sentence = "".join(c for c in unicodedata.normalize("NFKD", sentence)
                           if not unicodedata.combining(c))
    sentence = sentence.lower().replace("\n", " ").replace("\t", " ")
    return _NOT_LETTER_OR_SPACE.sub("", sentence).strip()


def normalise_report(text: str, min_words: int = 2) -> List[str]:
    """Raw report text -> legacy sentences (sentences under ``min_words`` dropped)."""
    out = []
    for raw in split_sentences(text):
        sentence = normalise_sentence(raw)
        if len(sentence.split()) >= min_words:
            out.append(sentence)
    return out


def section_texts(findings: str, impression: str, sections: str) -> List[str]:
    """The report sections that ``--sections`` asks for, in order (empty ones left out)."""
    findings, impression = (findings or "").strip(), (impression or "").strip()
    if sections == "impression+findings":
        parts = [impression, findings]
    elif sections == "findings":
        parts = [findings]
    elif sections == "impression":
        parts = [impression]
    elif sections == "findings_or_impression":
        parts = [findings or impression]
    else:
        raise ValueError(f"unknown --sections {sections!r}; valid: {', '.join(SECTIONS)}")
    return [p for p in parts if p]


def select_sections(findings: str, impression: str, sections: str) -> str:
    """The selected sections as one text (each section ends a sentence)."""
    return " ".join(p if p.endswith(".") else p + "."
                    for p in section_texts(findings, impression, sections))


def report_sentences(findings: str, impression: str, sections: str = "impression+findings") -> List[str]:
    """The legacy sentence list for one study: each section is split on its own."""
    return [s for part in section_texts(findings, impression, sections)
            for s in normalise_report(part)]


def cap_sentences(sentences: Sequence[str], max_sentences: int, max_words: int) -> List[List[str]]:
    """Applies the record/model cap: at most ``max_sentences`` of ``max_words - 1`` words
    (one slot is kept for ``</S>``)."""
    return [s.split()[: max_words - 1] for s in list(sentences)[:max_sentences]]


def join_report(sentences: Iterable[str]) -> str:
    """Sentences -> one report string, each sentence ended by a period: "a b. c d."

    Legacy text has no punctuation inside sentences, and the NLG metrics remove punctuation
    before scoring, so the periods change no BLEU/METEOR/ROUGE/CIDEr figure; they keep the
    sentence boundaries that the labeler needs (a negation ends with its sentence) and that
    the report diagnostics count."""
    kept = [s.strip() for s in sentences if s.strip()]
    return " ".join(s + "." for s in kept)


# The legacy project's scoring: references cut to 8 sentences of 49 words (its record cap).
LEGACY_REFERENCE_SENTENCES, LEGACY_REFERENCE_WORDS = 8, 49


def legacy_reference_sentences(sentences: Sequence[str]) -> List[str]:
    """A reference's sentences as the legacy project scored them: at most 8 of 49 words."""
    return [" ".join(s.split()[:LEGACY_REFERENCE_WORDS])
            for s in list(sentences)[:LEGACY_REFERENCE_SENTENCES]]


def legacy_reference(sentences: Sequence[str]) -> str:
    """A reference as the legacy project scored it: at most 8 sentences of 49 words each,
    each ended by a period (join_report)."""
    return join_report(legacy_reference_sentences(sentences))
