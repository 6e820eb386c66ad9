"""SQuAD v1.1: the official JSON (articles -> paragraphs -> questions -> answers).

Contexts and questions are tokenized with the project tokenizer (:mod:`elmo_bench.data.tokenize`),
and each answer's characters ``[answer_start, answer_start + len(text))`` are mapped to the tokens
they overlap, ``first_token`` to ``last_token`` (both inclusive), which is what a span head is
trained to point at. An answer that starts or ends inside a token (``"1976"`` in ``"1976-77"``)
still gets the overlapping tokens and has ``aligned=False``; :class:`SquadSplit` counts them.
Every reference answer is kept (dev has about three per question), in file order.
"""

from __future__ import annotations

import bisect
import collections
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.sources import split_file
from elmo_bench.data.tokenize import tokenize_many, tokenize_many_with_offsets
from elmo_bench.paths import DataFolders

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SquadParagraph:
    """A context; token ``i`` is ``context[token_starts[i]:token_ends[i]]``."""

    title: str
    context: str
    tokens: tuple[str, ...]
    token_starts: tuple[int, ...]
    token_ends: tuple[int, ...]


@dataclass(frozen=True)
class SquadAnswer:
    """A reference answer: its characters ``[char_start, char_end)`` and the tokens they overlap."""

    text: str
    char_start: int
    char_end: int
    first_token: int
    last_token: int
    aligned: bool
    """Whether the characters start and end exactly on token boundaries."""


@dataclass(frozen=True)
class SquadQuestion:
    """A question about ``paragraph`` (shared by all questions on the same context)."""

    id: str
    question: str
    question_tokens: tuple[str, ...]
    paragraph: SquadParagraph
    answers: tuple[SquadAnswer, ...]


@dataclass(frozen=True)
class SquadSplit:
    """The questions of one split and how many of their answers fall inside tokens."""

    questions: list[SquadQuestion]
    answer_count: int
    misaligned_answer_count: int


def _answer(raw: Any, paragraph: SquadParagraph, where: str) -> SquadAnswer:
    try:
        text, char_start = raw["text"], raw["answer_start"]
    except (TypeError, KeyError) as error:
        raise ValueError(f"{where}: an answer needs 'text' and 'answer_start'") from error
    if not isinstance(text, str) or not isinstance(char_start, int):
        raise ValueError(f"{where}: answer text must be a string and answer_start an integer")
    char_end = char_start + len(text)
    if char_start < 0 or paragraph.context[char_start:char_end] != text:
        found = paragraph.context[max(char_start, 0) : max(char_end, 0)]
        raise ValueError(
            f"{where}: answer {text!r} is not at answer_start {char_start} (found {found!r})"
        )
    # The first token that ends after the answer starts, the last that starts before it ends.
    first_token = bisect.bisect_right(paragraph.token_ends, char_start)
    last_token = bisect.bisect_left(paragraph.token_starts, char_end) - 1
    if first_token > last_token:
        raise ValueError(f"{where}: answer {text!r} at {char_start} covers no token")
    aligned = (
        paragraph.token_starts[first_token] == char_start
        and paragraph.token_ends[last_token] == char_end
    )
    return SquadAnswer(text, char_start, char_end, first_token, last_token, aligned)


def _questions_of(
    paragraph: SquadParagraph, raw_questions: Any, question_tokens: Iterator[list[str]]
) -> list[SquadQuestion]:
    questions = []
    for raw in raw_questions:
        where = f"question {raw['id']!r}"
        answers = tuple(_answer(answer, paragraph, where) for answer in raw["answers"])
        if not answers:
            raise ValueError(f"{where}: no answers (SQuAD v1.1 answers every question)")
        tokens = tuple(next(question_tokens))
        questions.append(SquadQuestion(raw["id"], raw["question"], tokens, paragraph, answers))
    return questions


# What each level of a SQuAD v1.1 file holds: field -> the JSON type it must have.
_LEVELS: tuple[tuple[str, dict[str, type]], ...] = (
    ("data", {"title": str, "paragraphs": list}),
    ("paragraphs", {"context": str, "qas": list}),
    ("qas", {"id": str, "question": str, "answers": list}),
    ("answers", {"text": str, "answer_start": int}),
)
_JSON_NAMES = {str: "a string", list: "a list", int: "an integer", dict: "an object"}


def _structure_problem(document: Any) -> str | None:
    """The first place where ``document`` departs from SQuAD v1.1's structure, as
    ``"data[3].paragraphs[0].qas[2].id must be a string, found [1, 2]"``, or None."""
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        found = document.get("data") if isinstance(document, dict) else document
        return f"'data' must be a list of articles, found {_shown(found)}"
    return _level_problem(document["data"], 0, "data")


def _level_problem(items: list, level: int, where: str) -> str | None:
    name, fields = _LEVELS[level]
    for index, item in enumerate(items):
        place = f"{where}[{index}]"
        if not isinstance(item, dict):
            return f"{place} must be an object, found {_shown(item)}"
        for field_name, kind in fields.items():
            value = item.get(field_name)
            if not isinstance(value, kind) or isinstance(value, bool):
                return f"{place}.{field_name} must be {_JSON_NAMES[kind]}, found {_shown(value)}"
        if level + 1 < len(_LEVELS):
            child = _LEVELS[level + 1][0]
            problem = _level_problem(item[child], level + 1, f"{place}.{child}")
            if problem is not None:
                return problem
    return None


def _shown(value: Any) -> str:
    """A JSON value for a message: missing, or its first 60 characters of JSON."""
    if value is None:
        return "nothing (missing or null)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_squad(path: Path) -> SquadSplit:
    """Read and tokenize an official SQuAD v1.1 JSON file.

    Raises:
        DataFormatError: the JSON does not have the SQuAD v1.1 structure, an answer's text is not
            at its ``answer_start`` or covers no token, a question has no answer, or the file has no
            questions; names the file and the question id.
    """
    try:
        document = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataFormatError(path, None, f"not valid JSON: {error}") from error
    problem = _structure_problem(document)
    if problem is not None:
        raise DataFormatError(path, None, problem)
    paragraphs = [
        (article["title"], paragraph)
        for article in document["data"]
        for paragraph in article["paragraphs"]
    ]
    contexts = [paragraph["context"] for _, paragraph in paragraphs]
    question_texts = [qa["question"] for _, paragraph in paragraphs for qa in paragraph["qas"]]

    question_tokens = tokenize_many(question_texts)
    questions: list[SquadQuestion] = []
    for (title, raw_paragraph), context_tokens in zip(
        paragraphs, tokenize_many_with_offsets(contexts), strict=True
    ):
        tokens, starts, ends = zip(*context_tokens, strict=True) if context_tokens else ((), (), ())
        paragraph = SquadParagraph(title, raw_paragraph["context"], tokens, starts, ends)
        try:
            questions.extend(_questions_of(paragraph, raw_paragraph["qas"], question_tokens))
        except (TypeError, KeyError) as error:
            raise DataFormatError(path, None, f"a question in {title!r} lacks {error!r}") from error
        except ValueError as error:
            raise DataFormatError(path, None, str(error)) from error
    if not questions:
        raise DataFormatError(path, None, "no questions found")
    if len({question.id for question in questions}) != len(questions):
        counts = collections.Counter(question.id for question in questions)
        repeated = sorted(question_id for question_id, count in counts.items() if count > 1)
        raise DataFormatError(path, None, f"question ids occur more than once: {repeated[:5]}")
    answers = [answer for question in questions for answer in question.answers]
    split = SquadSplit(
        questions=questions,
        answer_count=len(answers),
        misaligned_answer_count=sum(not answer.aligned for answer in answers),
    )
    logger.info(
        "%s: %d questions; %d of %d answers start or end inside a token",
        path,
        len(questions),
        split.misaligned_answer_count,
        split.answer_count,
    )
    return split


def read_squad(split: str, folders: DataFolders) -> SquadSplit:
    """SQuAD v1.1 ``"train"`` (87,599 questions) or ``"dev"`` (10,570; the reported split), from
    ``folders``."""
    return parse_squad(split_file("squad", split, folders).path)
