"""ELMo as an :class:`~elmo_bench.embedders.base.Embedder`: all biLM layers for tokenized text.

Throughput levers (DESIGN.md section 3): short sentences are packed back to back into rows of
equal length (continuous batching: each sentence still starts from a zero state), so every step of
the biLSTM multiplies a full batch of rows and there is no padding; the char-CNN runs once per
distinct token of the input; the LSTM hoists each layer's input projection out of the time loop.
Every sentence is embedded independently (the biLM is stateless here), so a sentence gets the same
vectors whatever else is in the input.

:data:`ELMO` declares the ``elmo`` source that settings name (:mod:`elmo_bench.embedders.registry`).
"""
from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from elmo_bench.errors import UsageError
from elmo_bench.settings import SettingsError
from ... import __version__
from ...data.sources import file_sha256
from ..base import Embedder, Layers, pad_sentence_layers
from ..source import EmbedderSource
from .bilm import ElmoBiLm
from .chars import BOS_TOKEN, EOS_TOKEN, token_char_ids
from .weights import load_bilm

# Bump when a change to this package changes the vectors it computes (part of the fingerprint).
COMPUTATION_VERSION = 1
# Framed tokens per biLSTM call: rows of 64 tokens, 512 rows (see packed_rows).
DEFAULT_MAX_BATCH_TOKENS = 32768
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def packed_rows(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int) -> list[list[list[int]]]:
    """Plan the biLSTM calls: each call a list of rows, each row a list of sentence indices.

    Args:
        lengths: each sentence's framed length (tokens + the two markers).

    Sentences are placed back to back in rows (each still runs from a zero state), so the rows of
    a call have almost the same length and every time step multiplies a full batch. A call's rows
    hold ``T`` framed tokens: ``max_batch_tokens // max_batch_size``, or the longest sentence
    waiting when it is longer, or less when little text is left (so the last call still has many
    rows); it has ``min(max_batch_size, max_batch_tokens // T)`` rows (fewer when less text is
    left). Sentences go longest first, each to the currently shortest row if it fits there; one
    that does not waits for the next call.
    """
    waiting = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    calls: list[list[list[int]]] = []
    while waiting:
        left = sum(lengths[i] for i in waiting)
        row_length = max(lengths[waiting[0]], min(max_batch_tokens // max_batch_size, -(-left // max_batch_size)), 1)
        n_rows = max(1, min(max_batch_size, max_batch_tokens // row_length, -(-left // row_length)))
        rows: list[list[int]] = [[] for _ in range(n_rows)]
        loads = [(0, row) for row in range(n_rows)]
        later = []
        for index in waiting:
            load, row = loads[0]
            if load + lengths[index] > row_length:
                later.append(index)
                continue
            rows[row].append(index)
            heapq.heapreplace(loads, (load + lengths[index], row))
        calls.append([row for row in rows if row])
        waiting = later
    return calls


@dataclass
class PackedIndex:
    """Rows of framed sentences placed back to back, as indices into a table of token vectors.

    Attributes:
        index: int64 ``[rows, max_len]``; padding reads ``<S>``'s row.
        lengths: int64 ``[rows]``, markers included.
        segment_starts: bool ``[rows, max_len]``, True at each sentence's ``<S>``.
        offsets: per row, where each of its sentences' ``<S>`` is.
    """

    index: torch.Tensor
    lengths: torch.Tensor
    segment_starts: torch.Tensor
    offsets: list[list[int]]


def packed_token_index(rows: Sequence[Sequence[Sequence[str]]], token_rows: dict[str, int]) -> PackedIndex:
    """Each row's sentences as ``<S> tokens </S>`` one after the other; ``token_rows`` maps each
    token, ``<S>`` and ``</S>`` to its row of the table."""
    bos, eos = token_rows[BOS_TOKEN], token_rows[EOS_TOKEN]
    framed = [[[bos, *(token_rows[t] for t in sentence), eos] for sentence in row] for row in rows]
    lengths = [sum(len(ids) for ids in row) for row in framed]
    index = torch.full((len(rows), max(lengths)), bos, dtype=torch.long)
    starts = torch.zeros(len(rows), max(lengths), dtype=torch.bool)
    offsets = []
    for r, row in enumerate(framed):
        flat = [i for ids in row for i in ids]
        index[r, : len(flat)] = torch.tensor(flat, dtype=torch.long)
        row_offsets = [sum(len(ids) for ids in row[:k]) for k in range(len(row))]
        starts[r, row_offsets] = True
        offsets.append(row_offsets)
    return PackedIndex(index, torch.tensor(lengths), starts, offsets)


def framed_token_index(rows: Sequence[Sequence[str]], token_rows: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row as ``<S> tokens </S>``: ``(index [batch, max_len + 2], lengths [batch])`` as in
    :func:`packed_token_index` with one sentence a row."""
    packed = packed_token_index([[row] for row in rows], token_rows)
    return packed.index, packed.lengths


class ElmoEmbedder(Embedder):
    """All ``L + 1`` biLM layers (boundaries removed) of a frozen biLM.

    Args:
        bilm: the biLM; it is put in eval mode and frozen.
        weights_sha256: digest of the weights file, for the fingerprint (computed from the
            parameters when not given).
        dtype: computation dtype, ``"float32"``, ``"bfloat16"`` or ``"float16"``; outputs are
            float32 either way.
        max_batch_tokens: framed tokens per biLSTM call (rows x row length; bounds memory).
        max_batch_size: rows per call (see :func:`packed_rows`).
        device: where to run.
        compile: fuse the LSTM's element-wise step with ``torch.compile`` (about 30 s once per
            process; worth it beyond a few thousand tokens).
    """

    name = "elmo"

    def __init__(
        self,
        bilm: ElmoBiLm,
        weights_sha256: str | None = None,
        dtype: str = "float32",
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        max_batch_size: int = 512,
        device: str | torch.device = "cpu",
        compile: bool = False,
    ) -> None:
        if dtype not in DTYPES:
            raise UsageError(f"ElmoEmbedder: dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if bilm.stateful:
            raise UsageError("ElmoEmbedder needs a stateless biLM (stateful=False)")
        self.dtype = dtype
        self.device = torch.device(device)
        self.bilm = bilm.eval().requires_grad_(False).to(device=self.device, dtype=DTYPES[dtype])
        self.max_batch_tokens = max_batch_tokens
        self.max_batch_size = max_batch_size
        self._weights_sha256 = weights_sha256 or self._parameters_sha256()
        if compile:
            self.bilm.lstm.compile_cell()

    @classmethod
    def from_files(cls, options_path: str | Path, weights_path: str | Path, **kwargs) -> "ElmoEmbedder":
        """Load an official ``options.json`` + ``weights.hdf5`` pair."""
        return cls(load_bilm(options_path, weights_path), weights_sha256=file_sha256(weights_path), **kwargs)

    @classmethod
    def from_name(cls, name: str, **kwargs) -> "ElmoEmbedder":
        """A published model (``small``, ``medium``, ``original``, ``original-5.5B``), downloaded once."""
        from .published import published_files

        options_path, weights_path = published_files(name)
        return cls.from_files(options_path, weights_path, **kwargs)

    @property
    def n_layers(self) -> int:
        return self.bilm.n_layers

    @property
    def dim(self) -> int:
        return self.bilm.output_dim

    def fingerprint_parts(self) -> dict:
        return {
            "weights_sha256": self._weights_sha256,
            "options": self.bilm.options.to_dict(),
            "dtype": self.dtype,
            "code": [__version__, COMPUTATION_VERSION],
        }

    def _parameters_sha256(self) -> str:
        digest = hashlib.sha256()
        for name, tensor in sorted(self.bilm.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def embed(self, sentences: list[list[str]]) -> Layers:
        """See :meth:`Embedder.embed`; shape ``[L + 1, batch, max_len, 2P]``."""
        return pad_sentence_layers(sentences, self.n_layers, self.dim, self.iter_embeddings(sentences, progress=False))

    def iter_embeddings(
        self, sentences: Sequence[list[str]], progress: bool = True
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Embed many sentences efficiently, yielding ``(index, layers [L + 1, len, 2P])``.

        Sentences come out in the order of :func:`packed_rows`, not input order; ``index`` says
        which input each one is. Peak memory is bounded by ``max_batch_tokens``, not by the input size.
        """
        lengths = [len(s) for s in sentences]
        calls = packed_rows([n + 2 for n in lengths], self.max_batch_tokens, self.max_batch_size)
        token_rows: dict[str, int] = {}
        token_table = torch.empty(0, self.bilm.options.projection_dim, dtype=DTYPES[self.dtype], device=self.device)
        with torch.inference_mode(), tqdm(total=sum(lengths), unit="tok", desc="ELMo", disable=not progress) as bar:
            for call in calls:
                rows = [[sentences[i] for i in row] for row in call]
                token_table = self._add_tokens([s for row in rows for s in row], token_rows, token_table)
                packed = packed_token_index(rows, token_rows)
                layers = self.bilm.forward_token_vectors(
                    token_table[packed.index.to(self.device)], packed.lengths, packed.segment_starts
                ).layers
                for r, row in enumerate(call):
                    for index, offset in zip(row, packed.offsets[r]):
                        yield index, layers[:, r, offset + 1 : offset + 1 + lengths[index]].float()
                bar.update(sum(lengths[i] for row in call for i in row))

    # Distinct tokens whose char-CNN vectors are kept between batches: bounds memory on huge inputs.
    _MAX_CACHED_TOKENS = 200_000
    # Distinct tokens per char-CNN call: its convolution outputs take [tokens, 50, filters] floats
    # (400 KB a token for the original 2048 filters), so a whole document's new tokens go in chunks.
    CHAR_CNN_CHUNK = 512

    def _add_tokens(self, rows: list[list[str]], token_rows: dict[str, int], table: torch.Tensor) -> torch.Tensor:
        """Run the char-CNN on the tokens of ``rows`` not seen before; returns the grown table."""
        if len(token_rows) > self._MAX_CACHED_TOKENS:
            token_rows.clear()
            table = table[:0]
        new = [t for t in dict.fromkeys(token for row in rows for token in row) if t not in token_rows]
        for marker in (BOS_TOKEN, EOS_TOKEN):
            if marker not in token_rows and marker not in new:
                new.append(marker)
        if not new:
            return table
        # Shortest words first, so each chunk's char-CNN runs only as many positions as its longest
        # word needs (pooled_char_length).
        new.sort(key=lambda token: len(token.encode("utf-8", "ignore")))
        char_ids = torch.tensor([token_char_ids(t) for t in new], device=self.device)
        vectors = torch.cat([self.bilm.token_encoder(chunk) for chunk in char_ids.split(self.CHAR_CNN_CHUNK)])
        for token in new:
            token_rows[token] = len(token_rows)
        return torch.cat([table, vectors])


def load_elmo(settings: Mapping[str, Any]) -> ElmoEmbedder:
    """The ``elmo`` source's embedder: a published ``model``, or ``options`` + ``weights``, or the
    export of a ``pretrain_run`` folder, run as ``dtype``, ``max_batch_tokens``, ``device`` and
    ``compile`` say.

    Raises:
        SettingsError: the settings name no weights, or both files and a published name.
    """
    runtime = {
        "dtype": settings["dtype"],
        "max_batch_tokens": settings["max_batch_tokens"],
        "device": settings["device"],
        "compile": settings["compile"],
    }
    has_files = settings["options"] is not None or settings["weights"] is not None
    if settings["model"] is not None and has_files:
        raise SettingsError("embedder.elmo: give either model or options + weights, not both")
    if settings["model"] is not None:
        return ElmoEmbedder.from_name(settings["model"], **runtime)
    options, weights = settings["options"], settings["weights"]
    if not has_files and settings["pretrain_run"] is not None:
        options = Path(settings["pretrain_run"]) / "options.json"
        weights = Path(settings["pretrain_run"]) / "weights.hdf5"
    if options is None or weights is None:
        raise SettingsError(
            "ELMo needs embedder.elmo.options and embedder.elmo.weights (an options.json and "
            "weights.hdf5 pair), embedder.elmo.pretrain_run (an elmo-bench pretrain folder) "
            "or embedder.elmo.model (a published name such as 'small')"
        )
    return ElmoEmbedder.from_files(options, weights, **runtime)


def prepare_elmo(settings: Mapping[str, Any]) -> str | None:
    """Download the published model the settings name, if any."""
    if settings["model"] is None:
        return None
    from .published import published_files

    published_files(settings["model"])
    return f"ELMo {settings['model']}"


ELMO = EmbedderSource(
    "elmo",
    {
        "options": None,
        "weights": None,
        "model": None,
        "pretrain_run": None,
        "lm_finetune_steps": 150,
        "lm_finetune_learning_rate": 5e-4,
        "dtype": "float32",
        "max_batch_tokens": DEFAULT_MAX_BATCH_TOKENS,
        "device": "cpu",
        "compile": False,
    },
    load_elmo,
    prepare_elmo,
)
"""``elmo``: ``elmo.options`` + ``elmo.weights`` (files) or ``elmo.model`` (a published name:
small, medium, original, original-5.5B) or ``elmo.pretrain_run`` (a folder written by
``elmo-bench pretrain``: its export stands in for options + weights, and its checkpoint, which
holds the softmax, is what ``elmo-lm-finetuned`` fine-tunes, for ``elmo.lm_finetune_steps`` steps
at peak learning rate ``elmo.lm_finetune_learning_rate``); then how it runs: ``dtype``,
``max_batch_tokens``, ``device``, ``compile``."""
