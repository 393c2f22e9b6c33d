import pytest
import torch

from interp.hooks.capture import record
from interp.tasks.memory import CopyConfig, RepeatCopyConfig, bits_per_sequence, make_copy, make_repeat_copy
from interp.tasks.models.ntm import NTM, NTMConfig, address, address_plain


@pytest.fixture()
def ntm():
    torch.manual_seed(0)
    return NTM(NTMConfig(d_in=9, d_out=8, d_hidden=16, N=8, M=6))


def test_addressing_is_a_distribution_and_shifts():
    n, h, N, M = 2, 1, 8, 4
    mem = torch.randn(n, N, M)
    key = mem[:, 3:4].clone()  # exact match with location 3
    w_prev = torch.zeros(n, h, N)
    s = torch.tensor([0.0, 0.0, 1.0]).expand(n, h, 3)  # shift +1
    w = address_plain(key, torch.full((n, h), 50.0), torch.ones(n, h), s, torch.full((n, h), 5.0), w_prev, mem)
    assert torch.allclose(w.sum(-1), torch.ones(n, h))
    assert (w.argmax(-1) == 4).all()


def test_fast_addressing_equals_the_equations():
    g = torch.Generator().manual_seed(0)
    n, h, N, M, S = 4, 2, 16, 5, 3
    key, mem = torch.randn(n, h, M, generator=g), torch.randn(n, N, M, generator=g)
    mem[0, 3] = 0.0  # a zero row: the eps branch of the cosine similarity
    beta, gl, gamma = (torch.rand(n, h, generator=g) * 10 for _ in range(3))
    s = torch.softmax(torch.randn(n, h, S, generator=g), -1)
    w_prev = torch.softmax(torch.randn(n, h, N, generator=g), -1)
    want = address_plain(key, beta, torch.sigmoid(gl), s, 1 + gamma, w_prev, mem)
    got = address(key, beta[..., None], torch.sigmoid(gl)[..., None], s, 1 + gamma[..., None], w_prev, mem)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("controller", ["lstm", "ff"])
def test_fast_forward_and_gradients_equal_the_plain_step(controller):
    """The fast step against the paper's op-by-op step: logits and every gradient within 1e-5."""
    torch.manual_seed(1)
    m = NTM(NTMConfig(d_in=10, d_out=9, controller=controller, d_hidden=24, N=16, M=6))
    seq = make_repeat_copy(RepeatCopyConfig(n=5, length=4, repeats=3), 0)
    fast, plain = m(seq.inputs), m.forward_plain(seq.inputs)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=0)
    g_fast = torch.autograd.grad(bits_per_sequence(fast, seq), list(m.parameters()))
    g_plain = torch.autograd.grad(bits_per_sequence(plain, seq), list(m.parameters()))
    for a, b in zip(g_fast, g_plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_ntm_shapes_and_hooks(ntm):
    seq = make_copy(CopyConfig(n=3, length=4), 0)
    with record(ntm, ["hook_read_w", "hook_write_w"]) as rec:
        logits = ntm(seq.inputs)
    read_w, write_w = (torch.stack(rec.acts["hook_read_w"], 1), torch.stack(rec.acts["hook_write_w"], 1))
    assert logits.shape == (3, 9, 8) and read_w.shape == (3, 9, 1, 8) and write_w.shape == (3, 9, 8)
    assert torch.allclose(write_w.sum(-1), torch.ones(3, 9), atol=1e-5)
    _, cache = ntm.run_with_cache(seq.inputs)
    assert {"hook_read_w", "hook_write_w", "hook_read", "hook_memory", "hook_ctrl_out"} <= set(cache.keys())
    assert cache["hook_memory"].shape == (3, 8, 6)


def test_toolkit_record_and_interventions_work_on_the_ntm(ntm):
    seq = make_copy(CopyConfig(n=2, length=3), 0)
    with record(ntm, ["hook_write_w"]) as rec:
        base = ntm(seq.inputs)
    assert len(rec.acts["hook_write_w"]) == 7  # one per time step
    first = torch.zeros(8)
    first[0] = 1.0
    with ntm.hooks(fwd_hooks=[("hook_read_w", lambda x, hook: first.expand_as(x))]):
        pinned = ntm(seq.inputs)
    assert not torch.allclose(base, pinned)


def test_fast_step_on_a_trained_model_is_within_rounding_of_the_plain_one():
    """A trained NTM's sharp weightings amplify float32 rounding over the recurrence: the two formulations
    agree to 1e-4 of the logits' scale (about 2e-4 absolute here), not bit for bit."""
    from pathlib import Path

    from interp.tasks.persist import load

    model = load(Path(__file__).parents[3] / "tasks" / "checkpoints" / "copy-ntm")[0]
    seq = make_copy(CopyConfig(n=8, length=20), 3)
    with torch.no_grad():
        fast, plain = model(seq.inputs), model.forward_plain(seq.inputs)
    assert (fast - plain).abs().max() <= 1e-4 * plain.abs().max()


def test_the_compiled_step_is_checked_against_the_eager_one(ntm):
    """The check runs on the first batch of a shape; a step that is off by more than rounding is refused.
    (`compile_step` itself is not traced here: the suite's runtime type checker cannot be compiled; a stand-in
    takes the compiled function's place.)"""
    from interp.tasks.models.ntm import CompiledStepMismatch

    seq = make_copy(CopyConfig(n=4, length=5), 0)
    ntm._checked = set()
    ntm._compiled = ntm.step  # agrees: passes, and the shape is remembered
    torch.testing.assert_close(ntm(seq.inputs), ntm.forward_plain(seq.inputs), atol=1e-5, rtol=1e-5)
    assert (4, 9, 8) in ntm._checked

    def off(x, read, h, c, w, mem):
        out, *rest = ntm.step(x, read, h, c, w, mem)
        return (out + 1e-2, *rest)

    ntm._checked, ntm._compiled = set(), off
    with pytest.raises(CompiledStepMismatch, match="compiled NTM step differs"):
        ntm(seq.inputs)


def test_the_compiled_check_compares_each_step_from_the_same_state(ntm):
    """Rounding-size differences pass, however long the sequence; an error in any output of a step, the
    carried state included, is refused at the step where it appears."""
    from interp.tasks.models.ntm import CompiledStepMismatch

    seq = make_copy(CopyConfig(n=4, length=20), 1)

    def rounded(*args):
        return tuple(t * (1 + 1e-6) for t in ntm.step(*args))

    diff, _ = ntm.step_mismatch(seq.inputs, rounded, 8)
    assert 0 < diff < 1e-5

    def bad_memory_late(x, read, h, c, w, mem):
        out, read, h, c, w, new = ntm.step(x, read, h, c, w, mem)
        return out, read, h, c, w, new + 1e-2 * (x[:, -1:, None] > 0)  # wrong only once the end flag is seen

    diff, at = ntm.step_mismatch(seq.inputs, bad_memory_late, 8)
    assert diff >= 1e-2 and at == "memory at step 20"
    ntm._checked, ntm._compiled = set(), bad_memory_late
    with pytest.raises(CompiledStepMismatch, match="memory at step 20"):
        ntm(seq.inputs)
