"""WikiText-2, re-tokenized as the pretraining corpus is, for a run's final evaluation."""
from __future__ import annotations

import re
from pathlib import Path

from elmo_bench.data.tokenize import tokenize
from elmo_bench.pretrain.bilm.data import LmCorpus
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.corpus import split_sentences
from elmo_bench.pretrain.vocab import UNK, Vocabulary

# WikiText-2 undoes Moses-style splits that our (spaCy, PTB-like) tokenizer makes differently:
# "3 @.@ 5" -> "3.5", "1 @,@ 200" -> "1,200", "red @-@ tipped" -> "red-tipped", "don 't" -> "don't".
_WIKITEXT_JOINER = re.compile(r" @([-.,])@ ")
_WIKITEXT_CLITIC = re.compile(r"(\w) '(s|t|re|ve|ll|d|m)\b", re.IGNORECASE)
_WIKITEXT_UNK = "<unk>"
_UNK_PLACEHOLDER = "XXWIKITEXTUNKXX"  # one alphanumeric word: the tokenizer keeps it whole


def read_wikitext(path: Path) -> list[list[str]]:
    """WikiText-2 text re-tokenized as our corpus is: a list of sentences of tokens.

    Each non-heading line is a paragraph: the ``@x@`` joiners and Moses' split clitics are undone,
    the line is tokenized with :func:`elmo_bench.data.tokenize.tokenize` and cut into sentences
    with the corpus's sentence splitter. Headings (`` = Title = ``) are dropped, as WikiExtractor
    drops them from our corpus. ``<unk>`` (WikiText's own out-of-vocabulary word, whose original
    string is lost) becomes our ``<UNK>``: the target is our unknown-word id and the char CNN reads
    the string ``<UNK>``. Perplexities are therefore over our vocabulary and tokenization and not
    comparable with published WikiText-2 numbers.
    """
    sentences = []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        text = line.strip()
        if not text or (text.startswith("=") and text.endswith("=")):
            continue
        text = _WIKITEXT_CLITIC.sub(r"\1'\2", _WIKITEXT_JOINER.sub(r"\1", f" {text} ")).strip()
        tokens = [UNK if token == _UNK_PLACEHOLDER else token for token in tokenize(text.replace(_WIKITEXT_UNK, _UNK_PLACEHOLDER))]
        sentences.extend(split_sentences(tokens))
    return sentences


def wikitext_files(folder: str | Path) -> dict[str, Path]:
    """The WikiText-2 files of ``folder`` that a run evaluates on: ``{"valid": <folder>/valid.txt,
    "test": <folder>/test.txt}``.

    Raises:
        PretrainError: one of them is missing.
    """
    files = {split: Path(folder) / f"{split}.txt" for split in ("valid", "test")}
    for split, path in files.items():
        if not path.is_file():
            raise PretrainError(f"{path}: WikiText-2 {split} file not found")
    return files


def read_wikitext_splits(folder: str | None, vocabulary: Vocabulary) -> dict[str, LmCorpus]:
    """WikiText-2 valid and test from ``folder`` (none when ``folder`` is None), tokenized as the corpus."""
    if folder is None:
        return {}
    return {
        f"wikitext2-{split}": LmCorpus.from_sentences(read_wikitext(path), vocabulary)
        for split, path in wikitext_files(folder).items()
    }
