"""Pretraining corpora: readers, sentence splitting, a held-out split, the tokenized-corpus cache.

Sources (each file, or a Hub dataset, is one *shard*):

- WikiExtractor output: ``<doc id=... title=...>`` ... ``</doc>`` blocks, gzip or plain;
- plain text: one paragraph (or one sentence) a line, gzip or plain;
- a Hugging Face Hub dataset with a text column (needs the optional ``datasets`` package).

Units. A *document* is an article (WikiExtractor), a line (plain text) or a row (Hub dataset). Its
non-empty lines are *paragraphs*; each paragraph is tokenized with
:func:`elmo_bench.data.tokenize.tokenize` (spaCy's blank English tokenizer, PTB-like, as the task
data) and cut into *sentences* by the rule of spaCy's ``Sentencizer`` (no model download).
Sentences are what the biLM trains on, because downstream ELMo sees one sentence at a time wrapped
in ``<S>`` ... ``</S>``; paragraphs are what GloVe counts within (the GloVe tool resets its window
at a line end, and counts across sentence ends inside a line).

Held-out split: a document is held out when a stable hash of its id falls below
``held_out_fraction``, so the split never depends on file order, worker count or Python's hash seed.

Cache. :func:`build_tokenized_corpus` tokenizes every shard once (in ``workers`` processes) and
keeps the result under ``cache_dir()/corpus/<fingerprint>/``, where the fingerprint covers every
shard's sha256, the tokenizer's behaviour, the sentence splitter and the held-out fraction::

    types.txt                 distinct token strings, one a line, by training count, then text
    type_counts.npy           int64 [n_types]: count of each type in the training split
    meta.json                 fingerprint parts, sizes, build time
    train/, heldout/          one folder per split:
        token_types.npy       int32 [n_tokens]: type id of every token, in corpus order
        sentence_offsets.npy  int64 [n_sentences + 1]: token offset of each sentence
        paragraph_offsets.npy int64 [n_paragraphs + 1]: sentence offset of each paragraph
        document_offsets.npy  int64 [n_documents + 1]: paragraph offset of each document
        documents.txt         document ids, one a line
"""
from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Literal, Protocol, TextIO, get_args

import numpy as np
from filelock import FileLock

from elmo_bench.atomic import building_folder, remove_building_leftovers
from elmo_bench.data.tokenize import tokenize
from elmo_bench.digest import content_digest
from elmo_bench.errors import ElmoBenchError
from elmo_bench.paths import cache_dir
from elmo_bench.settings import check_fields, choice, integer, number
from ..data.sources import file_sha256

logger = logging.getLogger(__name__)

SPLITS = ("train", "heldout")
SplitName = Literal["train", "heldout"]
FileFormat = Literal["auto", "wikiextractor", "text"]

# Bump when the cache layout or the reading / splitting rules change: old caches are then rebuilt.
CORPUS_CACHE_VERSION = 1
_GZIP_MAGIC = b"\x1f\x8b"
# Tricky cases of PTB-style tokenization; their tokens enter the tokenizer fingerprint, so a change
# in tokenizer behaviour invalidates cached corpora.
_TOKENIZER_PROBE = (
    "He wasn't there (yet), was he? \"U.S. costs\" rose 3.5% to $1,200 -- e-mail: a@b.com. "
    "Mr. O'Neil's 1990s-era well-known co-op can't/won't stop; it's 5:30 p.m. (i.e. late)..."
)


class CorpusError(ElmoBenchError, ValueError):
    """A corpus file (or dataset) that cannot be read as the pretraining corpus."""


@dataclass(frozen=True)
class Document:
    """One unit of the held-out split.

    Attributes:
        doc_id: stable identifier (WikiExtractor ``id``, ``<file>:<line>`` for text, Hub row).
        title: article title, or "" when the source has none.
        paragraphs: the document's non-empty lines of raw (untokenized) text.
    """

    doc_id: str
    title: str
    paragraphs: tuple[str, ...]


# ----------------------------------------------------------------------------------------------
# Reading files


def open_text(path: Path) -> TextIO:
    """Open a corpus file as UTF-8 text, decompressing it when it is gzip data.

    Gzip is recognised by its magic bytes; a file named ``.gz`` that is not gzip is an error
    rather than being read as plain text.
    """
    with open(path, "rb") as raw:
        head = raw.read(2)
    if head == _GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    if path.suffix == ".gz":
        raise CorpusError(f"{path}: named .gz but is not gzip data (it starts with {head!r})")
    return open(path, encoding="utf-8")


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` pairs of a corpus file; read and decode errors become CorpusError
    naming the file and the line."""
    line_number = 0
    try:
        with open_text(path) as file:
            for line_number, line in enumerate(file, start=1):
                yield line_number, line
    except UnicodeDecodeError as error:
        # Text is decoded a chunk of lines at a time: find the line of the bad byte itself.
        raise CorpusError(f"{path}: {_first_non_utf8(path)}; expected UTF-8 text") from error
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise CorpusError(
            f"{path}: corrupt or truncated gzip data after line {line_number} ({error})"
        ) from error


def _first_non_utf8(path: Path) -> str:
    """``"line N, byte B: 0xXX is not UTF-8"`` for the first undecodable byte of a corpus file."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as file:
        for line_number, raw in enumerate(file, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                return (
                    f"line {line_number}, byte {error.start + 1}: 0x{raw[error.start]:02x} is not UTF-8"
                )
    return "a byte sequence that is not UTF-8"


_DOC_OPEN = re.compile(r"<doc\s([^>]*)>")
_DOC_ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
# WikiExtractor leaves some HTML behind (<br>, </dl>, <ref ...>, <poem>): drop tags, keep text.
# Only lower-case tag names, so that text such as "a <B> b" or "x < y" is kept.
_LEFTOVER_TAG = re.compile(r"</?[a-z][a-z0-9]*(?:\s[^<>]*)?/?>")


def _clean_wikiextractor_line(line: str) -> str:
    return html.unescape(_LEFTOVER_TAG.sub(" ", line)).strip()


def read_wikiextractor(path: Path) -> Iterator[Document]:
    """Documents of a WikiExtractor shard.

    The first line of each article, which repeats its title, is dropped; leftover HTML tags are
    removed and entities unescaped.

    Raises:
        CorpusError: text outside a ``<doc>`` block, a ``<doc>`` without an ``id``, a ``<doc>``
            opened inside another, or a ``<doc>`` left open at the end of the file.
    """
    attributes: dict[str, str] | None = None
    opened_at = 0
    paragraphs: list[str] = []
    for line_number, line in _numbered_lines(path):
        text = line.strip()
        opening = _DOC_OPEN.fullmatch(text)
        if attributes is None:
            if not text:
                continue
            if opening is None:
                raise CorpusError(
                    f"{path}: line {line_number}: expected '<doc id=\"...\" title=\"...\">', "
                    f"got {text[:80]!r}"
                )
            attributes = dict(_DOC_ATTRIBUTE.findall(opening.group(1)))
            if "id" not in attributes:
                raise CorpusError(f"{path}: line {line_number}: <doc> without an id attribute")
            opened_at, paragraphs = line_number, []
        elif opening is not None:
            raise CorpusError(
                f"{path}: line {line_number}: <doc> opened inside the document opened at line "
                f"{opened_at}"
            )
        elif text == "</doc>":
            title = html.unescape(attributes.get("title", ""))
            if paragraphs and paragraphs[0] == title:
                paragraphs = paragraphs[1:]
            yield Document(attributes["id"], title, tuple(paragraphs))
            attributes = None
        elif text:
            cleaned = _clean_wikiextractor_line(text)
            if cleaned:
                paragraphs.append(cleaned)
    if attributes is not None:
        raise CorpusError(
            f"{path}: the document opened at line {opened_at} (id {attributes['id']}) is not "
            "closed by </doc>"
        )


def read_text_lines(path: Path, key: str) -> Iterator[Document]:
    """Documents of a plain-text file: each non-empty line is one document of one paragraph,
    with id ``<key>:<line number>``."""
    for line_number, line in _numbered_lines(path):
        text = line.strip()
        if text:
            yield Document(f"{key}:{line_number}", "", (text,))


def read_hub_dataset(
    name: str,
    *,
    config_name: str | None = None,
    split: str = "train",
    text_column: str = "text",
    revision: str | None = None,
) -> Iterator[Document]:
    """Documents of a Hugging Face Hub dataset: each row is a document, its ``text_column``'s
    non-empty lines the paragraphs, its id ``<name>/<split>/<row>``."""
    dataset = _load_hub_dataset(name, config_name, split, text_column, revision)
    for row, text in enumerate(dataset[text_column]):
        paragraphs = tuple(line.strip() for line in (text or "").split("\n") if line.strip())
        if paragraphs:
            yield Document(f"{name}/{split}/{row}", "", paragraphs)


def _load_hub_dataset(
    name: str, config_name: str | None, split: str, text_column: str, revision: str | None
):
    """The ``datasets.Dataset``, imported lazily: it is an optional dependency."""
    try:
        import datasets
    except ImportError as error:
        raise CorpusError(
            f"reading the Hub dataset {name!r} needs the optional `datasets` package "
            "(pip install datasets)"
        ) from error
    try:
        dataset = datasets.load_dataset(name, config_name, split=split, revision=revision)
    except Exception as error:  # noqa: BLE001 - the Hub client raises many types; name them all
        raise CorpusError(
            f"could not load the Hub dataset {name!r} (config {config_name!r}, split {split!r}, "
            f"revision {revision!r}): {type(error).__name__}: {error}"
        ) from error
    if text_column not in dataset.column_names:
        raise CorpusError(
            f"Hub dataset {name!r} has no column {text_column!r}; its columns are "
            f"{dataset.column_names}"
        )
    return dataset


# ----------------------------------------------------------------------------------------------
# Shards


class Shard(Protocol):
    """One unit of reading, parallel tokenization and fingerprinting."""

    @property
    def label(self) -> str:
        """How messages name the shard."""

    def fingerprint(self) -> str:
        """Hex digest of the shard's content and reading rules."""

    def documents(self) -> Iterator[Document]:
        """The shard's documents, in order."""




@dataclass(frozen=True)
class FileShard:
    """A corpus file.

    Attributes:
        path: the file.
        key: its path relative to the corpus root (names plain-text documents, so that the
            held-out split does not depend on where the corpus lives).
        file_format: "wikiextractor" or "text".
    """

    path: Path
    key: str
    file_format: Literal["wikiextractor", "text"]

    @property
    def label(self) -> str:
        return str(self.path)

    def fingerprint(self) -> str:
        return hashlib.sha256(
            f"{self.key}\0{self.file_format}\0{file_sha256(self.path)}".encode()
        ).hexdigest()

    def documents(self) -> Iterator[Document]:
        if self.file_format == "wikiextractor":
            return read_wikiextractor(self.path)
        return read_text_lines(self.path, self.key)


@dataclass(frozen=True)
class HubShard:
    """A whole Hub dataset split (read in one process)."""

    name: str
    config_name: str | None = None
    split: str = "train"
    text_column: str = "text"
    revision: str | None = None

    @property
    def label(self) -> str:
        return f"hub:{self.name}"

    def fingerprint(self) -> str:
        dataset = _load_hub_dataset(
            self.name, self.config_name, self.split, self.text_column, self.revision
        )
        # datasets fingerprints the content of what it loaded; add how we read it.
        return hashlib.sha256(
            f"{dataset._fingerprint}\0{self.text_column}".encode()
        ).hexdigest()

    def documents(self) -> Iterator[Document]:
        return read_hub_dataset(
            self.name,
            config_name=self.config_name,
            split=self.split,
            text_column=self.text_column,
            revision=self.revision,
        )


def _detect_format(path: Path) -> Literal["wikiextractor", "text"]:
    """"wikiextractor" when the first non-empty line opens a ``<doc ...>``, else "text"."""
    for _, line in _numbered_lines(path):
        if line.strip():
            return "wikiextractor" if line.lstrip().startswith("<doc ") else "text"
    return "text"


def find_file_shards(root: Path, file_format: FileFormat = "auto") -> list[FileShard]:
    """The corpus files at ``root`` (a file, or a folder searched recursively, hidden names
    skipped), sorted by relative path.

    Raises:
        CorpusError: ``root`` does not exist or holds no files.
    """
    root = Path(root)
    if root.is_file():
        paths, base = [root], root.parent
    elif root.is_dir():
        paths = sorted(
            path
            for path in root.rglob("*")
            if path.is_file()
            and not any(part.startswith(".") for part in path.relative_to(root).parts)
        )
        base = root
    else:
        raise CorpusError(f"{root}: corpus path does not exist")
    if not paths:
        raise CorpusError(f"{root}: no corpus files found (empty folder)")
    return [
        FileShard(
            path,
            path.relative_to(base).as_posix(),
            _detect_format(path) if file_format == "auto" else file_format,
        )
        for path in paths
    ]


# ----------------------------------------------------------------------------------------------
# Tokenizing and splitting


# spaCy's Sentencizer rule, applied to token strings. Running the component itself needs a spaCy
# Doc built from the tokens, and building it (new lexemes for every new word) costs as much as
# tokenizing; the rule and its data (sentence-final characters, "is punctuation") are spaCy's.
# spaCy is imported on first use: training from a built cache or a packed corpus needs no spaCy.
@lru_cache(maxsize=1)
def _sentencizer_rule() -> tuple[frozenset[str], Callable[[str], bool]]:
    from spacy.lang.lex_attrs import is_punct
    from spacy.pipeline import Sentencizer

    return frozenset(Sentencizer.default_punct_chars), is_punct


def split_sentences(tokens: Sequence[str]) -> list[list[str]]:
    """Cut a tokenized paragraph into sentences by the rule of spaCy's ``Sentencizer``: a
    sentence ends after ``.``, ``!``, ``?`` (or a Unicode kin) and any punctuation tokens that
    follow it (closing quotes, brackets). Abbreviations such as ``U.S.`` or ``Mr.`` are single
    tokens, so they do not end a sentence."""
    sentence_final, is_punct = _sentencizer_rule()
    sentences: list[list[str]] = []
    start, seen_final = 0, False
    for index, token in enumerate(tokens):
        if token in sentence_final:
            seen_final = True
        elif seen_final and not is_punct(token):
            sentences.append(list(tokens[start:index]))
            start, seen_final = index, False
    if start < len(tokens):
        sentences.append(list(tokens[start:]))
    return sentences


def tokenize_paragraph(text: str) -> list[list[str]]:
    """Tokenize one paragraph and split it into sentences (empty list for no tokens)."""
    return split_sentences(tokenize(text))


@lru_cache(maxsize=1)
def tokenizer_fingerprint() -> str:
    """Digest of the tokenizer and sentence splitter's behaviour (spaCy version + the output on
    a probe text), so that a cache is rebuilt when either changes."""
    import spacy

    return content_digest([spacy.__version__, tokenize_paragraph(_TOKENIZER_PROBE)], 16)


def is_held_out(doc_id: str, fraction: float) -> bool:
    """Whether document ``doc_id`` belongs to the held-out split: the first 8 bytes of its
    sha256, as a number in [0, 1), are below ``fraction``."""
    value = int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:8], "big") / 2.0**64
    return value < fraction


# ----------------------------------------------------------------------------------------------
# The tokenized-corpus cache


@dataclass(frozen=True)
class CorpusConfig:
    """Which corpus to read and how to split it (exactly one of ``path`` and ``hub_dataset``).

    Attributes:
        path: a corpus file or folder of files.
        file_format: "auto" (detect per file), "wikiextractor" or "text".
        hub_dataset: a Hugging Face Hub dataset name, read with the ``hub_*`` settings.
        held_out_fraction: share of documents held out (by a hash of their id).
        workers: tokenizer processes.
    """

    path: str | None = None
    file_format: FileFormat = choice("auto", get_args(FileFormat))
    hub_dataset: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    hub_text_column: str = "text"
    hub_revision: str | None = None
    held_out_fraction: float = number(0.01, minimum=0, below=1)
    workers: int = integer(2, minimum=1)

    def __post_init__(self) -> None:
        check_fields(self, "corpus", CorpusError)
        if (self.path is None) == (self.hub_dataset is None):
            raise CorpusError(
                f"CorpusConfig needs exactly one of path and hub_dataset, got path={self.path!r}, "
                f"hub_dataset={self.hub_dataset!r}"
            )

    def shards(self) -> list[Shard]:
        if self.path is not None:
            return list(find_file_shards(Path(self.path), self.file_format))
        return [
            HubShard(
                self.hub_dataset, self.hub_config, self.hub_split, self.hub_text_column,
                self.hub_revision,
            )
        ]


@dataclass
class CorpusSplit:
    """One split of a tokenized corpus: flat token array plus nested boundaries.

    Attributes:
        token_types: int32 ``[n_tokens]`` (memory-mapped) type id of every token.
        sentence_offsets: int64 ``[n_sentences + 1]``; sentence ``i`` is
            ``token_types[sentence_offsets[i]:sentence_offsets[i + 1]]``.
        paragraph_offsets: int64 ``[n_paragraphs + 1]``, in sentences.
        document_offsets: int64 ``[n_documents + 1]``, in paragraphs.
        document_ids: id of each document.
    """

    token_types: np.ndarray
    sentence_offsets: np.ndarray
    paragraph_offsets: np.ndarray
    document_offsets: np.ndarray
    document_ids: list[str]

    @property
    def n_tokens(self) -> int:
        return int(self.sentence_offsets[-1])

    @property
    def n_sentences(self) -> int:
        return len(self.sentence_offsets) - 1

    def paragraph_token_offsets(self) -> np.ndarray:
        """int64 ``[n_paragraphs + 1]``: token offset of each paragraph."""
        return self.sentence_offsets[self.paragraph_offsets]

    @classmethod
    def load(cls, folder: Path) -> CorpusSplit:
        return cls(
            token_types=np.load(folder / "token_types.npy", mmap_mode="r"),
            sentence_offsets=np.load(folder / "sentence_offsets.npy"),
            paragraph_offsets=np.load(folder / "paragraph_offsets.npy"),
            document_offsets=np.load(folder / "document_offsets.npy"),
            document_ids=(folder / "documents.txt").read_text(encoding="utf-8").split("\n")[:-1],
        )


class TokenizedCorpus:
    """A tokenized, sentence-split corpus in the cache (see the module docstring for the layout).

    Attributes:
        root: the cache folder.
        fingerprint: its key.
        types: token string of each type id (most frequent in training first).
        type_counts: int64 ``[n_types]`` training count of each type.
        meta: what ``meta.json`` records.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.meta = json.loads((self.root / "meta.json").read_text(encoding="utf-8"))
        self.fingerprint: str = self.meta["fingerprint"]
        self.types: list[str] = (
            (self.root / "types.txt").read_text(encoding="utf-8").split("\n")[:-1]
        )
        self.type_counts: np.ndarray = np.load(self.root / "type_counts.npy")
        self._splits: dict[str, CorpusSplit] = {}

    def split(self, name: SplitName) -> CorpusSplit:
        """The ``"train"`` or ``"heldout"`` split (loaded on first use)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if name not in self._splits:
            self._splits[name] = CorpusSplit.load(self.root / name)
        return self._splits[name]

    def sentences(self, split: SplitName = "train") -> Iterator[list[str]]:
        """The sentences of ``split`` as token strings, in corpus order."""
        data = self.split(split)
        types, offsets = self.types, data.sentence_offsets
        for start, end in zip(offsets[:-1], offsets[1:]):
            yield [types[type_id] for type_id in data.token_types[start:end]]


@dataclass
class _SplitBuilder:
    """Accumulates one split of one shard, with shard-local type ids."""

    type_ids: dict[str, int] = field(default_factory=dict)
    token_types: list[int] = field(default_factory=list)
    sentence_lengths: list[int] = field(default_factory=list)
    paragraph_sizes: list[int] = field(default_factory=list)
    document_sizes: list[int] = field(default_factory=list)
    document_ids: list[str] = field(default_factory=list)

    def add_document(self, doc_id: str, paragraphs: list[list[list[str]]]) -> None:
        """Add a document given as paragraphs of sentences of tokens (empty ones skipped)."""
        paragraphs = [sentences for sentences in paragraphs if sentences]
        if not paragraphs:
            return
        for sentences in paragraphs:
            for sentence in sentences:
                self.token_types.extend(
                    self.type_ids.setdefault(token, len(self.type_ids)) for token in sentence
                )
                self.sentence_lengths.append(len(sentence))
            self.paragraph_sizes.append(len(sentences))
        self.document_sizes.append(len(paragraphs))
        self.document_ids.append(doc_id)

    def finish(self) -> dict:
        return {
            "types": list(self.type_ids),
            "token_types": np.asarray(self.token_types, dtype=np.int32),
            "sentence_lengths": np.asarray(self.sentence_lengths, dtype=np.int64),
            "paragraph_sizes": np.asarray(self.paragraph_sizes, dtype=np.int64),
            "document_sizes": np.asarray(self.document_sizes, dtype=np.int64),
            "document_ids": self.document_ids,
        }


def _tokenize_shard(shard: Shard, held_out_fraction: float) -> dict[str, dict]:
    """Tokenize and split one shard (runs in a worker process): per split, the shard-local type
    list and arrays that :func:`_merge_shards` joins."""
    builders = {name: _SplitBuilder() for name in SPLITS}
    for document in shard.documents():
        split = "heldout" if is_held_out(document.doc_id, held_out_fraction) else "train"
        builders[split].add_document(
            document.doc_id, [tokenize_paragraph(text) for text in document.paragraphs]
        )
    return {name: builder.finish() for name, builder in builders.items()}


def _offsets(sizes: list[np.ndarray]) -> np.ndarray:
    joined = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(joined)]).astype(np.int64)


def _save_npy(path: Path, array: np.ndarray) -> None:
    np.save(path, array, allow_pickle=False)


def _write_corpus(
    folder: Path, shard_results: Iterator[tuple[Shard, dict[str, dict]]], meta: dict
) -> None:
    """Join per-shard results under one type table (ordered by training count) and write the
    cache layout into ``folder``."""
    type_ids: dict[str, int] = {}
    pieces: dict[str, dict[str, list]] = {
        name: {key: [] for key in ("token_types", "sentence_lengths", "paragraph_sizes",
                                   "document_sizes", "document_ids")}
        for name in SPLITS
    }
    for shard, result in shard_results:
        n_tokens = 0
        for name in SPLITS:
            part = result[name]
            local_to_global = np.fromiter(
                (type_ids.setdefault(token, len(type_ids)) for token in part["types"]),
                dtype=np.int32, count=len(part["types"]),
            )
            pieces[name]["token_types"].append(local_to_global[part["token_types"]])
            for key in ("sentence_lengths", "paragraph_sizes", "document_sizes", "document_ids"):
                pieces[name][key].append(part[key])
            n_tokens += len(part["token_types"])
        if n_tokens == 0:
            logger.warning("%s: no text in this shard", shard.label)

    types = list(type_ids)
    train_tokens = np.concatenate(pieces["train"]["token_types"])
    if len(types) == 0:
        raise CorpusError(
            f"{meta['source']}: the corpus has no text (no tokens in any of its "
            f"{len(meta['shards'])} file(s))"
        )
    if len(train_tokens) == 0:
        raise CorpusError(
            f"{meta['source']}: every document fell in the held-out split; lower "
            f"held_out_fraction (now {meta['held_out_fraction']})"
        )
    counts = np.bincount(train_tokens, minlength=len(types)).astype(np.int64)
    # Type ids by training count (descending), ties by text: a vocabulary is then a prefix.
    order = sorted(range(len(types)), key=lambda type_id: (-counts[type_id], types[type_id]))
    rank = np.empty(len(types), dtype=np.int32)
    rank[np.asarray(order, dtype=np.int64)] = np.arange(len(types), dtype=np.int32)

    (folder / "types.txt").write_text(
        "".join(types[type_id] + "\n" for type_id in order), encoding="utf-8"
    )
    _save_npy(folder / "type_counts.npy", counts[order])
    for name in SPLITS:
        split_folder = folder / name
        split_folder.mkdir()
        part = pieces[name]
        token_types = (
            rank[np.concatenate(part["token_types"])] if part["token_types"]
            else np.zeros(0, dtype=np.int32)
        )
        _save_npy(split_folder / "token_types.npy", token_types.astype(np.int32))
        _save_npy(split_folder / "sentence_offsets.npy", _offsets(part["sentence_lengths"]))
        _save_npy(split_folder / "paragraph_offsets.npy", _offsets(part["paragraph_sizes"]))
        _save_npy(split_folder / "document_offsets.npy", _offsets(part["document_sizes"]))
        document_ids = [doc_id for ids in part["document_ids"] for doc_id in ids]
        (split_folder / "documents.txt").write_text(
            "".join(doc_id + "\n" for doc_id in document_ids), encoding="utf-8"
        )
        meta[name] = {
            "tokens": int(len(token_types)),
            "sentences": int(sum(len(lengths) for lengths in part["sentence_lengths"])),
            "paragraphs": int(sum(len(sizes) for sizes in part["paragraph_sizes"])),
            "documents": len(document_ids),
        }
    meta["types"] = len(types)
    (folder / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def corpus_fingerprint(config: CorpusConfig, shards: Sequence[Shard]) -> str:
    """Cache key of the tokenized corpus: shard contents, tokenizer, splitting rules."""
    parts = {
        "version": CORPUS_CACHE_VERSION,
        "shards": [shard.fingerprint() for shard in shards],
        "tokenizer": tokenizer_fingerprint(),
        "held_out_fraction": config.held_out_fraction,
    }
    return content_digest(parts, 24)


def build_tokenized_corpus(config: CorpusConfig) -> TokenizedCorpus:
    """Tokenize, sentence-split and split the corpus once, and return the cached result.

    The cache folder is ``cache_dir()/corpus/<fingerprint>``; it is written under a temporary
    name and renamed into place, so a crash never leaves a half-written cache, and a file lock
    makes concurrent callers (distributed ranks) wait for one build.

    Raises:
        CorpusError: no files, unreadable or malformed files (named), or no text at all.
    """
    shards = config.shards()
    fingerprint = corpus_fingerprint(config, shards)
    folder = cache_dir() / "corpus" / fingerprint
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (distributed ranks) may ask at once: one tokenizes, the others wait.
    with FileLock(str(folder.parent / f"{fingerprint}.lock")):
        if not (folder / "meta.json").exists():
            remove_building_leftovers(folder)  # of a tokenization that was killed
            _build(config, shards, fingerprint, folder)
    return TokenizedCorpus(folder)


def _build(config: CorpusConfig, shards: Sequence[Shard], fingerprint: str, folder: Path) -> None:
    """Tokenize ``shards`` into a temporary folder, then rename it to ``folder``."""
    source = config.path if config.path is not None else f"hub:{config.hub_dataset}"
    logger.info("tokenizing %d shard(s) of %s with %d worker(s)", len(shards), source,
                config.workers)
    started = time.perf_counter()
    meta = {
        "fingerprint": fingerprint,
        "source": source,
        "config": asdict(config),
        "tokenizer": tokenizer_fingerprint(),
        "held_out_fraction": config.held_out_fraction,
        "shards": [shard.label for shard in shards],
    }
    with building_folder(folder) as building:
        if config.workers == 1 or len(shards) == 1:
            results = (
                (shard, _tokenize_shard(shard, config.held_out_fraction)) for shard in shards
            )
            _write_corpus(building, _logged(results, len(shards), started), meta)
        else:
            # spawn, not fork: the parent may hold torch / OpenMP threads.
            with ProcessPoolExecutor(config.workers, mp_context=get_context("spawn")) as pool:
                outputs = pool.map(
                    _tokenize_shard, shards, [config.held_out_fraction] * len(shards)
                )
                _write_corpus(building, _logged(zip(shards, outputs), len(shards), started), meta)
        seconds = time.perf_counter() - started
        meta = json.loads((building / "meta.json").read_text(encoding="utf-8"))
        meta["build_seconds"] = round(seconds, 1)
        n_tokens = meta["train"]["tokens"] + meta["heldout"]["tokens"]
        meta["tokens_per_second"] = round(n_tokens / seconds)
        (building / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    logger.info(
        "tokenized %s: %d train / %d held-out tokens, %d types, %.0f s (%.0f tokens/s)",
        source, meta["train"]["tokens"], meta["heldout"]["tokens"], meta["types"], seconds,
        meta["tokens_per_second"],
    )


def _logged(results, n_shards: int, started: float):
    """Pass shard results through, logging progress about every tenth of the shards."""
    step = max(1, n_shards // 10)
    for done, item in enumerate(results, start=1):
        if done % step == 0 or done == n_shards:
            logger.info("tokenized %d/%d shards (%.0f s)", done, n_shards,
                        time.perf_counter() - started)
        yield item
