"""Peak memory of embedding a text with :class:`~elmo_bench.embedders.elmo.embedder.ElmoEmbedder`,
estimated from the biLM's architecture (float32 throughout), so that a text too long for the
machine is refused before it is run into an out-of-memory kill.

``benchmarks/long_text.py`` checks the estimate against measured peaks (the peak over its
repeats, which the heap's fragmentation lifts): from 1,000 tokens on it came within -28% to +67%
of them, under only at 1,000 to 10,000 tokens.
"""
from __future__ import annotations

from .chars import MAX_CHARS
from .embedder import DEFAULT_MAX_BATCH_TOKENS, ElmoEmbedder
from .lstm import PRE_ACTIVATION_POSITIONS, gate_row_elements
from .options import ElmoOptions

LAYER_COPIES = 2
"""Float32 copies of the ``[L + 1, positions, 2P]`` layers alive at once while the biLSTM runs."""
CHAR_ID_BYTES_PER_TOKEN = MAX_CHARS * 8 + (56 + MAX_CHARS * 8)
"""A distinct token's 50 character ids: an int64 row and the Python list it is built from."""
TOKEN_VECTOR_COPIES = 3
"""Float32 copies of a distinct token's ``P``-dim vector: the chunk outputs, their
concatenation, the grown token table."""


def char_cnn_bytes_per_token(options: ElmoOptions) -> int:
    """Transient float32 memory of the char-CNN per token encoded: the character embeddings, the
    largest convolution output twice (one width runs at a time and is max-pooled at once, but
    oneDNN's convolution writes its own output and reorders it to torch's layout: 183 MB measured
    for 512 tokens of the small model's 1024 width-7 filters, one copy being 92 MB), the pooled
    filters and the highway layer's doubled projection."""
    widest = max(count * (MAX_CHARS - width + 1) for width, count in options.filters)
    return 4 * (MAX_CHARS * options.char_embedding_dim + 2 * widest + 3 * options.n_filters)


def embedding_bytes(options: ElmoOptions, tokens: int, distinct: int, one_sequence: bool,
                    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS) -> int:
    """Estimated peak bytes above the loaded biLM (the caller's own lists of token strings aside)
    to embed ``tokens`` tokens with ``distinct`` distinct ones, as one sequence
    (``one_sequence``) or sentence by sentence in batches of ``max_batch_tokens``. A run has two
    phases per batch:

    - the char-CNN over the batch's new tokens, ``ElmoEmbedder.CHAR_CNN_CHUNK`` at a time, so its
      transient memory is that of one chunk (:func:`char_cnn_bytes_per_token`);
    - the biLSTM over the batch's positions: its input pre-activations (``2 x 4C`` floats a
      position, in chunks of ``PRE_ACTIVATION_POSITIONS`` positions, in one buffer per layer), and
      at most :data:`LAYER_COPIES` float32 copies of the ``[L + 1, positions, 2P]`` layers (the
      LSTM's inputs and outputs, then its re-ordered results, the layer-0 vectors and their stack;
      the small model's biLM alone peaked at 177 MB on a 20,000-token sequence while two
      pre-activation chunks coexisted, 128 MB of it pre-activations, 59 MB being one copy).

    Kept throughout: the output, one ``[L + 1, tokens, 2P]`` copy (the padded tensor the embedder
    allocates before the biLM runs; sentence by sentence, every batch's output, which the
    per-sentence views keep), and the distinct tokens' records (:data:`CHAR_ID_BYTES_PER_TOKEN`,
    :data:`TOKEN_VECTOR_COPIES`). One sequence runs the two phases once each, the first freed
    before the second: its peak is the larger. Sentence by sentence the phases alternate batch
    after batch, and the measured peaks lie between the larger phase and their sum; the estimate
    takes the sum.
    """
    layer_bytes = (options.n_layers + 1) * options.output_dim * 4  # [L + 1, 2P] float32 per position
    new_tokens = distinct + 2  # the sentence markers are encoded too
    positions = tokens + 2 if one_sequence else min(tokens, max_batch_tokens)
    new_per_batch = min(new_tokens, positions)
    char_cnn = min(new_per_batch, ElmoEmbedder.CHAR_CNN_CHUNK) * char_cnn_bytes_per_token(options)
    pre_activations = min(positions, PRE_ACTIVATION_POSITIONS) * gate_row_elements(options.cell_dim) * 4
    lstm = pre_activations + LAYER_COPIES * positions * layer_bytes
    kept = (tokens * layer_bytes
            + new_tokens * TOKEN_VECTOR_COPIES * options.projection_dim * 4
            + new_per_batch * CHAR_ID_BYTES_PER_TOKEN)
    return kept + (max(char_cnn, lstm) if one_sequence else char_cnn + lstm)
