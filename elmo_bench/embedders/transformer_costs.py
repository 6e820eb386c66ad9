"""The work and peak memory of :class:`~elmo_bench.embedders.transformer.TransformerEmbedder` on a
long text, from its shape: how many word pieces and windows it runs, their matrix-product FLOPs,
and its peak memory (float32 throughout), so that a text too long for the machine is refused
before it is run into an out-of-memory kill.

``benchmarks/long_text.py`` checks the memory estimate against measured peaks (the peak over its
repeats, which the heap's fragmentation lifts) and the FLOPs against torch's flop counter.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elmo_bench.embedders.transformer import TransformerEmbedder, window_starts

BLOCK_HIDDEN_COPIES = 8
"""``[W, H]`` tensors of one block alive at once (see :func:`embedding_bytes`)."""
PIECE_BYTES = 300
"""A piece's records: the tokenizer's encoding, the embedder's id and word-index lists, its
window choice."""
GLIBC_MMAP_THRESHOLD_MAX = 32 * 2**20
"""glibc hands freed blocks of this size or more back to the system at once."""


@dataclass(frozen=True)
class TransformerShape:
    """What the transformer's memory and work depend on: its widths and how it cuts windows.

    Attributes:
        hidden: ``H``, the width of every hidden state.
        intermediate: the feed-forward width.
        blocks: transformer blocks; a forward pass returns ``blocks + 1`` hidden states.
        layers: hidden states the embedder keeps (all of them by default).
        window_pieces: pieces per window, special tokens included.
        content_pieces: pieces of text per window.
        stride: pieces shared by consecutive windows.
        batch_windows: windows per forward pass.
        pooler: whether the model also runs a pooler (BERT's dense layer on the first position).
    """

    hidden: int
    intermediate: int
    blocks: int
    layers: int
    window_pieces: int
    content_pieces: int
    stride: int
    batch_windows: int
    pooler: bool = False

    @classmethod
    def of(cls, embedder: TransformerEmbedder) -> "TransformerShape":
        """The shape of a loaded embedder."""
        config = embedder.model.config
        return cls(config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                   embedder.n_layers, embedder.max_pieces, embedder.content_pieces, embedder.stride,
                   embedder.batch_size, getattr(embedder.model, "pooler", None) is not None)

    def windows(self, pieces: int) -> tuple[int, int]:
        """``(windows, pieces per window)`` the embedder runs for one sequence of ``pieces`` pieces
        (every window of a long sequence is full; special tokens included)."""
        n_special = self.window_pieces - self.content_pieces
        return (len(window_starts(pieces, self.content_pieces, self.stride)),
                min(pieces, self.content_pieces) + n_special)


def count_pieces(tokenizer: Any, words: Sequence[str]) -> int:
    """Word pieces of ``words`` as the embedder runs them: a word the tokenizer (a Hugging Face
    fast tokenizer) turns into no piece becomes the unknown token (one piece)."""
    if not words:
        return 0
    word_ids = tokenizer(list(words), is_split_into_words=True, add_special_tokens=False, verbose=False).word_ids()
    per_word = [0] * len(words)
    for word in word_ids:
        per_word[word] += 1
    return sum(max(count, 1) for count in per_word)


def embedding_flops(shape: TransformerShape, windows: int, window_pieces: int) -> int:
    """Matrix-product FLOPs of ``windows`` windows of ``window_pieces`` pieces: in every block, the
    query, key, value and output projections, the feed-forward pair, and the two attention
    products (scores and weighted values); then the pooler, if any, on the first position."""
    W, H, I = window_pieces, shape.hidden, shape.intermediate
    per_block = 2 * W * (4 * H * H + 2 * H * I) + 2 * 2 * W * W * H
    return windows * (shape.blocks * per_block + (2 * H * H if shape.pooler else 0))


def embedding_bytes(shape: TransformerShape, tokens: int, pieces: int) -> int:
    """Estimated peak bytes above the loaded transformer (the caller's own lists of word strings
    aside) to embed one sequence of ``tokens`` words in ``pieces`` word pieces, in two phases:

    - the forward passes, ``batch_windows`` windows at a time, beside the output
      ``[layers, windows * W, H]`` that the embedder allocates first and fills batch by batch: per
      window of ``W`` pieces in the batch, the ``blocks + 1`` hidden states the model returns
      (``[W, H]`` each), and one block's transients: about :data:`BLOCK_HIDDEN_COPIES`
      ``[W, H]`` tensors (query, key, value, attention context, output projection, residual and
      layer norm, feed-forward output, its residual and layer norm) and the feed-forward's
      ``[W, intermediate]`` before and after GELU. SDPA's fused CPU kernel materialises no
      ``[W, W]`` attention scores (torch's SDPA on 30 windows of 512 pieces, 12 heads, peaked at
      56 MB with a mask, where the scores alone would take 360 MB);
    - pooling to words: that output, the gathered piece
      vectors ``[layers, pieces, H]``, and three ``[layers, tokens, H]`` tensors (the word sums,
      their means, and the padded output the embedder allocates first).

    glibc hands freed blocks of 32 MB or more back to the system at once but keeps smaller ones on
    its heap, where the pooling's tensors of other sizes seldom fit: while the forward pass's
    largest tensor (``[windows, W, intermediate]``) is under that, the two phases add up; beyond it,
    the peak is the larger phase. Plus the pieces' tokenizer and Python records
    (:data:`PIECE_BYTES`).
    """
    windows, window_pieces = shape.windows(pieces)
    positions = windows * window_pieces
    batch_positions = min(windows, shape.batch_windows) * window_pieces
    output = 4 * shape.layers * shape.hidden * positions
    transients = 4 * batch_positions * (
        (shape.blocks + 1 + BLOCK_HIDDEN_COPIES) * shape.hidden + 2 * shape.intermediate)
    pooling = output + 4 * shape.layers * shape.hidden * (pieces + 3 * tokens)
    largest_forward_tensor = 4 * batch_positions * shape.intermediate
    model = (transients + pooling if largest_forward_tensor < GLIBC_MMAP_THRESHOLD_MAX
             else max(output + transients, pooling))
    return pieces * PIECE_BYTES + model
