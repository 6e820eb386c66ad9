"""The biLSTM's in-place inference loop and its autograd loop compute the same thing."""
import pytest
import torch

from elmo_bench.embedders.elmo.lstm import ElmoLstm
from elmo_bench.embedders.elmo.options import ElmoOptions

OPTIONS = ElmoOptions(cell_dim=12, projection_dim=5, n_layers=2, cell_clip=0.5, proj_clip=0.4,
                      char_embedding_dim=4, filters=((1, 4),), n_highway=0)


def test_inference_and_training_loops_agree_and_backpropagate():
    torch.manual_seed(0)
    lstm = ElmoLstm(OPTIONS)
    inputs = torch.randn(4, 7, 5)
    lengths = torch.tensor([3, 7, 1, 5])
    with torch.no_grad():
        expected, expected_state = lstm(inputs, lengths)
    outputs, state = lstm(inputs, lengths)
    for got, want in zip(outputs, expected):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
        assert (got[0, 3:] == 0).all() and (got[2, 1:] == 0).all()
    torch.testing.assert_close(state.hidden, expected_state.hidden, atol=1e-6, rtol=0)
    sum(o.sum() for o in outputs).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in lstm.parameters())


def test_a_row_does_not_depend_on_its_batch():
    torch.manual_seed(1)
    lstm = ElmoLstm(OPTIONS)
    inputs = torch.randn(3, 6, 5)
    lengths = torch.tensor([6, 2, 4])
    with torch.no_grad():
        batched, _ = lstm(inputs, lengths)
        alone, _ = lstm(inputs[2:3, :4], lengths[2:3])
    torch.testing.assert_close(batched[1][2, :4], alone[1][0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("grad", [False, True])
def test_segments_packed_in_a_row_run_as_rows_of_their_own(grad):
    """Continuous batching: a row holding several segments gives each segment's own outputs."""
    torch.manual_seed(2)
    lstm = ElmoLstm(OPTIONS)
    segments = [torch.randn(3, 5), torch.randn(1, 5), torch.randn(4, 5)]
    packed = torch.cat(segments)[None]  # [1, 8, 5]
    starts = torch.zeros(1, 8, dtype=torch.bool)
    starts[0, [0, 3, 4]] = True
    with torch.set_grad_enabled(grad):
        together, _ = lstm(packed, torch.tensor([8]), segment_starts=starts)
        alone = [lstm(segment[None], torch.tensor([len(segment)]))[0] for segment in segments]
    for layer in range(OPTIONS.n_layers):
        torch.testing.assert_close(together[layer][0], torch.cat([a[layer][0] for a in alone]), atol=1e-6, rtol=0)
