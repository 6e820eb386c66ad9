"""Readers for a plug-in task's own files: column files, delimited lines, JSON lines, with the
quirks of real files (lone-tab sentence breaks, invisible tokens, a byte-order mark) handled or
reported with file and line."""

from __future__ import annotations

import json

import pytest

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.formats import (
    is_invisible,
    read_columns,
    read_delimited,
    read_json_lines,
)


def write(tmp_path, text, name="data.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_columns_take_lone_tab_lines_as_sentence_breaks(tmp_path):
    # WNUT-17's training file: sentences separated by lines holding only a tab.
    path = write(tmp_path, "\ufeff@user\tO\nParis\tB-location\n\t\nBob\tB-person\nsaid\tO\n\n\n")
    sentences = read_columns(path, separator="\t")
    assert [(s.tokens, s.tags, s.line) for s in sentences] == [
        (("@user", "Paris"), ("O", "B-location"), 1),
        (("Bob", "said"), ("B-person", "O"), 4),
    ]


def test_columns_pick_columns_convert_iob1_and_skip_document_markers(tmp_path):
    path = write(tmp_path, "-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n"
                           "German JJ I-NP I-MISC\nBritish JJ I-NP I-MISC\n")
    (sentence,) = read_columns(path, tag_column=3, tag_scheme="IOB1")
    assert sentence.tokens == ("EU", "rejects", "German", "British")
    assert sentence.tags == ("B-ORG", "O", "B-MISC", "I-MISC")
    (pos,) = read_columns(path, tag_column=1, tag_scheme=None)
    assert pos.tags == ("NNP", "VBZ", "JJ", "JJ")


def test_an_invisible_token_is_an_error_with_file_and_line_unless_dropped_or_kept(tmp_path):
    path = write(tmp_path, "Nice\tO\n\ufe0f\tO\nday\tO\n")
    with pytest.raises(DataFormatError, match=rf"^{path}:2: token '\ufe0f' \(U\+FE0F\) has no "
                       r"visible character; pass invisible_tokens='drop'"):
        read_columns(path, separator="\t")
    assert read_columns(path, separator="\t", invisible_tokens="drop")[0].tokens == ("Nice", "day")
    assert read_columns(path, separator="\t", invisible_tokens="keep")[0].tokens == (
        "Nice", "\ufe0f", "day"
    )
    assert is_invisible("\u200b") and is_invisible("\u00a0") and not is_invisible("e\u0301")


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("a\tO\nb\n", {}, r":2: expected at least 2 columns \(token column 0, tag column -1\), got 1"),
        ("a\tO\nb\tNN\n", {}, r":2: tag 'NN' \(column -1\) is not 'O' or 'B-'/'I-' plus a type"),
        ("\n\t\n", {}, r"data\.txt: no sentences found"),
        ("a\tO\n", {"tag_scheme": "BIOES"}, r"tag_scheme must be one of IOB2, IOB1, got 'BIOES'"),
        # an IOB1 file read as IOB2 (WNUT-17's emerging.test.conll has 116 such entities)
        ("EU\tB-ORG\nsaid\tO\nGerman\tI-MISC\n", {},
         r":3: tag 'I-MISC' after 'O' starts an entity, which IOB2 does not allow .* pass "
         r"tag_scheme='IOB1'"),
        ("EU\tB-ORG\nGerman\tI-MISC\n", {}, r":2: tag 'I-MISC' after 'B-ORG' starts an entity"),
    ],
)
def test_column_file_problems_are_reported(tmp_path, text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_columns(write(tmp_path, text), **kwargs)


def test_delimited_lines_with_a_header_labels_and_pairs(tmp_path):
    path = write(tmp_path, "sentence\tlabel\ngood film\t1\nbad  film\t0\n\n")
    examples = read_delimited(path, columns=("text", "label"), header=True, labels=("0", "1"))
    assert [(e.tokens, e.label, e.line) for e in examples] == [
        (("good", "film"), "1", 2), (("bad", "film"), "0", 3)
    ]
    pairs = write(tmp_path, "yes\tA man sleeps.\tA person rests.\n-\tx\ty\n", name="pairs.tsv")
    (pair,) = read_delimited(pairs, columns=("label", "first", "second"),
                             texts=("first", "second"), skip_labels=("-",), tokenizer="spacy")
    assert pair.texts == (("A", "man", "sleeps", "."), ("A", "person", "rests", "."))
    with pytest.raises(ValueError, match="has 2 texts, not 1"):
        pair.tokens


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("pos\tgood\nneutral\tmeh\n", {"labels": ("pos", "neg")},
         r":2: label 'neutral' is not one of neg, pos"),
        ("pos\tgood\npos only\n", {}, r":2: expected 2 fields label/text separated by '\\t', got 1"),
        ("pos\t\u200b \n", {}, r":1: token '\\u200b' \(U\+200B\) has no visible character"),
        ("pos\t\u200b \n", {"invisible_tokens": "drop"}, r":1: field 'text' has no tokens"),
        ("\tgood\n", {}, r":1: empty label in field 'label'"),
        ("pos\tgood\n", {"texts": ("sentence",)}, r"texts \['sentence'\] and label 'label' must "
         r"be non-empty names among the fields \['label', 'text'\]"),
    ],
)
def test_delimited_line_problems_are_reported(tmp_path, text, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_delimited(write(tmp_path, text), **kwargs)


def test_json_lines_with_text_and_token_list_fields(tmp_path):
    records = [
        {"premise": "It wasn't there.", "hypothesis": ["It", "was", "absent"], "label": 1},
        {"premise": "x", "hypothesis": ["y"], "label": "-"},
    ]
    path = write(tmp_path, "\n".join(json.dumps(r) for r in records) + "\n")
    (example,) = read_json_lines(path, texts=("premise", "hypothesis"), skip_labels=("-",),
                                 tokenizer="spacy")
    assert example.texts == (("It", "was", "n't", "there", "."), ("It", "was", "absent"))
    assert example.label == "1" and example.line == 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "good"', r":1: not JSON: "),
        ('["good", "pos"]', r":1: expected a JSON object, got list"),
        ('{"text": "good"}', r":1: no field 'label'; the object has text"),
        ('{"text": "good", "label": true}', r":1: label field 'label' must be a string or integer"),
        ('{"text": ["good", ""], "label": "pos"}', r":1: field 'text' must be a text or a list of "
         "non-empty tokens"),
    ],
)
def test_json_line_problems_are_reported(tmp_path, line, message):
    with pytest.raises(DataFormatError, match=message):
        read_json_lines(write(tmp_path, line + "\n"))
