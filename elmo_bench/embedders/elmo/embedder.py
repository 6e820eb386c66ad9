"""ELMo as an :class:`~elmo_bench.embedders.base.Embedder`: all biLM layers for tokenized text.

Throughput levers (DESIGN.md section 3): sentences are sorted by length across the whole input
(not per batch) and packed into batches by a token budget, so there is almost no padding; the
char-CNN runs once per distinct token of the input; the LSTM hoists each layer's input projection
out of the time loop. Every sentence is embedded independently (the biLM is stateless here), so a
sentence gets the same vectors whatever else is in the input.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from ... import __version__
from ...data.sources import file_sha256
from ..base import Embedder, Layers, pad_sentence_layers
from .bilm import ElmoBiLm
from .chars import BOS_TOKEN, EOS_TOKEN, token_char_ids
from .weights import load_bilm

# Bump when a change to this package changes the vectors it computes (part of the fingerprint).
COMPUTATION_VERSION = 1
DEFAULT_MAX_BATCH_TOKENS = 8192
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def length_sorted_batches(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int) -> list[list[int]]:
    """Group sentence indices into batches of similar length.

    Indices are sorted by decreasing length over the whole input; a batch grows while
    ``rows * longest_row`` stays within ``max_batch_tokens`` and rows within ``max_batch_size``.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and ((len(current) + 1) * max(longest, 1) > max_batch_tokens or len(current) >= max_batch_size):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def framed_token_index(rows: Sequence[Sequence[str]], token_rows: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row as ``<S> tokens </S>``, as indices into a table of token vectors.

    Args:
        rows: token sequences; ``token_rows`` maps each of their tokens, ``<S>`` and ``</S>`` to
            its row of the table.

    Returns:
        ``(index [batch, max_len + 2], lengths [batch])``: int64, padding reads ``<S>``'s row;
        lengths count the two markers.
    """
    max_len = max(len(row) for row in rows)
    index = torch.full((len(rows), max_len + 2), token_rows[BOS_TOKEN], dtype=torch.long)
    for r, row in enumerate(rows):
        index[r, 1 : len(row) + 1] = torch.tensor([token_rows[t] for t in row], dtype=torch.long)
        index[r, len(row) + 1] = token_rows[EOS_TOKEN]
    return index, torch.tensor([len(row) + 2 for row in rows])


class ElmoEmbedder(Embedder):
    """All ``L + 1`` biLM layers (boundaries removed) of a frozen biLM.

    Args:
        bilm: the biLM; it is put in eval mode and frozen.
        weights_sha256: digest of the weights file, for the fingerprint (computed from the
            parameters when not given).
        dtype: computation dtype, ``"float32"``, ``"bfloat16"`` or ``"float16"``; outputs are
            float32 either way.
        max_batch_tokens: padded tokens per batch (rows x longest row).
        max_batch_size: rows per batch.
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
            raise ValueError(f"ElmoEmbedder: dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if bilm.stateful:
            raise ValueError("ElmoEmbedder needs a stateless biLM (stateful=False)")
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

        Sentences come out in length-sorted order, not input order; ``index`` says which input
        each one is. Peak memory is bounded by ``max_batch_tokens``, not by the input size.
        """
        lengths = [len(s) for s in sentences]
        batches = length_sorted_batches(lengths, self.max_batch_tokens, self.max_batch_size)
        token_rows: dict[str, int] = {}
        token_table = torch.empty(0, self.bilm.options.projection_dim, dtype=DTYPES[self.dtype], device=self.device)
        with torch.inference_mode(), tqdm(total=sum(lengths), unit="tok", desc="ELMo", disable=not progress) as bar:
            for batch in batches:
                rows = [sentences[i] for i in batch]
                token_table = self._add_tokens(rows, token_rows, token_table)
                output = self._run_batch(rows, token_rows, token_table)
                for row, index in enumerate(batch):
                    yield index, output[:, row, : lengths[index]].float()
                bar.update(sum(lengths[i] for i in batch))

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
        char_ids = torch.tensor([token_char_ids(t) for t in new], device=self.device)
        vectors = torch.cat([self.bilm.token_encoder(chunk) for chunk in char_ids.split(self.CHAR_CNN_CHUNK)])
        for token in new:
            token_rows[token] = len(token_rows)
        return torch.cat([table, vectors])

    def _run_batch(self, rows: list[list[str]], token_rows: dict[str, int], table: torch.Tensor) -> torch.Tensor:
        """``[L + 1, batch, max_len, 2P]`` for one batch, boundaries removed."""
        index, lengths = framed_token_index(rows, token_rows)
        output = self.bilm.forward_token_vectors(table[index.to(self.device)], lengths)
        return output.layers[:, :, 1:-1]
