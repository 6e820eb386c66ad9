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


def test_memory_estimate_grows_with_length_and_distinct_tokens(long_text, tiny_elmo_dir):
    options = ElmoOptions.from_file(tiny_elmo_dir / "options.json")
    document = [long_text.estimate_memory_mb("elmo-document", n, 0, options) for n in (10**3, 10**6)]
    # Per token: 3 layers x 32 floats x 4 bytes x 10 copies, plus 100 bytes of text.
    assert document[1] - document[0] == pytest.approx((10**6 - 10**3) * (3840 + 100) / 2**20)
    # The char-CNN's memory per distinct token: 50 chars x 4 dims, the widest convolution
    # (16 filters x 48 positions), 3 x 28 filters; float32.
    per_token = long_text.char_cnn_bytes_per_token(options)
    assert per_token == 4 * (50 * 4 + 16 * 48 + 3 * 28)
    with_chars = long_text.estimate_memory_mb("elmo-document", 10**3, 500, options)
    assert with_chars - document[0] == pytest.approx(500 * per_token / 2**20)
    # Sentence by sentence, the char-CNN and the LSTM work one batch at a time.
    sentences = long_text.estimate_memory_mb("elmo-sentences", 10**6, 10**5, options)
    assert sentences < long_text.estimate_memory_mb("elmo-document", 10**6, 10**5, options)


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
    assert "elmo-document at 10,000,000 tokens: refused: estimated at least 37,6" in printed
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
