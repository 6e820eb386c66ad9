"""TREC question classification (Li & Roth): ``COARSE:fine question`` lines, latin-1 encoded.

Labels: 6 coarse classes (``ABBR DESC ENTY HUM LOC NUM``) or 50 fine ones, named with their coarse
class (``LOC:city``) because fine names repeat across classes (``ENTY:other``, ``LOC:other``).
Questions are already tokenized: tokens are split at spaces only, exactly as in the file.

TREC has no dev set. ``"dev"`` is carved from the 5,452 training questions, deterministically and
independently of file order, Python version and label granularity: questions are ranked by the
sha256 of ``"trec-dev:" + question text`` and the lowest-ranked 10% (545) form dev. Ranking by text
keeps repeated questions (63 texts occur more than once) on the same side. ``"train"`` is the other
4,907 questions, ``"test"`` the official 500.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.lines import numbered_lines
from elmo_bench.data.sources import split_file
from elmo_bench.errors import UsageError
from elmo_bench.paths import DataFolders

COARSE_LABELS = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
DEV_FRACTION = 0.1
DEV_HASH_PREFIX = "trec-dev:"
SPLITS = ("train", "dev", "test")
_LABEL_PATTERN = re.compile(rf"({'|'.join(COARSE_LABELS)}):[a-z]+")


@dataclass(frozen=True)
class TrecQuestion:
    """A question with both of its labels: ``coarse`` (``"LOC"``) and ``fine`` (``"LOC:city"``)."""

    tokens: tuple[str, ...]
    coarse: str
    fine: str


@dataclass(frozen=True)
class QuestionExample:
    """A question and the one label a classifier is trained on."""

    tokens: tuple[str, ...]
    label: str


def parse_trec(path: Path) -> list[TrecQuestion]:
    """Read a TREC label file (latin-1).

    Raises:
        DataFormatError: a line whose first field is not ``COARSE:fine`` with a known coarse
            class, a line without a question, or a file without questions; names file and line.
    """
    questions = []
    for line_number, line in numbered_lines(path, "latin-1"):
        if not line.strip():
            continue
        label, _, text = line.partition(" ")
        if not _LABEL_PATTERN.fullmatch(label):
            raise DataFormatError(
                path,
                line_number,
                f"expected a label 'COARSE:fine' with COARSE one of {', '.join(COARSE_LABELS)}, "
                f"got {label!r}",
            )
        tokens = tuple(token for token in text.split(" ") if token)
        if not tokens:
            raise DataFormatError(path, line_number, f"label {label!r} has no question after it")
        questions.append(TrecQuestion(tokens=tokens, coarse=label.partition(":")[0], fine=label))
    if not questions:
        raise DataFormatError(path, None, "no questions found")
    return questions


def _dev_rank(question: TrecQuestion) -> str:
    return hashlib.sha256((DEV_HASH_PREFIX + " ".join(question.tokens)).encode("utf-8")).hexdigest()


def split_off_dev(questions: list[TrecQuestion]) -> tuple[list[TrecQuestion], list[TrecQuestion]]:
    """``(train, dev)``: dev is the ``DEV_FRACTION`` of questions ranked first by their text's hash.

    Both keep the input order. Questions with the same text rank together; if such a group crosses
    the cut it goes to dev whole, so dev may be a few questions larger than the fraction.
    """
    ranks = [_dev_rank(question) for question in questions]
    dev_size = round(DEV_FRACTION * len(questions))
    if dev_size == 0:
        return list(questions), []
    cut_rank = sorted(ranks)[dev_size - 1]
    train = [question for question, rank in zip(questions, ranks, strict=True) if rank > cut_rank]
    dev = [question for question, rank in zip(questions, ranks, strict=True) if rank <= cut_rank]
    return train, dev


def read_trec(
    split: str, folders: DataFolders, *, granularity: str = "coarse"
) -> list[QuestionExample]:
    """TREC ``"train"``, ``"dev"`` or ``"test"`` questions, from ``folders``.

    ``granularity`` picks the label: ``"coarse"`` (6 classes) or ``"fine"`` (50).
    """
    if split not in SPLITS:
        raise UsageError(f"unknown TREC split {split!r}; expected one of {', '.join(SPLITS)}")
    if granularity not in ("coarse", "fine"):
        raise UsageError(f"granularity must be 'coarse' or 'fine', got {granularity!r}")
    path = split_file("trec", "test" if split == "test" else "train", folders).path
    questions = parse_trec(path)
    if split != "test":
        train, dev = split_off_dev(questions)
        questions = train if split == "train" else dev
        if not questions:
            raise DataFormatError(path, None, f"too few questions to carve a {split} split")
    return [
        QuestionExample(tokens=question.tokens, label=getattr(question, granularity))
        for question in questions
    ]
