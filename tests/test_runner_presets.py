"""Presets as data, ``--set`` overrides, grid selection and cell planning (no cell is run here)."""

from __future__ import annotations

import argparse
import pickle
import re
import shutil

import pytest

from elmo_bench.commands import bench
from elmo_bench.commands.list import listing
from elmo_bench.compared import UnknownEmbedderError
from elmo_bench.runner.grid import plan_cells, select
from elmo_bench.runner.identity import source_identity
from elmo_bench.runner.presets import DEFAULTS, PRESETS, resolve_preset
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.runner.stage_folders import StageError, stage_folder, stage_key
from elmo_bench.runner.stages import check_stages, run_stages, source_is_given
from elmo_bench.settings import PresetError, SettingsError, parse_assignments
from elmo_bench.task import TaskRegistryError, discover_tasks


def plan(settings, tmp_path, sources=None):
    registry = discover_tasks()
    data_dir = tmp_path / "data"
    if not data_dir.exists():
        write_smoke_data(data_dir)
    return plan_cells(
        settings, registry, sources or {}, tmp_path / "cells", [], data_dir, tmp_path / "cache", "cpu"
    )


def test_every_preset_resolves_and_names_known_tasks_and_embedders():
    registry = discover_tasks()
    for name in PRESETS:
        settings = resolve_preset(name)
        assert settings["preset"] == name and settings["description"]
        select(settings, registry)
        check_stages(settings)
    smoke, standard, paper = (resolve_preset(name) for name in ("smoke", "standard", "paper"))
    assert smoke["smoke_data"] and smoke["pretrain"]["bilm"]["preset"] == "tiny"
    # standard: the paper's comparison and its controls, 3 seeds, on all five tasks
    assert standard["pretrain"]["bilm"]["preset"] == "cpu-small" and standard["seeds"] == [1, 2, 3]
    assert standard["tasks"] == ["conll2003_ner", "sst2", "sst5", "trec6", "squad11"]
    assert standard["embedders"] == ["glove", "elmo+glove", "elmo", "elmo-layer0"]
    # one stage after the other on both cores: GloVe on 2 threads, the biLM as 2 DDP ranks
    assert not standard["pretrain"]["concurrent"] and standard["pretrain"]["glove"]["threads"] == 2
    assert standard["pretrain"]["bilm"]["processes"] == 2 and standard["pretrain"]["bilm"]["threads"] == 1
    quick = resolve_preset("quick")
    assert quick["seeds"] == [1, 2, 3] and quick["embedders"] == ["glove", "elmo+glove"]
    assert paper["seeds"] == [1, 2, 3, 4, 5] and paper["device"] == "auto"
    assert paper["embedder"]["elmo"]["model"] == "original"
    assert paper["embedder"]["glove"]["vectors"] == "glove.840B.300d"
    # resolving never changes the data the presets are made of
    assert DEFAULTS["embedder"]["glove"]["vectors"] is None and "preset" not in DEFAULTS


def test_set_overrides_reach_nested_and_open_sections():
    overrides = parse_assignments([
        "seeds=[4, 5]",
        "pretrain.glove.dim=50",
        "pretrain.bilm.overrides.train.max_steps=7",
        "task_settings.squad11.options.max_train_questions=100",
        "embedder.glove.vectors=my vectors.txt",
    ], "--set", "seeds=1")
    settings = resolve_preset("standard", overrides)
    assert settings["seeds"] == [4, 5] and settings["pretrain"]["glove"]["dim"] == 50
    assert settings["pretrain"]["bilm"]["overrides"]["train"] == {
        "max_steps": 7, "snapshot_steps": [500, 1000, 2000],  # the preset's other override stays
    }
    assert settings["task_settings"]["squad11"]["options"]["max_train_questions"] == 100
    assert settings["embedder"]["glove"]["vectors"] == "my vectors.txt"  # not JSON: a string


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        ("pretrain.glove.dimm", r"pretrain.glove has no setting 'dimm' \(did you mean 'dim'\?\)"),
        ("seed", r"the preset has no setting 'seed' \(did you mean 'seeds'\?\)"),
        ("pretrain.bilm.overides.train.max_steps", r"did you mean 'overrides'"),
        ("embedder.elmo.weight", r"did you mean 'weights'"),
        ("pretrain.glove", r"pretrain.glove is a section"),
        ("seeds.first", r"seeds is a value, not a section"),
    ],
)
def test_unknown_settings_are_named_with_the_closest_one(dotted, message):
    with pytest.raises(PresetError, match=message):
        resolve_preset("smoke", {dotted: 1})


def test_unknown_names_get_did_you_mean_errors():
    with pytest.raises(PresetError, match=r"unknown preset 'smok' \(did you mean 'smoke'\?\)"):
        resolve_preset("smok")
    registry = discover_tasks()
    with pytest.raises(TaskRegistryError, match=r"unknown task 'trec' \(did you mean 'trec6'\?\)"):
        select(resolve_preset("smoke"), registry, tasks=["trec"])
    with pytest.raises(UnknownEmbedderError, match=re.escape("'elmo+glov' (did you mean 'elmo+glove'?)")):
        select(resolve_preset("smoke"), registry, embedders=["elmo+glov"])
    with pytest.raises(PresetError, match="repeats a value"):
        select(resolve_preset("smoke"), registry, seeds=[1, 1])
    with pytest.raises(PresetError, match="grid is empty"):
        select(resolve_preset("smoke"), registry, tasks=[])


def test_task_setting_errors_name_the_closest_key(tmp_path):
    bad_default = resolve_preset("smoke", {"task_defaults.head.hiden_size": 4})
    with pytest.raises(PresetError, match=r"'hiden_size' \(did you mean 'hidden_size'\?\)"):
        plan(bad_default, tmp_path)
    bad_task = resolve_preset("smoke", {"task_settings.sqad11.options.max_train_questions": 4})
    with pytest.raises(PresetError, match=r"'sqad11' \(did you mean 'squad11'\?\)"):
        plan(bad_task, tmp_path)
    bad_key = resolve_preset("smoke", {"task_settings.trec6.options.granularty": "fine"})
    with pytest.raises(SettingsError, match=r"did you mean 'granularity'"):
        plan(bad_key, tmp_path)
    bad_bilm = resolve_preset("smoke", {"pretrain.bilm.overrides.train.max_stpes": 3})
    with pytest.raises(ValueError, match="unknown field 'train.max_stpes'"):
        check_stages(bad_bilm)


def test_plan_selects_cells_and_merges_task_settings_in_order(tmp_path):
    settings = resolve_preset("smoke", {"task_settings.trec6.head.hidden_size": 5})
    select(settings, discover_tasks(), tasks=["trec6", "sst2"], embedders=["glove"], seeds=[1, 2])
    specs = plan(settings, tmp_path)
    assert [spec.label for spec in specs] == [
        "trec6.glove.seed1", "trec6.glove.seed2", "sst2.glove.seed1", "sst2.glove.seed2",
    ]
    assert specs[0].result_path == str((tmp_path / "cells" / "trec6.glove.seed1.json").resolve())
    trec, sst2 = specs[0].task_settings, specs[2].task_settings
    assert trec["head"]["hidden_size"] == 5  # task_settings wins over task_defaults
    assert sst2["head"]["hidden_size"] == 8 and sst2["training"]["max_epochs"] == 2
    assert trec["training"]["device"] == "cpu" and trec["options"] == {"granularity": "coarse"}
    assert len({spec.fingerprint for spec in specs}) == 4
    assert pickle.loads(pickle.dumps(specs[0])) == specs[0]


def test_task_embedders_narrow_one_task_and_name_unknown_embedders(tmp_path):
    """``standard`` runs SQuAD with the paper's pair only; other tasks keep every embedder, a
    command-line --embedders narrows both, and a misspelt name fails at selection."""
    settings = resolve_preset("smoke", {"task_embedders": {"sst2": ["elmo+glove", "glove"]}})
    select(settings, discover_tasks(), tasks=["trec6", "sst2"],
           embedders=["glove", "elmo", "elmo+glove"], seeds=[1])
    assert [spec.label for spec in plan(settings, tmp_path)] == [
        "trec6.glove.seed1", "trec6.elmo.seed1", "trec6.elmo+glove.seed1",
        "sst2.glove.seed1", "sst2.elmo+glove.seed1",
    ]
    select(settings, discover_tasks(), embedders=["elmo"])
    assert [spec.label for spec in plan(settings, tmp_path)] == ["trec6.elmo.seed1"]
    bad = resolve_preset("smoke", {"task_embedders": {"sst2": ["elmo+glvoe"]}})
    with pytest.raises(UnknownEmbedderError, match=r"task_embedders.sst2: unknown embedder 'elmo\+glvoe'"):
        select(bad, discover_tasks())
    assert resolve_preset("standard")["task_embedders"] == {"squad11": ["glove", "elmo+glove"]}


def test_fingerprint_follows_file_contents_not_paths(tmp_path):
    settings = resolve_preset("smoke")
    select(settings, discover_tasks(), tasks=["trec6"], embedders=["glove", "elmo"], seeds=[1])
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("word 0.1 0.2\n")
    second.write_text("word 0.1 0.2\n")
    glove_a, elmo_a = plan(settings, tmp_path, {"glove.vectors": str(first)})
    glove_b, elmo_b = plan(settings, tmp_path, {"glove.vectors": str(second)})
    assert glove_a.fingerprint == glove_b.fingerprint  # same bytes elsewhere
    second.write_text("word 0.1 0.3\n")
    glove_c, elmo_c = plan(settings, tmp_path, {"glove.vectors": str(second)})
    assert glove_c.fingerprint != glove_a.fingerprint
    assert elmo_a.fingerprint == elmo_c.fingerprint  # ELMo cells do not read GloVe
    trec_test = tmp_path / "data" / "trec" / "TREC_10.label"
    trec_test.write_text(trec_test.read_text() + "NUM:date When was Rome founded ?\n")
    assert plan(settings, tmp_path, {"glove.vectors": str(second)})[0].fingerprint != glove_c.fingerprint


def test_a_pretraining_run_folder_is_identified_by_its_files_not_its_path(tmp_path):
    def run_folder(name: str, checkpoint: bytes) -> str:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "checkpoint.pt").write_bytes(checkpoint)
        (folder / "vocab.txt").write_text("<S>\n</S>\n<UNK>\n")
        (folder / "log.txt").write_text(name)  # not a run file: ignored
        return str(folder)

    first = source_identity({"pretrain_run": run_folder("a", b"weights 1"), "steps": 3})
    assert first == source_identity({"pretrain_run": run_folder("b", b"weights 1"), "steps": 3})
    assert first != source_identity({"pretrain_run": run_folder("c", b"weights 2"), "steps": 3})
    assert set(first["pretrain_run"]["folder_sha256"]) == {"checkpoint.pt", "vocab.txt"}


def test_only_cells_that_read_the_pretraining_checkpoint_depend_on_it(tmp_path):
    settings = resolve_preset("smoke")
    select(settings, discover_tasks(), tasks=["trec6"], embedders=["elmo", "elmo-lm-finetuned"], seeds=[1])
    run = tmp_path / "run"
    run.mkdir()
    (run / "options.json").write_text("{}")
    (run / "weights.hdf5").write_bytes(b"weights")

    def fingerprints(checkpoint: bytes, **sources: str) -> tuple[str, str]:
        (run / "checkpoint.pt").write_bytes(checkpoint)
        elmo, finetuned = plan(settings, tmp_path, {"elmo.pretrain_run": str(run), **sources})
        return elmo.fingerprint, finetuned.fingerprint

    files = {"elmo.options": str(run / "options.json"), "elmo.weights": str(run / "weights.hdf5")}
    elmo_a, finetuned_a = fingerprints(b"checkpoint 1", **files)
    elmo_b, finetuned_b = fingerprints(b"checkpoint 2", **files)
    assert elmo_a == elmo_b  # frozen ELMo reads weights.hdf5, not the checkpoint
    assert finetuned_a != finetuned_b  # language-model fine-tuning starts from the checkpoint
    # without weight files the run folder is where the weights come from
    alone_a, _ = fingerprints(b"checkpoint 1")
    alone_b, _ = fingerprints(b"checkpoint 2")
    assert alone_a != alone_b


def test_stage_key_ignores_runtime_settings_and_sources_decide_which_stages_run():
    config = resolve_preset("smoke")["pretrain"]["bilm"]
    digests = {"corpus": "c0ffee", "wikitext": None}
    runtime = {**config, "threads": 8, "workers": 3}
    assert stage_key("bilm", config, digests) == stage_key("bilm", runtime, digests)
    changed = {**config, "overrides": {"train": {"max_steps": 21}}}
    assert stage_key("bilm", config, digests) != stage_key("bilm", changed, digests)
    assert stage_key("bilm", config, digests) != stage_key("bilm", config, {**digests, "corpus": "beef"})
    elmo = {"model": None, "options": None, "weights": None, "pretrain_run": None}
    assert not source_is_given("elmo", elmo)
    assert source_is_given("elmo", {**elmo, "model": "original"})
    assert source_is_given("elmo", {**elmo, "pretrain_run": "/runs/bilm"})
    with pytest.raises(StageError, match="go together"):
        source_is_given("elmo", {**elmo, "weights": "w.hdf5"})


def write_stage_data(folder):
    """A tiny data folder: a two-file plain-text corpus and WikiText-2 valid/test."""
    files = {
        "corpus/wiki/a.txt": "Paris is in France .\nTokyo is in Japan .\n",
        "corpus/wiki/sub/b.txt": "London is in England .\n",
        "corpus/eval/wikitext-2/valid.txt": " = Title = \n The city of Paris .\n",
        "corpus/eval/wikitext-2/test.txt": " The city of Tokyo .\n",
    }
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


def stage_configs():
    """The smoke preset's stage settings, reading the corpus of :func:`write_stage_data`."""
    pretrain = resolve_preset("smoke")["pretrain"]
    return {name: {**pretrain[name], "corpus": "corpus/wiki"} for name in ("glove", "bilm")}


def test_stage_folders_follow_the_content_of_the_inputs_not_their_paths(tmp_path):
    first = write_stage_data(tmp_path / "first")
    second = shutil.copytree(first, tmp_path / "elsewhere" / "second")
    stages = tmp_path / "stages"
    configs = stage_configs()
    for name, config in configs.items():
        folder = stage_folder(name, config, first, stages)
        assert folder.parent == stages and folder.name.startswith(f"{name}-")
        # the same content at another path: another data folder, or the inputs named absolutely
        assert stage_folder(name, config, second, stages) == folder
        absolute = {**config, "corpus": str(second / "corpus" / "wiki")}
        if name == "bilm":
            absolute["wikitext"] = str(second / "corpus" / "eval" / "wikitext-2")
        assert stage_folder(name, absolute, None, stages) == folder
        # runtime settings do not count
        assert stage_folder(name, {**config, "threads": 7, "workers": 2}, first, stages) == folder

    # one corpus file changed in place (same path, same size): a new folder for both stages
    (second / "corpus" / "wiki" / "sub" / "b.txt").write_text("London is in Britain .\n")
    for name, config in configs.items():
        assert stage_folder(name, config, second, stages) != stage_folder(name, config, first, stages)

    # a changed WikiText-2 file: a new folder for the biLM, which evaluates on it, not for GloVe
    third = shutil.copytree(first, tmp_path / "third")
    (third / "corpus" / "eval" / "wikitext-2" / "test.txt").write_text(" Another city .\n")
    bilm, glove = configs["bilm"], configs["glove"]
    assert stage_folder("bilm", bilm, third, stages) != stage_folder("bilm", bilm, first, stages)
    assert stage_folder("glove", glove, third, stages) == stage_folder("glove", glove, first, stages)
    without = {**bilm, "wikitext": None}
    assert stage_folder("bilm", without, third, stages) == stage_folder("bilm", without, first, stages)
    assert stage_folder("bilm", without, first, stages) != stage_folder("bilm", bilm, first, stages)


def test_missing_stage_inputs_are_named_with_their_setting_before_any_stage_runs(tmp_path):
    data = write_stage_data(tmp_path / "data")
    configs = stage_configs()
    missing = data / "corpus" / "missing"
    with pytest.raises(StageError, match=rf"pretrain\.glove\.corpus 'corpus/missing': "
                                         rf"{re.escape(str(missing))}: corpus path does not exist"):
        stage_folder("glove", {**configs["glove"], "corpus": "corpus/missing"}, data, tmp_path)
    (data / "corpus" / "empty").mkdir()
    with pytest.raises(StageError, match=r"pretrain\.bilm\.corpus 'corpus/empty': .*empty folder"):
        stage_folder("bilm", {**configs["bilm"], "corpus": "corpus/empty"}, data, tmp_path)
    (data / "corpus" / "eval" / "wikitext-2" / "valid.txt").unlink()
    with pytest.raises(StageError, match=r"pretrain\.bilm\.wikitext 'corpus/eval/wikitext-2': .*"
                                         r"valid\.txt: WikiText-2 valid file not found"):
        stage_folder("bilm", configs["bilm"], data, tmp_path)

    # in a run, a missing biLM corpus fails before GloVe starts training
    settings = resolve_preset("smoke", {"pretrain.bilm.corpus": "corpus/missing"})
    write_smoke_data(tmp_path / "smoke")
    with pytest.raises(StageError, match=r"pretrain\.bilm\.corpus 'corpus/missing'"):
        run_stages(settings, ["glove", "elmo"], tmp_path / "smoke", tmp_path / "stages", print)
    assert not (tmp_path / "stages").exists()


def test_command_line_parsing_and_listing():
    parser = argparse.ArgumentParser()
    bench.configure(parser)
    args = parser.parse_args(
        ["--tasks", "trec6,sst2", "--seeds", "1,2", "--tasks-dir", "a", "--tasks-dir", "b"]
    )
    assert args.tasks == ["trec6", "sst2"] and args.seeds == [1, 2] and args.preset == "standard"
    assert [str(folder) for folder in args.tasks_dir] == ["a", "b"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--seeds", "1,x"])
    text = listing([])
    assert "trec6" in text and "TREC question classification" in text
    assert re.search(r"elmo-layer0 +elmo: layer 0, dropout 0.5\n", text)
    assert re.search(r"elmo-unfrozen +elmo: all layers, learned scalar mix, dropout 0.5, biLM trained with the head\n", text)
    assert "smoke" in text and "standard" in text and "paper" in text


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("threads", 0, r"threads must be a whole number of at least 1, got 0"),
        ("executor.workers", -2, r"executor.workers must be a whole number of at least 1, got -2"),
        ("device", "gpu", r"device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
        ("executor.name", "poool", r"executor.name must be one of local, pool, submitit \(did you mean 'pool'\?\)"),
    ],
)
def test_bad_run_settings_fail_before_any_stage(dotted, value, message, tmp_path, monkeypatch):
    """In ``standard`` these used to surface after about an hour of pretraining, once per cell."""
    from elmo_bench.runner.benchmark import run_benchmark
    from elmo_bench.runner.request import RunRequest

    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("elmo_bench.runner.benchmark.run_stages", lambda *args: pytest.fail("a stage ran"))
    with pytest.raises(PresetError, match=message):
        run_benchmark(resolve_preset("standard", {dotted: value}), RunRequest(results_dir=tmp_path))
