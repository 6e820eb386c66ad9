from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TINY_ELMO = SHARED / "fixtures" / "elmo_allennlp_tiny"


@pytest.fixture(scope="session")
def tiny_elmo_dir() -> Path:
    if not TINY_ELMO.is_dir():
        pytest.skip(f"the AllenNLP fixture is not at {TINY_ELMO}")
    return TINY_ELMO


TINY_WORDPIECE_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "un", "##happi", "##ly",
                        "run", "##ning", "."]


@pytest.fixture(scope="session")
def tiny_wordpiece_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved 2-block BERT of width 16 with a 13-entry WordPiece vocabulary."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny-bert")
    (folder / "vocab.txt").write_text("\n".join(TINY_WORDPIECE_VOCAB) + "\n", encoding="utf-8")
    transformers.BertTokenizerFast.from_pretrained(folder).save_pretrained(folder)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(TINY_WORDPIECE_VOCAB), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=512)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture()
def one_thread():
    """Torch on one thread for the test: the tiny models of the tests run fastest so, and are
    immune to other processes on a shared CPU (two threads ran far slower on a busy machine).
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


FINETUNE_WORDS = (
    "who what where when wrote invented painted city capital war ended team won game the of a is in "
    "Paris Rome Mozart Hamlet telephone ? ."
).split()


@pytest.fixture(scope="session")
def tiny_pretrain_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as ``elmo-bench pretrain`` leaves it (checkpoint with the softmax, vocabulary,
    options.json + weights.hdf5): the ``tiny`` biLM trained for 4 steps on random sentences."""
    import random

    from elmo_bench.pretrain.bilm.data import LmCorpus, PretrainingSource
    from elmo_bench.pretrain.bilm.trainer import BiLmTrainer
    from elmo_bench.pretrain.bilm_presets import get_preset
    from elmo_bench.pretrain.vocab import SPECIAL_TOKENS, Vocabulary

    folder = tmp_path_factory.mktemp("pretrain-run")
    rng = random.Random(0)
    sentences = [[rng.choice(FINETUNE_WORDS) for _ in range(rng.randint(3, 10))] for _ in range(200)]
    vocabulary = Vocabulary([*SPECIAL_TOKENS, *FINETUNE_WORDS])
    source = PretrainingSource(
        LmCorpus.from_sentences(sentences, vocabulary), None, vocabulary, folder / "vocab.txt"
    )
    preset = get_preset("tiny", {"train": {"max_steps": 4, "eval_every": 0}})
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    BiLmTrainer(preset, source, folder).train()
    torch.set_num_threads(previous)
    return folder
