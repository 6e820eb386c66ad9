"""The embedders' cost models on tiny inputs: ELMo's and the transformer's peak memory estimates
follow their phases, and the transformer's pieces, windows and FLOPs are what it runs."""

from __future__ import annotations

from elmo_bench.embedders import transformer_costs
from elmo_bench.embedders.elmo import memory as elmo_memory
from elmo_bench.embedders.elmo.flops import char_cnn_flops, embedding_flops, lstm_flops
from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.embedders.transformer_costs import TransformerShape


def test_elmo_memory_estimate_grows_with_length_and_the_char_cnn_stops_at_a_chunk(tiny_elmo_dir):
    options = ElmoOptions.from_file(tiny_elmo_dir / "options.json")
    # The char-CNN's memory per token: 50 chars x 4 dims, the widest convolution twice (16 filters
    # x 48 positions), 3 x 28 filters; float32.
    per_token = elmo_memory.char_cnn_bytes_per_token(options)
    assert per_token == 4 * (50 * 4 + 2 * 16 * 48 + 3 * 28)
    # A distinct token's records: 50 int64 ids and their Python list, three 16-float vectors.
    records = 50 * 8 + 56 + 50 * 8 + 3 * 16 * 4

    def document(tokens, distinct):
        return elmo_memory.embedding_bytes(options, tokens, distinct, one_sequence=True)

    # Long documents, where the biLSTM phase is the larger: per token the output and two working
    # copies of the [3 layers, 32] float32 layers.
    assert document(2 * 10**6, 0) - document(10**6, 0) == 10**6 * 3 * 384
    # A short document, where the char-CNN phase is the larger: below a chunk of 512 new tokens,
    # every new token adds its char-CNN memory; beyond, only its records (the char-CNN runs
    # ElmoEmbedder.CHAR_CNN_CHUNK tokens at a time).
    assert document(1000, 400) - document(1000, 300) == 100 * (per_token + records)
    assert document(10**4, 2000) - document(10**4, 1000) == 1000 * records
    # Sentence by sentence, the char-CNN and the LSTM work one batch at a time.
    assert elmo_memory.embedding_bytes(options, 10**6, 10**5, one_sequence=False) < document(10**6, 10**5)


def test_elmo_flops_count_the_char_cnn_per_distinct_token_and_the_lstm_per_position(tiny_elmo_dir):
    options = ElmoOptions.from_file(tiny_elmo_dir / "options.json")
    # 20 tokens, 12 distinct, in 3 sentences: 14 char-CNN runs (the markers too), 26 positions.
    assert embedding_flops(options, 20, 12, 3) == 14 * char_cnn_flops(options) + 26 * lstm_flops(options)


def test_transformer_memory_estimate_follows_its_windows():
    # 3 stored layers of width 8, windows of 12 pieces (10 of text) sharing 4, 32 a forward pass.
    shape = TransformerShape(hidden=8, intermediate=16, blocks=2, layers=3, window_pieces=12,
                             content_pieces=10, stride=4, batch_windows=32)
    assert shape.windows(7) == (1, 9)
    assert shape.windows(30) == (5, 12)  # text windows start at 0, 6, 12, 18 and 20

    # Small: the forward pass (5 windows x 12 positions x (3 states + 8 block copies) x 8 floats,
    # plus 2 x 16 feed-forward floats) and the pooling (3 layers x 8 floats x (60 positions +
    # 30 pieces + 3 x 20 words)) add up, with the pieces' records.
    forward = 4 * 60 * ((3 + 8) * 8 + 2 * 16)
    pooling = 4 * 3 * 8 * (60 + 30 + 3 * 20)
    assert transformer_costs.embedding_bytes(shape, 20, 30) == 30 * 300 + forward + pooling
    # Long: the model sees 32 windows at a time, beside the whole output [3, windows x 12, 8] that
    # pooling then reads; its feed-forward tensors stay under glibc's 32 MB mmap threshold, so
    # one pass's transients add to the pooling phase.
    pieces = 10**7
    windows = shape.windows(pieces)[0]
    transients = 4 * 12 * 32 * ((3 + 8) * 8 + 2 * 16)
    pooling = 4 * 3 * 8 * (12 * windows + pieces + 3 * pieces)
    assert transformer_costs.embedding_bytes(shape, pieces, pieces) == pieces * 300 + transients + pooling


def test_transformer_pieces_windows_and_flops_are_what_the_embedder_runs(tiny_wordpiece_bert, monkeypatch):
    from torch.utils.flop_counter import FlopCounterMode

    from elmo_bench.embedders.transformer import TransformerEmbedder

    embedder = TransformerEmbedder(tiny_wordpiece_bert)
    shape = TransformerShape.of(embedder)
    assert (shape.hidden, shape.blocks, shape.layers, shape.window_pieces, shape.content_pieces,
            shape.batch_windows, shape.pooler) == (16, 2, 3, 512, 510, 32, True)
    # 8 pieces a group ("unhappily" 3, "running" 2); "zebra" is [UNK]; "" has no piece and
    # becomes [UNK] too.
    words = ["the", "unhappily", "cat", "running", "."] * 120 + ["zebra", ""]
    pieces = transformer_costs.count_pieces(embedder.tokenizer, words)
    assert pieces == 120 * 8 + 2
    # 962 pieces: text windows of 510 at 0, 382 and 452, each with [CLS] and [SEP].
    assert shape.windows(pieces) == (3, 512)
    run = []
    forward = embedder._forward
    monkeypatch.setattr(embedder, "_forward", lambda windows: run.append([len(w) for w in windows]) or forward(windows))
    embedder.model.set_attn_implementation("eager")  # so that the attention products are counted too
    with FlopCounterMode(display=False) as counter:
        embedder.embed([words])
    assert run == [[512] * 3]
    assert counter.get_total_flops() == transformer_costs.embedding_flops(shape, 3, 512)
