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

from elmo_bench.embedders import transformer_costs
from elmo_bench.embedders.elmo import memory as elmo_memory
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


def test_the_estimate_is_the_text_plus_the_embedders_own_model(long_text, tiny_elmo_dir):
    """The benchmark adds its text's records (100 bytes a token) to the embedders' memory models
    (tested with them in test_embedding_costs.py)."""
    options = ElmoOptions.from_file(tiny_elmo_dir / "options.json")
    mb = 2**20
    for mode, one_sequence in (("elmo-document", True), ("elmo-sentences", False)):
        model = elmo_memory.embedding_bytes(options, 5000, 700, one_sequence)
        assert long_text.estimate_memory_mb(mode, 5000, 700, options) == (5000 * 100 + model) / mb
    shape = transformer_costs.TransformerShape(hidden=8, intermediate=16, blocks=2, layers=3, window_pieces=12,
                                               content_pieces=10, stride=4, batch_windows=32)
    # Without a piece count, one piece a word: a lower bound.
    assert long_text.estimate_memory_mb("transformer", 20, 0, transformer=shape) == (
        20 * 100 + transformer_costs.embedding_bytes(shape, 20, 20)) / mb
    assert long_text.estimate_memory_mb("transformer", 20, 0, transformer=shape, pieces=30) > (
        long_text.estimate_memory_mb("transformer", 20, 0, transformer=shape))
    assert long_text.estimate_memory_mb("glove", 10, 0) == 10 * (100 + 8 + 2400) / mb
    with pytest.raises(long_text.LongTextError, match="needs the biLM's options"):
        long_text.estimate_memory_mb("elmo-document", 10, 5)
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


def test_transformer_mode_end_to_end(long_text, tiny_wordpiece_bert, corpus, tmp_path):
    out = tmp_path / "long.json"
    code = long_text.main([
        "--transformer-model", str(tiny_wordpiece_bert), "--corpus", str(corpus), "--modes", "transformer",
        "--lengths", "20", "--repeats", "1", "--max-memory-mb", "1000", "--out", str(out),
    ])
    assert code == 0
    summary = json.loads(out.read_text())
    assert summary["elmo"] is None and summary["transformer"] == str(tiny_wordpiece_bert.resolve())
    [measured] = summary["measurements"]
    assert measured["status"] == "measured", measured["message"]
    # Every word of the corpus outside the tiny vocabulary is one [UNK] piece.
    assert (measured["tokens"], measured["pieces"], measured["windows"]) == (20, 20, 1)
    assert measured["efficiency"] > 0 and measured["peak_above_model_mb"] >= 0
    assert "| transformer | 20 |" in out.with_suffix(".md").read_text()
    assert "20 pieces in 1 window(s)" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").exists()
