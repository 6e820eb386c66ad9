"""Readers for the file formats a researcher brings with a task of their own.

- :func:`read_columns`: column files like CoNLL (one token a line, a token and a tag column, a blank
  line between sentences), for tagging tasks.
- :func:`read_delimited`: one example a line, fields split by a separator (``label<TAB>text``,
  ``text<TAB>label``, ``label<TAB>sentence1<TAB>sentence2``), for classification.
- :func:`read_json_lines`: one JSON object a line, for classification of one or more texts.

What real files hold is handled or reported with file and line (:class:`DataFormatError`): a line
of only spaces or tabs is a sentence break (WNUT-17's training file separates sentences with a
lone tab); a byte-order mark at the start of a file is dropped; a token without a visible
character (``U+FE0F`` alone, a zero-width space, a no-break space) is an error by default, since
embedders and word-piece tokenizers treat such tokens differently, and ``invisible_tokens="drop"``
leaves them out (a tag with them) or ``"keep"`` keeps them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.iob import IOB_TAG, iob1_to_iob2
from elmo_bench.data.lines import numbered_lines

INVISIBLE_POLICIES = ("error", "drop", "keep")
TAG_SCHEMES = ("IOB2", "IOB1")
TOKENIZERS = ("whitespace", "spacy")
# Control, format, combining marks, separators: characters that show nothing on their own.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Mn", "Me", "Zs", "Zl", "Zp"})
_COLUMN_SEPARATOR = re.compile(r"[ \t]+")
_BYTE_ORDER_MARK = "\ufeff"


@dataclass(frozen=True)
class ColumnSentence:
    """A sentence of a column file: its tokens, one tag each, and the line it starts on."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class TextExample:
    """One example of a line-per-example file: its texts as token sequences (one text, or a
    pair), its label, and its line."""

    texts: tuple[tuple[str, ...], ...]
    label: str
    line: int

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens of a one-text example."""
        if len(self.texts) != 1:
            raise ValueError(f"example of line {self.line} has {len(self.texts)} texts, not 1")
        return self.texts[0]


def is_invisible(token: str) -> bool:
    """Whether ``token`` has no visible character (only controls, format characters such as
    ``U+200B``, combining marks such as ``U+FE0F``, or spaces)."""
    return all(unicodedata.category(character) in _INVISIBLE_CATEGORIES for character in token)


def _describe(token: str) -> str:
    return " ".join(f"U+{ord(character):04X}" for character in token) or "empty"


def _check_choice(value: str, choices: Sequence[str], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}, got {value!r}")


def _lines(path: str | Path, encoding: str) -> Iterator[tuple[int, str]]:
    """:func:`numbered_lines` with a byte-order mark at the start of the file dropped."""
    for line_number, line in numbered_lines(Path(path), encoding):
        yield line_number, line.removeprefix(_BYTE_ORDER_MARK) if line_number == 1 else line


def _keep_token(token: str, policy: str, path: str | Path, line_number: int) -> bool:
    """Whether to keep ``token`` under the invisible-token ``policy``; raises for ``error``."""
    if not is_invisible(token) or policy == "keep":
        return True
    if policy == "drop":
        return False
    raise DataFormatError(
        path, line_number,
        f"token {token!r} ({_describe(token)}) has no visible character; pass "
        "invisible_tokens='drop' to leave such tokens out or 'keep' to keep them",
    )


def read_columns(
    path: str | Path,
    *,
    token_column: int = 0,
    tag_column: int = -1,
    separator: str | None = None,
    tag_scheme: str | None = "IOB2",
    invisible_tokens: str = "error",
    document_marker: str | None = "-DOCSTART-",
    encoding: str = "utf-8",
) -> list[ColumnSentence]:
    """The sentences of a column file such as CoNLL-2003 or WNUT-17.

    Args:
        path: the file.
        token_column, tag_column: which columns hold the token and its tag (negative: from the
            end).
        separator: the column separator; None splits at runs of spaces and tabs.
        tag_scheme: ``"IOB2"`` checks that tags are ``O``, ``B-TYPE`` or ``I-TYPE`` and that an
            ``I-TYPE`` continues a ``TYPE`` entity (strict span scoring would drop an entity that
            starts with ``I-``); ``"IOB1"`` checks the tags' form and converts them to IOB2; None
            keeps any tag (part-of-speech tags, say).
        invisible_tokens: ``"error"``, ``"drop"`` or ``"keep"`` a token without a visible
            character.
        document_marker: a line whose token is this (CoNLL's ``-DOCSTART-``) is skipped; None
            keeps every line.
        encoding: the file's text encoding.

    Raises:
        DataFormatError: a line without the columns asked for, a tag not of ``tag_scheme``, an
            invisible token under ``"error"``, an undecodable line or a file without sentences;
            names the file and line.
    """
    if tag_scheme is not None:
        _check_choice(tag_scheme, TAG_SCHEMES, "tag_scheme")
    _check_choice(invisible_tokens, INVISIBLE_POLICIES, "invisible_tokens")
    sentences: list[ColumnSentence] = []
    rows: list[tuple[str, str]] = []
    first_line = 0

    def end_sentence() -> None:
        if rows:
            tokens, tags = zip(*rows, strict=True)
            if tag_scheme == "IOB1":
                tags = tuple(iob1_to_iob2(list(tags)))
            sentences.append(ColumnSentence(tuple(tokens), tuple(tags), first_line))
            rows.clear()

    # Columns a line needs so that the token and tag columns exist (and are not the same one).
    needed = max(2, *(index + 1 if index >= 0 else -index for index in (token_column, tag_column)))
    for line_number, line in _lines(path, encoding):
        if not line.strip(" \t"):
            end_sentence()
            continue
        columns = (
            _COLUMN_SEPARATOR.split(line.strip(" \t")) if separator is None else line.split(separator)
        )
        if len(columns) < needed or token_column % len(columns) == tag_column % len(columns):
            raise DataFormatError(
                path, line_number,
                f"expected at least {needed} columns (token column {token_column}, tag column "
                f"{tag_column}), got {len(columns)}: {line!r}",
            )
        token, tag = columns[token_column], columns[tag_column]
        if document_marker is not None and token == document_marker:
            continue
        if tag_scheme is not None and not IOB_TAG.fullmatch(tag):
            raise DataFormatError(
                path, line_number,
                f"tag {tag!r} (column {tag_column}) is not 'O' or 'B-'/'I-' plus a type "
                f"({tag_scheme}); pass tag_column for the tag's column or tag_scheme=None",
            )
        if not token:
            raise DataFormatError(path, line_number, f"empty token in column {token_column}")
        previous = rows[-1][1] if rows else "O"
        if tag_scheme == "IOB2" and tag.startswith("I-") and previous[2:] != tag[2:]:
            raise DataFormatError(
                path, line_number,
                f"tag {tag!r} after {previous!r} starts an entity, which IOB2 does not allow (it "
                "starts every entity with B-); for IOB1 files, where I- starts entities, pass "
                "tag_scheme='IOB1'",
            )
        if _keep_token(token, invisible_tokens, path, line_number):
            if not rows:
                first_line = line_number
            rows.append((token, tag))
    end_sentence()
    if not sentences:
        raise DataFormatError(path, None, "no sentences found")
    return sentences


def _tokenize(text: str, tokenizer: str) -> list[str]:
    if tokenizer == "whitespace":
        return text.split()
    from elmo_bench.data.tokenize import tokenize  # spaCy loads only when asked for

    return tokenize(text)


def _text_example(
    fields: dict[str, Any],
    texts: Sequence[str],
    label: str,
    labels: Collection[str] | None,
    skip_labels: Collection[str],
    tokenizer: str,
    invisible_tokens: str,
    path: str | Path,
    line_number: int,
) -> TextExample | None:
    """The example of one record's ``fields`` (None when its label is in ``skip_labels``); a
    text field holds a string (tokenized with ``tokenizer``) or a list of tokens."""
    value = fields[label]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataFormatError(
            path, line_number, f"label field {label!r} must be a string or integer, got {value!r}"
        )
    label_value = str(value).strip()
    if not label_value:
        raise DataFormatError(path, line_number, f"empty label in field {label!r}")
    if label_value in skip_labels:
        return None
    if labels is not None and label_value not in labels:
        raise DataFormatError(
            path, line_number,
            f"label {label_value!r} is not one of {', '.join(sorted(labels))}",
        )
    sequences = []
    for name in texts:
        text = fields[name]
        if isinstance(text, str):
            tokens = _tokenize(text, tokenizer)
        elif isinstance(text, list) and all(isinstance(token, str) and token for token in text):
            tokens = list(text)
        else:
            raise DataFormatError(
                path, line_number,
                f"field {name!r} must be a text or a list of non-empty tokens, got {text!r}",
            )
        tokens = [t for t in tokens if _keep_token(t, invisible_tokens, path, line_number)]
        if not tokens:
            raise DataFormatError(path, line_number, f"field {name!r} has no tokens")
        sequences.append(tuple(tokens))
    return TextExample(tuple(sequences), label_value, line_number)


def _check_text_options(
    columns: Sequence[str], texts: Sequence[str], label: str, tokenizer: str, invisible_tokens: str
) -> None:
    """The arguments the text readers share: fields that exist, and known choices."""
    missing = [name for name in (*texts, label) if name not in columns]
    if missing or not texts:
        raise ValueError(
            f"texts {list(texts)} and label {label!r} must be non-empty names among the "
            f"fields {list(columns)}"
        )
    _check_choice(tokenizer, TOKENIZERS, "tokenizer")
    _check_choice(invisible_tokens, INVISIBLE_POLICIES, "invisible_tokens")


def read_delimited(
    path: str | Path,
    *,
    columns: Sequence[str] = ("label", "text"),
    texts: Sequence[str] = ("text",),
    label: str = "label",
    separator: str = "\t",
    header: bool = False,
    labels: Collection[str] | None = None,
    skip_labels: Collection[str] = (),
    tokenizer: str = "whitespace",
    invisible_tokens: str = "error",
    encoding: str = "utf-8",
) -> list[TextExample]:
    """One example a line: ``columns`` fields split by ``separator`` (``label<TAB>text`` by
    default; the last field takes the rest of the line, separators included).

    Args:
        path: the file.
        columns: the names of the fields of a line, in order.
        texts: the fields that hold the example's texts (two for a sentence pair).
        label: the field that holds the label.
        separator: what separates the fields.
        header: the first line names the columns and is skipped.
        labels: the labels allowed (None: any).
        skip_labels: lines with these labels are left out (SNLI's ``"-"``: no gold label).
        tokenizer: ``"whitespace"`` (the text is tokenized already) or ``"spacy"`` (spaCy's
            blank English tokenizer, PTB-style like the benchmark's data).
        invisible_tokens: ``"error"``, ``"drop"`` or ``"keep"`` a token without a visible
            character.
        encoding: the file's text encoding.

    Raises:
        DataFormatError: a line with too few fields, an empty text or label, a label not in
            ``labels`` or a file without examples; names the file and line.
    """
    _check_text_options(columns, texts, label, tokenizer, invisible_tokens)
    examples = []
    for line_number, line in _lines(path, encoding):
        if (header and line_number == 1) or not line.strip():
            continue
        values = line.split(separator, len(columns) - 1)
        if len(values) != len(columns):
            raise DataFormatError(
                path, line_number,
                f"expected {len(columns)} fields {'/'.join(columns)} separated by {separator!r}, "
                f"got {len(values)}: {line!r}",
            )
        example = _text_example(
            dict(zip(columns, values, strict=True)), texts, label, labels, skip_labels,
            tokenizer, invisible_tokens, path, line_number,
        )
        if example is not None:
            examples.append(example)
    if not examples:
        raise DataFormatError(path, None, "no examples found")
    return examples


def read_json_lines(
    path: str | Path,
    *,
    texts: Sequence[str] = ("text",),
    label: str = "label",
    labels: Collection[str] | None = None,
    skip_labels: Collection[str] = (),
    tokenizer: str = "whitespace",
    invisible_tokens: str = "error",
    encoding: str = "utf-8",
) -> list[TextExample]:
    """One JSON object a line (JSON Lines); ``texts`` name its text fields (a string, tokenized
    with ``tokenizer``, or a list of tokens) and ``label`` its label field (a string or an
    integer, read as its decimal string). Other fields are ignored. ``labels``, ``skip_labels``,
    ``tokenizer`` and ``invisible_tokens`` are as for :func:`read_delimited`.

    Raises:
        DataFormatError: a line that is not a JSON object, lacks a field, has an empty text or
            a label not in ``labels``, or a file without examples; names the file and line.
    """
    _check_text_options([*texts, label], texts, label, tokenizer, invisible_tokens)
    examples = []
    for line_number, line in _lines(path, encoding):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFormatError(path, line_number, f"not JSON: {error}") from None
        if not isinstance(record, dict):
            raise DataFormatError(
                path, line_number, f"expected a JSON object, got {type(record).__name__}"
            )
        missing = [name for name in (*texts, label) if name not in record]
        if missing:
            raise DataFormatError(
                path, line_number,
                f"no field {missing[0]!r}; the object has {', '.join(record) or 'no fields'}",
            )
        example = _text_example(
            record, texts, label, labels, skip_labels, tokenizer, invisible_tokens, path,
            line_number,
        )
        if example is not None:
            examples.append(example)
    if not examples:
        raise DataFormatError(path, None, "no examples found")
    return examples
