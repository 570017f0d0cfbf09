"""The one vocabulary convention (docs/design.md §2): a JSON list of tokens, legacy-compatible.

``<S>`` = 0 starts every sentence, ``</S>`` = 1 ends it, ``<EOS>`` = 2 pads (mask 0).
tfreport's own vocabularies add ``<unk>`` = 3; the legacy file has none.
"""
from __future__ import annotations

import collections
import json
from typing import Dict, Iterable, List, Sequence

import numpy as np

from tfreport import fileio

START, END, PAD, UNK = "<S>", "</S>", "<EOS>", "<unk>"
START_ID, END_ID, PAD_ID = 0, 1, 2


class Vocabulary:
    """Token <-> id mapping, saved as the legacy ``vocabulary.json`` list."""

    def __init__(self, tokens: Sequence[str]):
        tokens = list(tokens)
        if tokens[:3] != [START, END, PAD]:
            raise ValueError(
                f"a vocabulary must start with {START}, {END}, {PAD}; got {tokens[:3]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary has duplicate tokens")
        self.tokens = tokens
        self.index: Dict[str, int] = {t: i for i, t in enumerate(tokens)}
        self.unk_id = self.index.get(UNK)

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, sentences: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Builds from (training) sentences; words seen fewer than ``min_count`` times map to <unk>."""
        counts = collections.Counter(w for s in sentences for w in s.split())
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([START, END, PAD, UNK] + [w for w in words if w not in (START, END, PAD, UNK)])

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        with fileio.open(path, encoding="utf-8") as f:
            try:
                tokens = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not valid JSON ({e})") from None
        if not isinstance(tokens, list):
            raise ValueError(f"{path}: expected a JSON list of tokens")
        return cls(tokens)

    def save(self, path: str) -> None:
        """Writes the token list atomically (a local path or a URL)."""
        from tfreport.atomic import write_text
        write_text(path, json.dumps(self.tokens, ensure_ascii=False))

    def word_id(self, word: str) -> int:
        if word in self.index:
            return self.index[word]
        if self.unk_id is None:
            raise KeyError(f"word {word!r} is not in a vocabulary without <unk>")
        return self.unk_id

    def encode_report(self, sentences: Sequence[Sequence[str]], max_sentences: int,
                      max_words: int) -> np.ndarray:
        """Word lists -> [max_sentences, max_words] target ids (words + ``</S>``, PAD after).

        A report shorter than ``max_sentences`` ends with an empty sentence (a lone
        ``</S>``), the legacy stop rule; the slots after it are all padding.
        """
        out = np.full((max_sentences, max_words), PAD_ID, dtype=np.int32)
        rows = [list(s)[: max_words - 1] for s in sentences][:max_sentences]
        if len(rows) < max_sentences:
            rows.append([])
        for i, words in enumerate(rows):
            ids = [self.word_id(w) for w in words] + [END_ID]
            out[i, : len(ids)] = ids
        return out

    def decode_sentence(self, ids: Iterable[int]) -> str:
        """Ids -> text, stopping at ``</S>``; specials are dropped."""
        words = []
        for i in ids:
            i = int(i)
            if i == END_ID:
                break
            if i in (START_ID, PAD_ID):
                continue
            words.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return " ".join(words)

    def decode_report(self, ids: np.ndarray) -> List[str]:
        """[S, W] ids -> sentences, stopping at the first empty sentence."""
        sentences = []
        for row in np.asarray(ids):
            s = self.decode_sentence(row)
            if not s:
                break
            sentences.append(s)
        return sentences

    def decode_flat(self, ids: Iterable[int]) -> List[str]:
        """A flat token sequence -> sentences (split at ``</S>``), stopping at the first
        empty sentence."""
        sentences, words = [], []
        for i in ids:
            i = int(i)
            if i == END_ID:
                if not words:
                    break
                sentences.append(" ".join(words))
                words = []
            elif i not in (START_ID, PAD_ID):
                words.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        if words:  # cut at the maximum length mid-sentence
            sentences.append(" ".join(words))
        return sentences
