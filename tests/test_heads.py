"""Task heads: the input layer (mix, L2, dropout, masking) and a few training steps of each head
lowering its loss; decoding respects masks and span limits."""

from __future__ import annotations

import pytest
import torch

from elmo_bench.cache import EmbeddingCache
from elmo_bench.compared import build_embedder
from elmo_bench.embedded_split import embed_split
from elmo_bench.heads.classifier import BiLstmPoolingClassifier
from elmo_bench.heads.scalar_mix_input import EmbeddingInput, InputSpec, WordInputs
from elmo_bench.heads.span_qa import BidafSpanHead, QuestionAndContext
from elmo_bench.heads.tagger import BiLstmCrfTagger

ELMO = InputSpec(n_layers=3, dim=6, mix=True, dropout=0.5, mix_l2=0.001)
GLOVE = InputSpec(n_layers=1, dim=4, mix=False, dropout=0.0)


pytestmark = pytest.mark.usefixtures("one_thread")


def word_inputs(lengths, generator, specs=(ELMO, GLOVE)) -> WordInputs:
    time = max(lengths)
    mask = torch.arange(time).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    layers = tuple(
        torch.randn(spec.n_layers, len(lengths), time, spec.dim, generator=generator)
        * mask[None, :, :, None]
        for spec in specs
    )
    return WordInputs([[f"w{i}" for i in range(length)] for length in lengths], layers, mask)


def loss_after_steps(head, loss_fn, steps=5) -> tuple[float, float]:
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
    head.train()
    first = None
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    head.eval()
    with torch.no_grad():
        return first, loss_fn().item()


def test_input_layer_mixes_concatenates_and_masks():
    torch.manual_seed(0)
    layer = EmbeddingInput([ELMO, GLOVE]).eval()
    inputs = word_inputs([3, 1], torch.Generator().manual_seed(0))
    words = layer(inputs)
    assert words.shape == (2, 3, 10) and layer.output_dim == 10
    # Uniform initial mix with gamma 1: the mean of ELMo's layers, then GloVe's layer.
    torch.testing.assert_close(words[0, :, :6], inputs.layers[0][:, 0].mean(0))
    torch.testing.assert_close(words[0, :, 6:], inputs.layers[1][0, 0])
    assert torch.all(words[1, 1:] == 0)
    # The L2 penalty is on the pre-softmax weights of the ELMo mix only.
    with torch.no_grad():
        layer.mixes[0].scalar_parameters.copy_(torch.tensor([1.0, 2.0, 0.0]))
    assert layer.regularization_loss().item() == pytest.approx(0.001 * 5)
    assert layer.learned_mixes()[1] is None and len(layer.learned_mixes()[0]["layer_weights"]) == 3


def test_input_spec_rejects_unmixed_layers():
    with pytest.raises(ValueError, match="3 layers need mix=True"):
        InputSpec(n_layers=3, dim=4, mix=False, dropout=0.0)


def test_tagger_step_lowers_loss_and_decodes_each_token():
    torch.manual_seed(0)
    head = BiLstmCrfTagger(
        EmbeddingInput([ELMO, GLOVE]),
        ["B-PER", "I-PER", "O"],
        hidden_size=8,
        lstm_layers=2,
        dropout=0.1,
    )
    inputs = word_inputs([4, 2, 3], torch.Generator().manual_seed(1))
    tags = torch.tensor([[0, 1, 2, 2], [2, 0, 0, 0], [0, 2, 2, 0]])
    first, last = loss_after_steps(head, lambda: head.loss(inputs, tags))
    assert last < first
    decoded = head.predict(inputs)
    assert [len(path) for path in decoded] == [4, 2, 3]
    assert all(tag in head.labels for path in decoded for tag in path)


def test_classifier_step_lowers_loss_and_classifies():
    torch.manual_seed(0)
    head = BiLstmPoolingClassifier(
        EmbeddingInput([GLOVE]), ["neg", "pos"], hidden_size=8, lstm_layers=1, dropout=0.1
    )
    inputs = word_inputs([5, 2, 3, 1], torch.Generator().manual_seed(2), specs=(GLOVE,))
    labels = torch.tensor([0, 1, 1, 0])
    first, last = loss_after_steps(head, lambda: head.loss(inputs, labels))
    assert last < first
    assert set(head.predict(inputs)) <= {"neg", "pos"}
    # Padding does not change a sequence's logits.
    head.eval()
    alone = WordInputs(
        [inputs.tokens[3][:1]], tuple(layers[:, 3:4, :1] for layers in inputs.layers), inputs.mask[3:4, :1]
    )
    torch.testing.assert_close(head.logits(alone)[0], head.logits(inputs)[3], atol=1e-5, rtol=1e-5)


def test_classifier_rejects_bad_pooling():
    with pytest.raises(ValueError, match="pooling"):
        BiLstmPoolingClassifier(EmbeddingInput([GLOVE]), ["a", "b"], 8, 1, 0.0, pooling=["min"])


def test_span_head_step_lowers_loss_and_decodes_valid_spans():
    torch.manual_seed(0)
    head = BidafSpanHead(
        EmbeddingInput([ELMO]), hidden_size=6, modelling_layers=2, dropout=0.1, max_answer_tokens=2
    )
    generator = torch.Generator().manual_seed(3)
    inputs = QuestionAndContext(
        question=word_inputs([3, 2], generator, specs=(ELMO,)),
        context=word_inputs([7, 4], generator, specs=(ELMO,)),
    )
    answer_tokens = torch.tensor([[2, 3], [1, 1]])
    first, last = loss_after_steps(head, lambda: head.loss(inputs, answer_tokens))
    assert last < first
    for (start, end), length in zip(head.predict(inputs), [7, 4], strict=True):
        assert 0 <= start <= end < length and end - start < 2
    start_logits, _ = head.span_logits(inputs)
    assert torch.isinf(start_logits[1, 4:]).all()


def test_a_batch_carries_its_tokens_cut_as_its_layers(tmp_path):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the 0.1 0.2\ncat 0.3 0.4\nsat 0.5 0.6\n", encoding="utf-8")
    embedder = build_embedder("glove", {"glove.vectors": str(vectors)})
    examples = [("the", "cat", "sat"), ("cat",)]
    split = embed_split(examples, lambda example: (example,), embedder, EmbeddingCache(tmp_path / "cache"))
    inputs = split.word_inputs([0, 1], max_tokens=2)
    assert inputs.tokens == [["the", "cat"], ["cat"]]
    assert inputs.mask.sum(dim=1).tolist() == [len(tokens) for tokens in inputs.tokens]
