"""Weight files: clear errors for files that do not fit their options, and a lossless export."""
import json
import shutil

import h5py
import numpy as np
import pytest
import torch

from elmo_bench.embedders.elmo.chars import batch_to_ids
from elmo_bench.embedders.elmo.options import ElmoOptions, OptionsError
from elmo_bench.embedders.elmo.weights import WeightFileError, export_bilm, load_bilm, load_weights
from elmo_bench.embedders.elmo.bilm import ElmoBiLm

SENTENCES = [["The", "cat", "sat", "."], ["Zürich", "!"], []]


@pytest.fixture()
def tiny_copy(tiny_elmo_dir, tmp_path):
    for name in ("options.json", "weights.hdf5"):
        shutil.copy(tiny_elmo_dir / name, tmp_path / name)
        (tmp_path / name).chmod(0o644)
    return tmp_path


def state_snapshot(bilm):
    return {k: v.clone() for k, v in bilm.state_dict().items()}


def test_missing_dataset_named_and_nothing_loaded(tiny_copy, tiny_elmo_dir):
    with h5py.File(tiny_copy / "weights.hdf5", "a") as handle:
        del handle["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0"]
    bilm = ElmoBiLm(ElmoOptions.from_file(tiny_copy / "options.json"))
    before = state_snapshot(bilm)
    with pytest.raises(WeightFileError, match=r"RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0' is missing \(expected shape \(32, 16\)\)"):
        load_weights(bilm, tiny_copy / "weights.hdf5")
    for name, value in bilm.state_dict().items():
        assert torch.equal(value, before[name]), f"{name} was half-loaded"


def test_wrong_shape_names_expected_and_found(tiny_copy):
    with h5py.File(tiny_copy / "weights.hdf5", "a") as handle:
        del handle["CNN_proj/W_proj"]
        handle.create_dataset("CNN_proj/W_proj", data=np.zeros((28, 8), np.float32))
    with pytest.raises(WeightFileError, match=r"'CNN_proj/W_proj' has shape \(28, 8\), expected \(28, 16\)"):
        load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")


def test_wrong_n_highway(tiny_copy):
    options = json.loads((tiny_copy / "options.json").read_text())
    options["char_cnn"]["n_highway"] = 2
    (tiny_copy / "options.json").write_text(json.dumps(options))
    with pytest.raises(WeightFileError, match=r"'CNN_high_1/W_carry' is missing.*the options say "
                                              r"n_highway=2 but the file has 1 highway layer"):
        load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")
    options["char_cnn"]["n_highway"] = 0
    (tiny_copy / "options.json").write_text(json.dumps(options))
    with pytest.raises(WeightFileError, match=r"the options say n_highway=0 but the file has 1 highway "
                                              r"layer\(s\) .*set char_cnn.n_highway to 1"):
        load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")


# Each bad field of options.json, and the words its one-line error must hold.
BAD_OPTIONS = {
    "n_highway -1": (("char_cnn", "n_highway"), -1, "char_cnn.n_highway must be an integer >= 0, found -1"),
    "n_highway 1.0": (("char_cnn", "n_highway"), 1.0, "char_cnn.n_highway must be an integer >= 0, found 1.0"),
    "skip connections 'no'": (("lstm", "use_skip_connections"), "no",
                              "lstm.use_skip_connections must be true (ELMo's residual connection), found 'no'"),
    "skip connections 1": (("lstm", "use_skip_connections"), 1, "lstm.use_skip_connections must be true"),
    "dim 32.9": (("lstm", "dim"), 32.9, "lstm.dim must be an integer >= 1, found 32.9"),
    "n_layers '2'": (("lstm", "n_layers"), "2", "lstm.n_layers must be an integer >= 1, found '2'"),
    "n_layers true": (("lstm", "n_layers"), True, "lstm.n_layers must be an integer >= 1, found True"),
    "projection_dim 0": (("lstm", "projection_dim"), 0, "lstm.projection_dim must be an integer >= 1, found 0"),
    "cell_clip -3": (("lstm", "cell_clip"), -3, "lstm.cell_clip must be a number >= 0"),
    "proj_clip 'x'": (("lstm", "proj_clip"), "x", "lstm.proj_clip must be a number >= 0"),
    "filters of floats": (("char_cnn", "filters"), [[1, 4.5]], "char_cnn.filters must be a non-empty list"),
    "no filters": (("char_cnn", "filters"), [], "char_cnn.filters must be a non-empty list"),
    "activation gelu": (("char_cnn", "activation"), "gelu", "char_cnn.activation must be 'relu' or 'tanh'"),
    "embedding a number": (("char_cnn", "embedding"), 16, "char_cnn.embedding must be an object, found 16"),
    "lstm a list": (("lstm",), [], "lstm must be an object, found []"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_every_bad_option_field_is_named(tiny_copy, case):
    path, value, message = BAD_OPTIONS[case]
    options = json.loads((tiny_copy / "options.json").read_text())
    parent = options
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    (tiny_copy / "options.json").write_text(json.dumps(options))
    with pytest.raises(OptionsError) as raised:
        load_bilm(tiny_copy / "options.json", tiny_copy / "weights.hdf5")
    text = str(raised.value)
    assert text.startswith(f"{tiny_copy / 'options.json'}: bad ELMo options: ") and message in text
    assert "\n" not in text


def test_all_bad_fields_are_named_at_once(tiny_copy):
    options = json.loads((tiny_copy / "options.json").read_text())
    options["lstm"]["dim"] = "8"
    options["char_cnn"]["n_highway"] = -1
    del options["lstm"]["n_layers"]
    with pytest.raises(OptionsError, match=r"lstm.dim must .*; lstm.n_layers is missing; char_cnn.n_highway must"):
        ElmoOptions.from_dict(options)


def test_truncated_and_non_hdf5_files(tiny_copy):
    weights = tiny_copy / "weights.hdf5"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError, match=str(weights)):
        load_bilm(tiny_copy / "options.json", weights)
    weights.write_text("<html>Access denied</html>")
    with pytest.raises(WeightFileError, match="not a readable HDF5 weights file"):
        load_bilm(tiny_copy / "options.json", weights)


def test_bad_options_file(tmp_path):
    path = tmp_path / "options.json"
    path.write_text('{"lstm": {"dim": 8}}')
    with pytest.raises(OptionsError, match=str(path)):
        ElmoOptions.from_file(path)
    path.write_text("not json")
    with pytest.raises(OptionsError, match="cannot read ELMo options as JSON"):
        ElmoOptions.from_file(path)


def test_export_round_trip_gives_same_outputs(tiny_elmo_dir, tmp_path):
    original = load_bilm(tiny_elmo_dir / "options.json", tiny_elmo_dir / "weights.hdf5")
    export_bilm(original, tmp_path / "options.json", tmp_path / "weights.hdf5")
    with h5py.File(tiny_elmo_dir / "weights.hdf5") as source, h5py.File(tmp_path / "weights.hdf5") as exported:
        names = []
        source.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in names:
            np.testing.assert_allclose(exported[name][...], source[name][...], atol=1e-6, rtol=0, err_msg=name)
    reloaded = load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        assert torch.allclose(original(ids).layers, reloaded(ids).layers, atol=1e-6)


def test_export_of_a_freshly_initialised_bilm(tiny_elmo_dir, tmp_path):
    """A biLM that never came from a file (as one pretrained here) survives the round trip."""
    torch.manual_seed(0)
    bilm = ElmoBiLm(ElmoOptions.from_file(tiny_elmo_dir / "options.json")).eval()
    export_bilm(bilm, tmp_path / "o.json", tmp_path / "w.hdf5")
    reloaded = load_bilm(tmp_path / "o.json", tmp_path / "w.hdf5")
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        assert torch.allclose(bilm(ids).layers, reloaded(ids).layers, atol=1e-6)
