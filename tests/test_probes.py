"""Layer-wise linear probes: the probe head learns, token accuracy is right, the POS and chunk
tasks read CoNLL-2003's 2nd and 3rd columns, the ELMo layer embedders select their layer, and
`probes` writes its table from cell files (tiny files written here, the tiny AllenNLP biLM)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from elmo_bench.analysis.probes import load_cell_results, summarise, table_markdown
from elmo_bench.cli import main
from elmo_bench.commands import probes as probes_command
from elmo_bench.compared import UnknownEmbedderError, build_embedder
from elmo_bench.families.probe import LabelledTokens, token_accuracy
from elmo_bench.heads.linear_probe import LinearProbe
from elmo_bench.heads.scalar_mix_input import EmbeddingInput, InputSpec, WordInputs
from elmo_bench.task import discover_tasks

# (token, POS, chunk in IOB1, NER)
SENTENCES = [
    [("EU", "NNP", "I-NP", "I-ORG"), ("rejects", "VBZ", "I-VP", "O"), ("German", "JJ", "I-NP", "I-MISC"),
     ("call", "NN", "I-NP", "O"), (".", ".", "O", "O")],
    [("Peter", "NNP", "I-NP", "I-PER"), ("Blackburn", "NNP", "I-NP", "I-PER")],
    [("The", "DT", "I-NP", "O"), ("European", "NNP", "I-NP", "I-ORG"), ("Commission", "NNP", "I-NP", "I-ORG"),
     ("said", "VBD", "I-VP", "O"), ("on", "IN", "I-PP", "O"), ("Thursday", "NNP", "I-NP", "O")],
    [("Germany", "NNP", "I-NP", "I-LOC"), ("'s", "POS", "B-NP", "O"), ("representative", "NN", "I-NP", "O")],
    [("Britain", "NNP", "I-NP", "I-LOC"), ("backed", "VBD", "I-VP", "O"), ("the", "DT", "I-NP", "O"),
     ("proposal", "NN", "I-NP", "O"), (".", ".", "O", "O")],
]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def conll_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "conll2003").mkdir(parents=True)
    for split, sentences in (("train", SENTENCES), ("dev", SENTENCES[:2]), ("test", SENTENCES[2:])):
        text = "-DOCSTART- -X- -X- O\n\n" + "\n".join(
            "".join(f"{' '.join(row)}\n" for row in sentence) for sentence in sentences
        )
        (root / "conll2003" / f"{split}.txt").write_text(text, encoding="utf-8")
    monkeypatch.setenv("ELMO_BENCH_DATA", str(root))
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    return root


@pytest.fixture()
def glove_file(tmp_path):
    words = sorted({token.lower() for sentence in SENTENCES for token, *_ in sentence})
    path = tmp_path / "glove.txt"
    path.write_text(
        "".join(f"{word} {index % 3} {index % 5} {(index * 7) % 11}\n" for index, word in enumerate(words)),
        encoding="utf-8",
    )
    return path


def test_token_accuracy_counts_tokens_not_sentences():
    assert token_accuracy([["A", "B", "C"], ["A"]], [["A", "X", "C"], ["X"]]) == 0.5
    with pytest.raises(ValueError, match="sentence 1: 1 gold labels but 2 predicted"):
        token_accuracy([["A"], ["B"]], [["A"], ["B", "C"]])
    with pytest.raises(ValueError, match="3 tokens but 2 labels"):
        LabelledTokens(("a", "b", "c"), ("X", "Y"))


def test_linear_probe_learns_a_separable_labelling_and_respects_padding():
    torch.manual_seed(0)
    spec = InputSpec(n_layers=3, dim=4, mix=True, dropout=0.0, mix_l2=0.001)
    probe = LinearProbe(EmbeddingInput([spec]), ["NEG", "POS"])
    lengths = torch.tensor([5, 3])
    mask = torch.arange(5)[None, :] < lengths[:, None]
    layers = torch.randn(3, 2, 5, 4) * mask[None, :, :, None]
    inputs = WordInputs((layers,), mask)
    labels = (layers[2, :, :, 0] > 0).long()  # decided by one feature of the top layer
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.1)
    first = probe.loss(inputs, labels).item()
    for _ in range(60):
        optimizer.zero_grad()
        loss = probe.loss(inputs, labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < first / 3
    predicted = probe.predict(inputs)
    assert [len(row) for row in predicted] == [5, 3]
    expected = [["POS" if value else "NEG" for value in row[:n]] for row, n in zip(labels.tolist(), [5, 3])]
    assert predicted == expected
    assert probe.logits(inputs).shape == (2, 5, 2)


def test_layer_embedders_select_one_elmo_layer(tiny_elmo_dir):
    overrides = {"elmo.options": str(tiny_elmo_dir / "options.json"),
                 "elmo.weights": str(tiny_elmo_dir / "weights.hdf5")}
    for layer in (0, 1, 2):
        embedder = build_embedder(f"elmo-layer{layer}", overrides)
        (part,) = embedder.parts
        assert part.use.layers == (layer,) and not part.use.mix and part.n_layers == 1
    with pytest.raises(UnknownEmbedderError, match="did you mean 'elmo-layer1'"):
        build_embedder("elmo-layr1", overrides)


def test_pos_and_chunk_tasks_read_the_second_and_third_columns(conll_dir):
    registry = discover_tasks()
    pos = registry.get("conll2003_pos")().read("train")
    chunk = registry.get("conll2003_chunk")().read("train")
    assert pos[3] == LabelledTokens(("Germany", "'s", "representative"), ("NNP", "POS", "NN"))
    # IOB1 "I-NP B-NP I-NP" becomes IOB2 "B-NP B-NP I-NP".
    assert chunk[3].labels == ("B-NP", "B-NP", "I-NP")
    assert chunk[0].labels == ("B-NP", "B-VP", "B-NP", "I-NP", "O")
    scores = registry.get("conll2003_chunk")().score(chunk[:1], [["B-NP", "B-VP", "B-NP", "B-NP", "O"]])
    assert scores["accuracy"] == 0.8 and scores["chunk_f1"] == pytest.approx(2 * (2 / 4) * (2 / 3) / (2 / 4 + 2 / 3))


def test_one_probe_cell_through_the_task_command(conll_dir, tiny_elmo_dir, tmp_path):
    output = tmp_path / "pos.json"
    code = main([
        "task", "conll2003_pos", "--embedder", "elmo-layer1", "--quiet",
        "--elmo-options", str(tiny_elmo_dir / "options.json"),
        "--elmo-weights", str(tiny_elmo_dir / "weights.hdf5"),
        "--config", "training.max_epochs=1", "--output", str(output),
    ])
    assert code == 0
    result = json.loads(output.read_text())
    assert result["head"]["class"] == "LinearProbe"
    assert result["main_score"]["name"] == "accuracy" and 0.0 <= result["main_score"]["value"] <= 1.0
    assert result["scores"]["test"]["tokens"] == sum(len(s) for s in SENTENCES[2:])
    assert result["embedder_details"]["parts"][0]["layers"] == [1]
    # A linear map from the 32-d layer to the train split's 9 POS tags, nothing else.
    assert result["head"]["trainable_parameters"] == 32 * 9 + 9


def parse(arguments):
    parser = argparse.ArgumentParser()
    probes_command.configure(parser)
    return parser.parse_args(arguments)


def test_probes_command_runs_the_grid_keeps_cells_and_writes_the_table(
    conll_dir, tiny_elmo_dir, glove_file, tmp_path, capsys
):
    out = tmp_path / "probes"
    arguments = [
        "--embedders", "glove,elmo-layer0,elmo", "--out", str(out), "--quiet",
        "--glove", str(glove_file), "--elmo-options", str(tiny_elmo_dir / "options.json"),
        "--elmo-weights", str(tiny_elmo_dir / "weights.hdf5"), "--config", "training.max_epochs=1",
    ]
    assert probes_command.run(parse(arguments)) == 0
    assert sorted(path.name for path in (out / "cells").iterdir()) == sorted(
        f"{task}.{embedder}.seed1.json"
        for task in ("conll2003_pos", "conll2003_chunk") for embedder in ("glove", "elmo-layer0", "elmo")
    )
    summary = json.loads((out / "probes.json").read_text())
    assert set(summary["tasks"]) == {"conll2003_pos", "conll2003_chunk"}
    assert len(summary["tasks"]["conll2003_pos"]["elmo"]["mix_weights"][0]) == 3
    assert (out / "probes.png").stat().st_size > 0
    assert "| task | glove | elmo-layer0 | elmo |" in (out / "probes.md").read_text()
    assert "Strict chunk-span F1" in (out / "probes.md").read_text()
    assert set(summary["chunk_f1"]["tasks"]) == {"conll2003_chunk"}
    capsys.readouterr()
    assert probes_command.run(parse(arguments)) == 0
    assert capsys.readouterr().out.count("kept (--force reruns it)") == 6
    with pytest.raises(UnknownEmbedderError, match="'elmo-layer9'"):
        probes_command.run(parse(["--embedders", "elmo-layer9", "--out", str(out)]))


def cell(task, embedder, seed, accuracy, weights=None):
    return {
        "task": task, "embedder": embedder, "seed": seed,
        "scores": {"test": {"accuracy": accuracy}, "dev": {"accuracy": accuracy - 0.01}},
        "training": {"epochs": [{}, {}]},
        "head": {"learned_mixes": [None if weights is None else {"layer_weights": weights, "gamma": 1.0}]},
    }


def test_summary_averages_seeds_and_lists_mix_weights(tmp_path):
    paths = []
    for index, result in enumerate([
        cell("pos", "glove", 1, 0.80), cell("pos", "elmo", 1, 0.90, [0.2, 0.5, 0.3]),
        cell("pos", "elmo", 2, 0.92, [0.1, 0.6, 0.3]), cell("pos", "elmo-layer1", 1, 0.95),
    ]):
        paths.append(tmp_path / f"{index}.json")
        paths[-1].write_text(json.dumps(result))
    summary = summarise(load_cell_results(paths))
    elmo = summary["tasks"]["pos"]["elmo"]
    assert elmo["mean"] == pytest.approx(0.91) and elmo["std"] == pytest.approx(0.0141421, abs=1e-6)
    assert elmo["seeds"] == [1, 2] and elmo["epochs"] == 2
    table = table_markdown(summary)
    assert "| task | glove | elmo-layer1 | elmo |" in table
    assert "| pos | 80.00 | 95.00 | 91.00 ± 1.41 |" in table
    assert "seed 1: [0.20, 0.50, 0.30]; seed 2: [0.10, 0.60, 0.30]" in table
    bad = tmp_path / "bad.json"
    bad.write_text('{"task": "pos"}')
    with pytest.raises(ValueError, match=r"bad\.json: not a cell result"):
        load_cell_results([bad])
