"""Tiny datasets for the ``smoke`` preset, written by code in the layout of the shared data folder.

:func:`write_smoke_data` fills a folder with a few dozen examples of every dataset the benchmark
reads, in the original file formats (see the shared data README): CoNLL-2003 (IOB1,
``token POS chunk NER``), SST PTB trees, TREC label files (latin-1), SQuAD v1.1 JSON, a gzip'd
WikiExtractor corpus shard and WikiText-2 valid/test. The sentences come from a small lexicon and
templates, so that the corpus the embedders are pretrained on covers the task words, as the real
Wikipedia corpus does; the tasks are learnable (labels follow the words) but the numbers mean
nothing. Everything is deterministic: the same bytes on every call, and files that already hold
them are left untouched (so their modification times, and the caches keyed on them, stay valid).
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

from elmo_bench.data.sources import SOURCES
from elmo_bench.errors import ElmoBenchError

PEOPLE = ("Peter Blackburn", "Anna Schmidt", "John Smith", "Maria Garcia", "Werner Zwingmann")
PLACES = ("Germany", "Paris", "London", "Brazil", "Tokyo", "Denver")
ORGANISATIONS = ("European Commission", "United Nations", "Reuters", "Bayern Munich")
NATIONALITIES = ("German", "French", "Olympic", "Brazilian")
DAYS = ("Monday", "Tuesday", "Friday")

NER_TEMPLATES = (
    "{PER} visited {LOC} on {DAY} .",
    "{ORG} said {PER} would lead the {MISC} team .",
    "The {MISC} minister met {PER} in {LOC} .",
    "{PER} joined {ORG} last year .",
    "Officials in {LOC} rejected the {MISC} proposal .",
    "{ORG} opened an office in {LOC} .",
)

GOOD_WORDS = {4: ("wonderful", "brilliant", "superb"), 3: ("good", "pleasant", "enjoyable")}
BAD_WORDS = {0: ("awful", "terrible", "dreadful"), 1: ("bad", "dull", "weak")}
NEUTRAL_WORDS = {2: ("ordinary", "long", "quiet")}
SUBJECTS = ("the film", "this movie", "the story", "the cast", "the ending")

QUESTION_TEMPLATES = {
    "HUM:ind": ("Who founded {ORG} ?", "Who visited {LOC} on {DAY} ?", "Who leads {ORG} ?"),
    "LOC:city": ("Where is {ORG} based ?", "What city did {PER} visit ?"),
    "LOC:country": ("What country is {LOC} in ?",),
    "NUM:date": ("When did {PER} join {ORG} ?", "What year was {ORG} founded ?"),
    "DESC:def": ("What is {ORG} ?", "What does {MISC} mean ?"),
    "ENTY:other": ("What did {PER} win in {LOC} ?",),
    "ABBR:exp": ("What does {ORG} stand for ?",),
}


def _fill(template: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """Tokens of ``template`` with its slots filled, and their IOB1 NER tags."""
    slots = {
        "{PER}": (PEOPLE, "PER"),
        "{LOC}": (PLACES, "LOC"),
        "{ORG}": (ORGANISATIONS, "ORG"),
        "{MISC}": (NATIONALITIES, "MISC"),
        "{DAY}": (DAYS, None),
    }
    tokens: list[str] = []
    tags: list[str] = []
    for word in template.split():
        if word in slots:
            choices, entity_type = slots[word]
            filler = rng.choice(choices).split()
            tokens.extend(filler)
            tags.extend([f"I-{entity_type}" if entity_type else "O"] * len(filler))
        else:
            tokens.append(word)
            tags.append("O")
    return tokens, tags


def _sentiment_sentence(rng: random.Random) -> tuple[list[str], int]:
    """A review sentence and its 0-4 label (the label of its sentiment word)."""
    label = rng.choice((0, 1, 2, 3, 4))
    words = {**GOOD_WORDS, **BAD_WORDS, **NEUTRAL_WORDS}[label]
    subject = rng.choice(SUBJECTS).split()
    intensifier = ["very"] if label in (0, 4) else []
    tokens = [*subject, "was", *intensifier, rng.choice(words), "."]
    tokens[0] = tokens[0].capitalize()
    return tokens, label


def _sst_tree(tokens: list[str], label: int) -> str:
    """A right-branching PTB tree over ``tokens``: every node carries ``label`` when it contains
    the sentiment word, 2 (neutral) otherwise."""
    sentiment_word = len(tokens) - 2  # the word before the final "."

    def build(start: int) -> str:
        node_label = label if start <= sentiment_word else 2
        leaf_label = label if start == sentiment_word else 2
        leaf = f"({leaf_label} {tokens[start]})"
        if start == len(tokens) - 1:
            return leaf
        return f"({node_label} {leaf} {build(start + 1)})"

    return build(0)


def _conll_text(sentences: list[tuple[list[str], list[str]]]) -> str:
    blocks = ["-DOCSTART- -X- O O\n"]
    for tokens, tags in sentences:
        blocks.append("".join(f"{token} NNP I-NP {tag}\n" for token, tag in zip(tokens, tags)))
    return "\n".join(blocks)


def _trec_lines(rng: random.Random, count: int) -> str:
    labels = sorted(QUESTION_TEMPLATES)
    lines = []
    for index in range(count):
        label = labels[index % len(labels)]
        tokens, _ = _fill(rng.choice(QUESTION_TEMPLATES[label]), rng)
        lines.append(f"{label} {' '.join(tokens)}")
    return "\n".join(lines) + "\n"


def _squad_file(rng: random.Random, articles: int, prefix: str) -> dict[str, Any]:
    data = []
    for index in range(articles):
        person, place, organisation = rng.choice(PEOPLE), rng.choice(PLACES), rng.choice(ORGANISATIONS)
        year = str(1990 + index)
        context = (
            f"{organisation} opened an office in {place} in {year}. "
            f"{person} joined {organisation} and later visited {place}."
        )
        questions = (
            (f"Where did {organisation} open an office?", place),
            (f"When did {organisation} open an office in {place}?", year),
            (f"Who joined {organisation}?", person),
        )
        qas = [
            {
                "id": f"{prefix}-{index:02d}-q{number}",
                "question": question,
                "answers": [{"text": answer, "answer_start": context.index(answer)}],
            }
            for number, (question, answer) in enumerate(questions)
        ]
        data.append(
            {"title": f"{prefix}_article_{index:02d}", "paragraphs": [{"context": context, "qas": qas}]}
        )
    return {"version": "1.1", "data": data}


def _corpus_paragraph(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(3, 5)):
        if rng.random() < 0.6:
            tokens, _ = _fill(rng.choice(NER_TEMPLATES), rng)
        else:
            tokens, _ = _sentiment_sentence(rng)
        sentences.append(" ".join(tokens).replace(" .", "."))
    return " ".join(sentences)


def _wikiextractor_shard(rng: random.Random, first_id: int, documents: int) -> str:
    parts = []
    for doc_id in range(first_id, first_id + documents):
        title = f"Smoke article {doc_id}"
        paragraphs = "\n".join(_corpus_paragraph(rng) for _ in range(rng.randint(2, 4)))
        parts.append(
            f'<doc id="{doc_id}" url="https://en.wikipedia.org/wiki?curid={doc_id}" '
            f'title="{title}">\n{title}\n\n{paragraphs}\n</doc>\n'
        )
    return "".join(parts)


def _wikitext(rng: random.Random, paragraphs: int) -> str:
    lines = [" ", " = Smoke test = ", " "]
    for _ in range(paragraphs):
        text = _corpus_paragraph(rng).replace(".", " .")
        lines.append(" " + " ".join(text.split()) + " ")
    return "\n".join(lines) + "\n"


def smoke_files() -> dict[str, bytes]:
    """Every file of the smoke data set: path relative to the data folder -> its bytes."""
    rng = random.Random(20180215)  # fixed: the files must be the same bytes on every call
    files: dict[str, str | bytes] = {}
    for split, count in (("train", 48), ("dev", 16), ("test", 16)):
        sentences = [_fill(rng.choice(NER_TEMPLATES), rng) for _ in range(count)]
        files[SOURCES["conll2003"].files[split]] = _conll_text(sentences)
    for split, count in (("train", 60), ("dev", 20), ("test", 20)):
        trees = [_sst_tree(*_sentiment_sentence(rng)) for _ in range(count)]
        files[SOURCES["sst"].files[split]] = "\n".join(trees) + "\n"
    files[SOURCES["trec"].files["train"]] = _trec_lines(rng, 60).encode("latin-1")
    files[SOURCES["trec"].files["test"]] = _trec_lines(rng, 20).encode("latin-1")
    files[SOURCES["squad"].files["train"]] = json.dumps(_squad_file(rng, 10, "train"), indent=1)
    files[SOURCES["squad"].files["dev"]] = json.dumps(_squad_file(rng, 4, "dev"), indent=1)
    for shard in range(2):
        text = _wikiextractor_shard(rng, 100 * shard + 1, 30)
        files[f"corpus/wikipedia/AA/wiki_{shard:02d}.gz"] = gzip.compress(text.encode(), mtime=0)
    for split in ("valid", "test"):
        files[f"corpus/eval/wikitext-2/{split}.txt"] = _wikitext(rng, 6)
    return {
        path: content if isinstance(content, bytes) else content.encode("utf-8")
        for path, content in files.items()
    }


MARKER = ".elmo-bench-smoke-data"
"""The file that marks a folder as written by :func:`write_smoke_data` (and free to rewrite)."""


class SmokeDataError(ElmoBenchError, ValueError):
    """The smoke data would overwrite a folder it did not write."""


def write_smoke_data(folder: str | Path) -> Path:
    """Write the smoke data set into ``folder`` (created if needed); returns ``folder``.

    A file that already holds the right bytes is not rewritten; one that differs is replaced.

    Raises:
        SmokeDataError: ``folder`` holds files but no smoke-data marker (say, the real data
            folder): nothing is written there.
    """
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).is_file():
        raise SmokeDataError(
            f"{folder} holds files that the smoke data did not write; the smoke preset writes its "
            "tiny data set only into an empty folder or its own (leave data_dir unset for the "
            "default <stages_dir>/smoke-data)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("written by elmo_bench.runner.smoke_data\n", encoding="utf-8")
    for relative, content in smoke_files().items():
        path = folder / relative
        if path.is_file() and path.read_bytes() == content:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(content)
        temporary.replace(path)
    return folder
