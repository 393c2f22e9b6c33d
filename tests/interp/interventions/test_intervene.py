import pytest
import torch

from interp import InterpError, hook_names, intervene, record

TEXT = "12+35=47"


def tokens(model):
    return model.tokenizer(TEXT, add_special_tokens=False, return_tensors="pt")["input_ids"]


def test_writing_back_what_was_read_changes_nothing(tiny_model):
    x = tokens(tiny_model)
    name = hook_names(tiny_model, "resid_post", [0])[0]
    with record(tiny_model, [name]) as rec:
        clean = tiny_model(x)
    with intervene(tiny_model, {name: rec.acts[name][0]}):
        again = tiny_model(x)
    torch.testing.assert_close(again, clean)


def test_zero_ablation_matches_a_hand_written_hook(tiny_model):
    x = tokens(tiny_model)
    name = hook_names(tiny_model, "mlp_out", [1])[0]
    clean = tiny_model(x)
    with tiny_model.hooks(fwd_hooks=[(name, lambda a, hook=None: torch.zeros_like(a))]):
        expected = tiny_model(x)
    with intervene(tiny_model, {name: torch.zeros(tiny_model.cfg.d_model)}):
        ablated = tiny_model(x)
    torch.testing.assert_close(ablated, expected)
    assert not torch.allclose(ablated, clean)
    torch.testing.assert_close(tiny_model(x), clean)  # hooks are gone after the block


def test_a_function_steers_and_hooks_go_on_error(tiny_model):
    x = tokens(tiny_model)
    name = hook_names(tiny_model, "resid_post", [0])[0]
    clean = tiny_model(x)
    v = torch.randn(tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ZeroDivisionError), intervene(tiny_model, {name: lambda a: a + 3 * v}):
        steered = tiny_model(x)
        raise ZeroDivisionError
    assert not torch.allclose(steered, clean)
    torch.testing.assert_close(tiny_model(x), clean)


@pytest.mark.parametrize(
    "edits, msg",
    [
        ({}, "edits is empty"),
        ({"blocks.9.hook_mlp_out": torch.zeros(1)}, "blocks.9.hook_mlp_out"),
        ({"blocks.0.hook_mlp_out": torch.zeros(5)}, "expected"),
        ({"blocks.0.hook_mlp_out": lambda a: a[..., :3]}, "expected"),
    ],
)
def test_bad_edits_fail_with_one_line(tiny_model, edits, msg):
    with pytest.raises(InterpError, match=msg):
        with intervene(tiny_model, edits):
            tiny_model(tokens(tiny_model))


def test_a_later_hook_may_write_in_place_and_the_callers_tensor_is_untouched(tiny_model):
    """The replacement is a tensor of the hook's own, not a broadcast view of the caller's edit."""
    x = tokens(tiny_model)
    name = hook_names(tiny_model, "resid_post", [0])[0]
    v = torch.ones(tiny_model.cfg.d_model)
    before = v.clone()

    def doubles(act, hook):
        act.mul_(2)
        return act

    with intervene(tiny_model, {name: v}), tiny_model.hooks(fwd_hooks=[(name, doubles)]):
        with record(tiny_model, [name]) as rec:
            tiny_model(x)
    torch.testing.assert_close(v, before)
    torch.testing.assert_close(rec.acts[name][0], torch.full_like(rec.acts[name][0], 2.0))
