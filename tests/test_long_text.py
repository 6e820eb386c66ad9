"""The long-text benchmark's pieces on tiny inputs: text cutting, the memory estimate and the
refusal it drives (no subprocess), one measurement in-process with the tiny AllenNLP biLM, and the
one-line error for too little text."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from elmo_bench.embedders.elmo.options import ElmoOptions

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "long_text.py"


@pytest.fixture(scope="module")
def long_text():
    spec = importlib.util.spec_from_file_location("long_text_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "wiki.txt").write_text(
        "The bank of the river was muddy . We walked along it for an hour .\n"
        "She played the piano in Vienna . The audience liked it .\n",
        encoding="utf-8",
    )
    return folder


def test_text_is_cut_at_the_asked_length(long_text, corpus):
    sentences = long_text.wikipedia_sentences(corpus, 10)
    assert sentences[0][:3] == ["The", "bank", "of"]
    cut = long_text.first_tokens(sentences, 10)
    assert sum(map(len, cut)) == 10 and cut[0] == sentences[0]
    with pytest.raises(long_text.LongTextError, match=r"corpus: the corpus holds 28 tokens, fewer than the 1000"):
        long_text.wikipedia_sentences(corpus, 1000)


def test_elmo_memory_estimate_grows_with_length_and_the_char_cnn_stops_at_a_chunk(long_text, tiny_elmo_dir):
    options = ElmoOptions.from_file(tiny_elmo_dir / "options.json")
    mb = 2**20
    # The char-CNN's memory per token: 50 chars x 4 dims, the widest convolution twice (16 filters
    # x 48 positions), 3 x 28 filters; float32.
    per_token = long_text.char_cnn_bytes_per_token(options)
    assert per_token == 4 * (50 * 4 + 2 * 16 * 48 + 3 * 28)
    # A distinct token's records: 50 int64 ids and their Python list, three 16-float vectors.
    records = 50 * 8 + 56 + 50 * 8 + 3 * 16 * 4

    def document(tokens, distinct):
        return long_text.estimate_memory_mb("elmo-document", tokens, distinct, options)

    # Long documents, where the biLSTM phase is the larger: per token the text (100 bytes), the
    # output and two working copies of the [3 layers, 32] float32 layers.
    assert document(2 * 10**6, 0) - document(10**6, 0) == pytest.approx(10**6 * (100 + 3 * 384) / mb)
    # A short document, where the char-CNN phase is the larger: below a chunk of 512 new tokens,
    # every new token adds its char-CNN memory; beyond, only its records (the char-CNN runs
    # ElmoEmbedder.CHAR_CNN_CHUNK tokens at a time).
    assert document(1000, 400) - document(1000, 300) == pytest.approx(100 * (per_token + records) / mb)
    assert document(10**4, 2000) - document(10**4, 1000) == pytest.approx(1000 * records / mb)
    # Sentence by sentence, the char-CNN and the LSTM work one batch at a time.
    sentences = long_text.estimate_memory_mb("elmo-sentences", 10**6, 10**5, options)
    assert sentences < document(10**6, 10**5)
    with pytest.raises(long_text.LongTextError, match="needs the biLM's options"):
        long_text.estimate_memory_mb("elmo-document", 10, 5)


def test_transformer_memory_estimate_follows_its_windows(long_text):
    # 3 stored layers of width 8, windows of 12 pieces (10 of text) sharing 4.
    shape = long_text.TransformerShape(hidden=8, intermediate=16, blocks=2, layers=3, window_pieces=12,
                                       content_pieces=10, stride=4)
    assert shape.windows(7) == (1, 9)
    assert shape.windows(30) == (5, 12)  # text windows start at 0, 6, 12, 18 and 20

    def estimate(tokens, pieces):
        return long_text.estimate_memory_mb("transformer", tokens, 0, transformer=shape, pieces=pieces) * 2**20

    # Small: the forward pass (5 windows x 12 positions x (3 states + 8 block copies) x 8 floats,
    # plus 2 x 16 feed-forward floats) and the pooling (3 layers x 8 floats x (60 positions +
    # 30 pieces + 3 x 20 words)) add up, with the text's and the pieces' records.
    forward = 4 * 60 * ((3 + 8) * 8 + 2 * 16)
    pooling = 4 * 3 * 8 * (60 + 30 + 3 * 20)
    assert estimate(20, 30) == pytest.approx(20 * 100 + 30 * 300 + forward + pooling)
    # Without a piece count, one piece a word: a lower bound.
    assert estimate(20, 0) == estimate(20, 20) < estimate(20, 30)
    # Long: the model sees 32 windows at a time, beside the whole output [3, windows x 12, 8] that
    # pooling then reads; its feed-forward tensors stay under glibc's 32 MB mmap threshold, so
    # one pass's transients add to the pooling phase.
    pieces = 10**7
    windows = shape.windows(pieces)[0]
    transients = 4 * 12 * 32 * ((3 + 8) * 8 + 2 * 16)
    pooling = 4 * 3 * 8 * (12 * windows + pieces + 3 * pieces)
    assert estimate(pieces, pieces) == pytest.approx(pieces * (100 + 300) + transients + pooling)
    with pytest.raises(long_text.LongTextError, match="needs the transformer's shape"):
        long_text.estimate_memory_mb("transformer", 10, 5)


def test_lengths_beyond_the_limit_are_refused_with_the_estimate(long_text, tiny_elmo_dir, corpus, tmp_path, capsys):
    out = tmp_path / "long.json"
    code = long_text.main([
        "--elmo-options", str(tiny_elmo_dir / "options.json"),
        "--elmo-weights", str(tiny_elmo_dir / "weights.hdf5"),
        "--corpus", str(corpus), "--modes", "elmo-document,elmo-sentences",
        "--lengths", "10000000", "--max-memory-mb", "1000", "--out", str(out),
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "elmo-document at 10,000,000 tokens: refused: estimated at least 11,941 MB" in printed
    assert "exceeds --max-memory-mb 1,000" in printed
    summary = json.loads(out.read_text())
    assert [m["status"] for m in summary["measurements"]] == ["refused", "refused"]
    assert summary["matmul_gflops"]["before"] > 0
    assert out.with_suffix(".md").exists() and not out.with_suffix(".png").exists()


def test_bad_requests_get_one_line(long_text, tiny_elmo_dir, corpus, tmp_path, capsys):
    common = ["--elmo-options", str(tiny_elmo_dir / "options.json"),
              "--elmo-weights", str(tiny_elmo_dir / "weights.hdf5"), "--corpus", str(corpus),
              "--out", str(tmp_path / "x.json")]
    assert long_text.main([*common, "--modes", "glove"]) == 2
    assert "the glove mode needs --glove" in capsys.readouterr().err
    assert long_text.main([*common, "--modes", "elmo-document", "--lengths", "500", "--repeats", "1"]) == 2
    assert "holds 28 tokens, fewer than the 500 asked" in capsys.readouterr().err


def test_one_measurement_in_process(long_text, tiny_elmo_dir, corpus, tmp_path):
    text = tmp_path / "text.json"
    text.write_text(json.dumps(long_text.wikipedia_sentences(corpus, 20)))
    threads = torch.get_num_threads()
    try:
        args = long_text.parse_args([
            "--worker", "elmo-sentences", "--length", "20", "--text", str(text), "--repeats", "1",
            "--elmo-options", str(tiny_elmo_dir / "options.json"),
            "--elmo-weights", str(tiny_elmo_dir / "weights.hdf5"),
        ])
        result = long_text.worker(args)
    finally:
        torch.set_num_threads(threads)
    assert result["tokens"] == 20 and result["sentences"] == 3
    assert result["seconds"] > 0 and result["peak_rss_mb"] >= result["model_rss_mb"] - 5


TINY_BERT_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "un", "##happi", "##ly",
                   "run", "##ning", "."]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A saved 2-block BERT of width 16 with a 13-entry WordPiece vocabulary."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    (folder / "vocab.txt").write_text("\n".join(TINY_BERT_VOCAB) + "\n", encoding="utf-8")
    transformers.BertTokenizerFast.from_pretrained(folder).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(TINY_BERT_VOCAB), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=512)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


def test_transformer_pieces_windows_and_flops_are_what_the_embedder_runs(long_text, tiny_bert, monkeypatch):
    from torch.utils.flop_counter import FlopCounterMode

    from elmo_bench.embedders.transformer import TransformerEmbedder

    embedder = TransformerEmbedder(tiny_bert)
    shape = long_text.TransformerShape.of(embedder)
    assert (shape.hidden, shape.blocks, shape.layers, shape.window_pieces, shape.content_pieces, shape.pooler) == (
        16, 2, 3, 512, 510, True)
    # 8 pieces a group ("unhappily" 3, "running" 2); "zebra" is [UNK]; "" has no piece and
    # becomes [UNK] too.
    words = ["the", "unhappily", "cat", "running", "."] * 120 + ["zebra", ""]
    pieces = long_text.count_pieces(embedder.tokenizer, words)
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
    assert counter.get_total_flops() == long_text.transformer_flops(shape, 3, 512)


def test_transformer_mode_end_to_end(long_text, tiny_bert, corpus, tmp_path):
    out = tmp_path / "long.json"
    code = long_text.main([
        "--transformer-model", str(tiny_bert), "--corpus", str(corpus), "--modes", "transformer",
        "--lengths", "20", "--repeats", "1", "--max-memory-mb", "1000", "--out", str(out),
    ])
    assert code == 0
    summary = json.loads(out.read_text())
    assert summary["elmo"] is None and summary["transformer"] == str(tiny_bert.resolve())
    [measured] = summary["measurements"]
    assert measured["status"] == "measured", measured["message"]
    # Every word of the corpus outside the tiny vocabulary is one [UNK] piece.
    assert (measured["tokens"], measured["pieces"], measured["windows"]) == (20, 20, 1)
    assert measured["efficiency"] > 0 and measured["peak_above_model_mb"] >= 0
    assert "| transformer | 20 |" in out.with_suffix(".md").read_text()
    assert "20 pieces in 1 window(s)" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").exists()
