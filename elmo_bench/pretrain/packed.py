"""A tokenized pretraining corpus packed into one compressed file, to train where the raw corpus is not.

The tokenized-corpus cache (:mod:`elmo_bench.pretrain.corpus`) holds int32 arrays (300 MB for the
32.5M-token Wikipedia corpus), and rebuilding it needs the raw shards and spaCy. A GPU machine
reached through a small transfer has neither; the packed file holds only what a run reads, zlib
compressed (about 1.8 bytes a word), so ``elmo-bench pretrain --packed FILE`` trains from it
with the same vocabulary and tokenization as a run from the corpus itself.

Write one with ``python -m elmo_bench.pretrain.packed --out FILE [--corpus DIR] [--max-train-tokens N]``.

Layout (one ``.npz``)::

    meta                 JSON (uint8 bytes): format version, the source description, token counts
    types                uint8 bytes: the token strings, newline-separated
    vocabulary           uint8 bytes: the bilm-tf vocabulary file
    {split}_token_types  uint32 [n_tokens]: index into ``types`` of every token
    {split}_offsets      int64 [n_sentences + 1]: token offset of each sentence
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from elmo_bench.atomic import write_atomically
from elmo_bench.errors import run_main
from elmo_bench.pretrain.bilm.corpus_source import DataSettings, read_corpus_source
from elmo_bench.pretrain.bilm.data import LmCorpus, PretrainingSource
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm_presets import get_preset
from elmo_bench.pretrain.vocab import Vocabulary, VocabularyError

PACKED_FORMAT = 1
_SPLITS = ("train", "heldout")


def pack_source(source: PretrainingSource, path: Path, max_train_tokens: int | None = None) -> dict[str, Any]:
    """Write ``source`` (train split cut to its first ``max_train_tokens`` words, whole sentences)
    to ``path`` atomically; returns the metadata written."""
    train = source.train if max_train_tokens is None else source.train.head(max_train_tokens)
    splits = {"train": train, "heldout": source.heldout}
    types = source.train.types
    arrays: dict[str, np.ndarray] = {}
    for name, corpus in splits.items():
        if corpus is None:
            continue
        if corpus.types is not types and list(corpus.types) != list(types):
            raise PretrainError(f"the {name} split does not share the training split's token types")
        start, end = int(corpus.sentence_offsets[0]), int(corpus.sentence_offsets[-1])
        arrays[f"{name}_token_types"] = np.asarray(corpus.token_types[start:end], dtype=np.uint32)
        arrays[f"{name}_offsets"] = np.asarray(corpus.sentence_offsets, dtype=np.int64) - start
    meta = {
        "format": PACKED_FORMAT,
        "source": source.description,
        "train_tokens": train.n_tokens,
        "train_sentences": train.n_sentences,
        "full_train_tokens": source.train.n_tokens,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    arrays["types"] = np.frombuffer("\n".join(types).encode("utf-8"), dtype=np.uint8)
    arrays["vocabulary"] = np.frombuffer(
        "".join(token + "\n" for token in source.vocabulary.tokens).encode("utf-8"), dtype=np.uint8
    )
    def write(temp: str) -> None:
        with open(temp, "wb") as stream:  # a file object: given a name, numpy would append ".npz"
            np.savez_compressed(stream, **arrays)

    write_atomically(Path(path), write)
    return meta


def load_packed(path: Path, vocabulary_dir: Path) -> PretrainingSource:
    """The :class:`PretrainingSource` packed in ``path``; its vocabulary file is written to
    ``vocabulary_dir/vocab.txt`` (runs record and export the vocabulary as a file).

    Raises:
        PretrainError: a missing, unreadable or incomplete file, or one of another format version.
    """
    path = Path(path)
    try:
        with np.load(path) as packed:
            contents = {name: packed[name] for name in packed.files}
    except (OSError, ValueError, EOFError) as error:
        raise PretrainError(f"{path}: not a readable packed corpus ({error})") from error
    required = {"meta", "types", "vocabulary", "train_token_types", "train_offsets"}
    missing = sorted(required - set(contents))
    if missing:
        raise PretrainError(f"{path}: not a packed corpus; missing arrays {missing}")
    meta = json.loads(contents["meta"].tobytes().decode("utf-8"))
    if meta.get("format") != PACKED_FORMAT:
        raise PretrainError(f"{path}: packed corpus format {meta.get('format')!r}, expected {PACKED_FORMAT}")
    types = contents["types"].tobytes().decode("utf-8").split("\n")
    vocabulary_path = Path(vocabulary_dir) / "vocab.txt"
    vocabulary_path.parent.mkdir(parents=True, exist_ok=True)
    vocabulary_path.write_bytes(contents["vocabulary"].tobytes())
    try:
        vocabulary = Vocabulary.load(vocabulary_path)
    except VocabularyError as error:
        raise PretrainError(f"{path}: {error}") from error
    type_to_word = vocabulary.encode(types)
    splits: dict[str, LmCorpus | None] = {}
    for name in _SPLITS:
        if f"{name}_token_types" not in contents:
            splits[name] = None
            continue
        token_types = contents[f"{name}_token_types"].astype(np.int32)
        if len(token_types) and int(token_types.max()) >= len(types):
            raise PretrainError(f"{path}: {name} token type {int(token_types.max())} beyond {len(types)} types")
        splits[name] = LmCorpus(token_types, type_to_word[token_types], contents[f"{name}_offsets"], types)
    description = dict(meta["source"], packed=str(path), train_tokens=meta["train_tokens"],
                       train_sentences=meta["train_sentences"], vocabulary_path=str(vocabulary_path))
    train = splits["train"]
    assert train is not None
    return PretrainingSource(train, splits["heldout"], vocabulary, vocabulary_path, {}, description)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elmo_bench.pretrain.packed", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="packed file to write (.npz)")
    parser.add_argument("--corpus", required=True, help="corpus file or folder (tokenized and cached on first use)")
    parser.add_argument("--preset", default="cpu-small", help="preset whose vocabulary settings to use")
    parser.add_argument("--max-train-tokens", type=int, help="keep only the first N training words")
    parser.add_argument("--workers", type=int, default=2, help="tokenizer processes (first use of a corpus)")
    args = parser.parse_args(argv)

    def pack() -> None:
        source = read_corpus_source(DataSettings(corpus=args.corpus, workers=args.workers),
                                    get_preset(args.preset).vocab)
        meta = pack_source(source, args.out, args.max_train_tokens)
        print(json.dumps({"out": str(args.out), "bytes": args.out.stat().st_size,
                          "train_tokens": meta["train_tokens"], "full_train_tokens": meta["full_train_tokens"]}))

    return run_main(parser.prog, pack)


if __name__ == "__main__":
    raise SystemExit(main())
