"""CoNLL-2003 English NER: ``token POS chunk NER`` lines, a blank line between sentences.

The files use IOB1 (``I-`` starts an entity; ``B-`` appears only where two entities of the same type
touch). The reader converts NER and chunk tags to IOB2 (every entity starts with ``B-``), which is
what strict span scoring (seqeval ``mode="strict"``, conlleval's rules) and CRF transition
constraints expect. ``-DOCSTART-`` lines mark document boundaries and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.iob import IOB_TAG, iob1_to_iob2
from elmo_bench.data.lines import numbered_lines
from elmo_bench.data.sources import split_file
from elmo_bench.paths import DataFolders

_DOCUMENT_START = "-DOCSTART-"


@dataclass(frozen=True)
class NerSentence:
    """One sentence: its tokens and one POS, chunk (IOB2) and NER (IOB2) tag per token."""

    tokens: tuple[str, ...]
    pos: tuple[str, ...]
    chunk: tuple[str, ...]
    ner: tuple[str, ...]


def _sentence(rows: list[tuple[str, str, str, str]]) -> NerSentence:
    tokens, pos, chunk, ner = zip(*rows, strict=True)
    return NerSentence(
        tokens=tokens, pos=pos, chunk=tuple(iob1_to_iob2(chunk)), ner=tuple(iob1_to_iob2(ner))
    )


def parse_conll2003(path: Path) -> list[NerSentence]:
    """Read a CoNLL-2003 file (UTF-8 or ASCII) into sentences with IOB2 chunk and NER tags.

    Raises:
        DataFormatError: a line without exactly four columns, a tag that is neither ``O`` nor
            ``B-``/``I-`` plus a type, or a file without sentences; names the file and line.
    """
    sentences = []
    rows: list[tuple[str, str, str, str]] = []
    for line_number, line in numbered_lines(path, "utf-8"):
        if not line.strip():
            if rows:
                sentences.append(_sentence(rows))
                rows = []
            continue
        columns = line.split(" ")
        if len(columns) != 4 or not all(columns):
            raise DataFormatError(
                path,
                line_number,
                f"expected 4 columns 'token POS chunk NER' separated by single spaces, "
                f"got {len(columns)}: {line!r}",
            )
        if columns[0] == _DOCUMENT_START:
            continue
        token, pos, chunk, ner = columns
        for name, tag in (("chunk", chunk), ("NER", ner)):
            if not IOB_TAG.fullmatch(tag):
                raise DataFormatError(
                    path, line_number, f"{name} tag {tag!r} is not 'O' or 'B-'/'I-' plus a type"
                )
        rows.append((token, pos, chunk, ner))
    if rows:
        sentences.append(_sentence(rows))
    if not sentences:
        raise DataFormatError(path, None, "no sentences found")
    return sentences


def read_conll2003(split: str, folders: DataFolders) -> list[NerSentence]:
    """The ``"train"``, ``"dev"`` (testa) or ``"test"`` (testb) sentences of CoNLL-2003, from
    ``folders``."""
    return parse_conll2003(split_file("conll2003", split, folders).path)
