"""`elmo-bench embed`: AllenNLP's HDF5 layout, layer choices, fp16, resume and input errors."""
import json

import h5py
import numpy as np
import pytest

from elmo_bench.cli import main
from elmo_bench.embedders.elmo.embedder import ElmoEmbedder

LINES = ["The cat sat on the mat .", "Zürich is big", "The cat sat on the mat ."]


@pytest.fixture()
def text_file(tmp_path):
    path = tmp_path / "input.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def model_args(tiny_elmo_dir):
    return ["--options", str(tiny_elmo_dir / "options.json"), "--weights", str(tiny_elmo_dir / "weights.hdf5")]


def test_all_layers_in_allennlp_layout(tiny_elmo_dir, text_file, tmp_path):
    out = tmp_path / "out.hdf5"
    assert main(["embed", str(text_file), str(out), *model_args(tiny_elmo_dir)]) == 0
    embedder = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    expected = embedder.embed([line.split() for line in LINES])
    with h5py.File(out, "r") as handle:
        assert sorted(handle) == ["0", "1", "2", "sentence_to_index"]
        index = json.loads(handle["sentence_to_index"][()])
        assert index == {"The cat sat on the mat .": "0", "Zürich is big": "1"}
        for i, line in enumerate(LINES):
            n = len(line.split())
            assert handle[str(i)].shape == (3, n, 32)
            assert handle[str(i)].dtype == np.float32
            np.testing.assert_allclose(handle[str(i)][...], expected.activations[:, i, :n].numpy(), atol=1e-5)
    assert not (tmp_path / "out.hdf5.partial").exists()


def test_top_mix_and_fp16(tiny_elmo_dir, text_file, tmp_path):
    full, top, mix = tmp_path / "full.h5", tmp_path / "top.h5", tmp_path / "mix.h5"
    main(["embed", str(text_file), str(full), *model_args(tiny_elmo_dir)])
    main(["embed", str(text_file), str(top), "--top", "--dtype", "float16", *model_args(tiny_elmo_dir)])
    main(["embed", str(text_file), str(mix), "--mix", "0.2", "0.3", "0.5", *model_args(tiny_elmo_dir)])
    with h5py.File(full) as f, h5py.File(top) as t, h5py.File(mix) as m:
        layers = f["1"][...]
        assert t["1"].dtype == np.float16 and t["1"].shape == (3, 32)
        np.testing.assert_allclose(t["1"][...], layers[2], atol=2e-3)
        np.testing.assert_allclose(m["1"][...], 0.2 * layers[0] + 0.3 * layers[1] + 0.5 * layers[2], atol=1e-5)


def test_resume_keeps_finished_sentences(tiny_elmo_dir, text_file, tmp_path, capsys):
    out = tmp_path / "out.hdf5"
    main(["embed", str(text_file), str(out), *model_args(tiny_elmo_dir)])
    with h5py.File(out, "a") as handle:
        del handle["2"], handle["sentence_to_index"]
        handle["0"][...] = 7.0  # marks a dataset a resumed run must keep, not recompute
    out.rename(tmp_path / "out.hdf5.partial")
    assert main(["embed", str(text_file), str(out), *model_args(tiny_elmo_dir)]) == 0
    assert "resuming: 2 of 3 sentences already embedded" in capsys.readouterr().out
    with h5py.File(out) as handle:
        assert (handle["0"][...] == 7.0).all()
        embedder = ElmoEmbedder.from_files(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
        expected = embedder.embed([LINES[2].split()]).activations[:, 0].numpy()
        np.testing.assert_allclose(handle["2"][...], expected, atol=1e-5)
        assert "sentence_to_index" in handle


def test_partial_from_another_model_is_discarded(tiny_elmo_dir, text_file, tmp_path):
    out = tmp_path / "out.hdf5"
    with h5py.File(tmp_path / "out.hdf5.partial", "w") as handle:
        handle.attrs["run_key"] = "something else"
        handle["0"] = np.zeros((3, 7, 32), np.float32)
    main(["embed", str(text_file), str(out), *model_args(tiny_elmo_dir)])
    with h5py.File(out) as handle:
        assert np.abs(handle["0"][...]).max() > 0


def test_empty_line_is_reported_with_its_number(tiny_elmo_dir, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_text("one sentence\n\nanother\n", encoding="utf-8")
    assert main(["embed", str(path), str(tmp_path / "o.h5"), *model_args(tiny_elmo_dir)]) == 2
    assert f"{path}:2: empty line" in capsys.readouterr().err


def test_model_arguments_are_checked(tiny_elmo_dir, text_file, tmp_path, capsys):
    assert main(["embed", str(text_file), str(tmp_path / "o.h5")]) == 2
    assert "give --model NAME, or both --options and --weights" in capsys.readouterr().err
    assert main(["embed", str(text_file), str(tmp_path / "o.h5"), "--mix", "1", "2", *model_args(tiny_elmo_dir)]) == 2
    assert "--mix needs 3 weights (one per layer of the model" in capsys.readouterr().err
    assert list(tmp_path.glob("o.h5*")) == []  # checked before the model loads: no OUT.partial


def test_a_wrong_mix_is_caught_before_the_weights_are_read(tiny_elmo_dir, text_file, tmp_path, capsys):
    missing_weights = ["--options", str(tiny_elmo_dir / "options.json"), "--weights", str(tmp_path / "none.hdf5")]
    assert main(["embed", str(text_file), str(tmp_path / "o.h5"), "--mix", "1", *missing_weights]) == 2
    assert "--mix needs 3 weights" in capsys.readouterr().err
    assert main(["embed", str(text_file), str(tmp_path / "o.h5"), "--mix", "1", "--model", "smal"]) == 2
    assert "unknown published ELMo model 'smal'" in capsys.readouterr().err
