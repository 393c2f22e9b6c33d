import pytest
import torch

from interp import TokenMatch, capture, hook_names, record
from interp.core.errors import InterpError

PROMPTS = ["12+35=", "7+8=15", "1=", "100+200=300"]


def test_site_shapes(tiny_model):
    acts = capture(tiny_model, PROMPTS, sites=["attn_out", "mlp_out", "resid_pre", "resid_mid", "resid_post", "z"])
    d = tiny_model.cfg.d_model
    for site in ["attn_out", "mlp_out", "resid_pre", "resid_mid", "resid_post"]:
        assert acts[site].shape == (4, 2, d)
    assert acts["z"].shape == (4, 2, 4, 8)  # [batch, layer, head, d_head]
    assert acts.layers == [0, 1]
    assert acts.positions.tolist() == [5, 5, 1, 10]


def test_matches_run_with_cache_unpadded(tiny_model):
    """Each prompt alone through run_with_cache = the padded batched capture."""
    names = hook_names(tiny_model, "resid_post") + hook_names(tiny_model, "attn_out", [1])
    acts = capture(tiny_model, PROMPTS, names, batch_size=3)
    for i, text in enumerate(PROMPTS):
        toks = tiny_model.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        _, cache = tiny_model.run_with_cache(toks, names_filter=lambda n: n in names)
        for n in names:
            torch.testing.assert_close(acts[n][i], cache[n][0, -1], atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_last(tiny_model):
    alone = capture(tiny_model, ["1="], sites="mlp_out")["mlp_out"][0]
    batched = capture(tiny_model, ["1=", "100+200=300"], sites="mlp_out")["mlp_out"][0]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


def test_keys_are_the_requested_names(tiny_model):
    # `blocks.0.mlp.hook_out` is an alias of `blocks.0.hook_mlp_out` in TransformerLens 4
    acts = capture(tiny_model, PROMPTS, ["blocks.0.mlp.hook_out"])
    assert list(acts) == ["blocks.0.mlp.hook_out"]
    ref = capture(tiny_model, PROMPTS, ["blocks.0.hook_mlp_out"])["blocks.0.hook_mlp_out"]
    torch.testing.assert_close(acts["blocks.0.mlp.hook_out"], ref)


def test_positions(tiny_model):
    by_idx = capture(tiny_model, PROMPTS, sites="resid_post", positions=[0, 1, -1, -2])
    assert by_idx.positions.tolist() == [0, 1, 1, 9]
    eq = capture(tiny_model, PROMPTS, sites="resid_post", positions=TokenMatch("="))
    assert eq.positions.tolist() == [5, 3, 1, 7]
    full = capture(tiny_model, PROMPTS, sites="resid_post", positions="all")
    assert full["resid_post"].shape == (4, 2, 11, 32)
    torch.testing.assert_close(full["resid_post"][0, :, 5], eq["resid_post"][0])
    assert full["resid_post"][2, :, 2:].abs().sum() == 0  # padding stays zero
    assert full.lengths.tolist() == [6, 6, 2, 11]


def test_token_tensor_input_and_dtype(tiny_model):
    toks = torch.randint(4, 40, (5, 7))
    acts = capture(tiny_model, toks, sites="mlp_out", layers=[1], dtype=torch.float16)
    assert acts["mlp_out"].shape == (5, 1, 32) and acts["mlp_out"].dtype == torch.float16


def test_forward_is_normal_after_capture(tiny_model, tiny_hf):
    """Capture stops the forward early by raising; the model must be unaffected."""
    capture(tiny_model, PROMPTS, sites="resid_post", layers=[0])
    toks = torch.randint(4, 40, (2, 9))
    with torch.no_grad():
        got = tiny_model(toks).log_softmax(-1)
        ref = tiny_hf(toks).logits.log_softmax(-1)
    assert (got - ref).abs().max() < 1e-4
    assert all(not hp._forward_hooks for hp in tiny_model.hook_dict.values())


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        (dict(sites="nope"), "unknown site"),
        (dict(sites="mlp_out", layers=[2]), "out of range"),
        (dict(sites="mlp_out", positions=[0]), "one row\) per input"),
        (dict(sites="mlp_out", positions=TokenMatch("*")), "has no token"),
        (dict(sites="mlp_out", positions="first"), "unknown positions"),
        (dict(names=["blocks.9.hook_mlp_out"]), "has no hook"),
        (dict(), "either hook names or sites"),
    ],
)
def test_errors(tiny_model, kwargs, msg):
    with pytest.raises(InterpError, match=msg):
        capture(tiny_model, PROMPTS, **kwargs)


def test_empty_and_too_long(tiny_model):
    with pytest.raises(InterpError, match="empty"):
        capture(tiny_model, [], sites="mlp_out")
    with pytest.raises(InterpError, match="longer than the model's context of 64"):
        capture(tiny_model, ["1" * 65], sites="mlp_out")


def test_record_removes_hooks_on_error(tiny_model):
    names = hook_names(tiny_model, "mlp_out")
    with pytest.raises(RuntimeError):
        with record(tiny_model, names) as rec:
            tiny_model(torch.tensor([[5, 6, 7]]))
            raise RuntimeError("body failed")
    assert rec.acts[names[0]][0].shape == (1, 3, 32)
    assert all(not hp._forward_hooks for hp in tiny_model.hook_dict.values())


def test_works_on_any_hooked_module():
    """Not only transformers: any HookedRootModule with HookPoints."""
    from transformer_lens import HookedRootModule
    from transformer_lens.hook_points import HookPoint

    class Toy(HookedRootModule):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(3, 4)
            self.hook_h = HookPoint()
            self.setup()

        def forward(self, x):
            return self.hook_h(self.lin(x)).sum(-1)

    toy = Toy()
    x = torch.randn(6, 5, 3)
    acts = capture(toy, x, ["hook_h"], positions="all", batch_size=4)
    torch.testing.assert_close(acts["hook_h"], toy.lin(x).detach())
    with record(toy, ["hook_h"]) as rec:
        toy(x)
    assert rec.acts["hook_h"][0].shape == (6, 5, 4)


def test_several_positions_per_input(tiny_model):
    """A [batch, k] array reads k positions per input in one forward: the same as k separate captures."""
    pos = [[0, 2], [1, -1], [1, 1], [-2, 0]]
    many = capture(tiny_model, PROMPTS, sites="mlp_out", positions=pos)["mlp_out"]  # [batch, layer, k, d]
    assert many.shape[:3] == (len(PROMPTS), tiny_model.cfg.n_layers, 2)
    for j in range(2):
        one = capture(tiny_model, PROMPTS, sites="mlp_out", positions=[p[j] for p in pos])["mlp_out"]
        torch.testing.assert_close(many[:, :, j], one)


def test_padded_tensor_with_its_mask_reads_each_row_where_it_ends(tiny_model):
    """Right- or left-padded ids with their attention mask read every row's own last token, as unpadded
    rows do; a tokenizer's whole output carries its mask."""
    tok = tiny_model.tokenizer
    prompts = ["12+35=", "7+8=", "405+17=4"]
    want = capture(tiny_model, prompts, sites=["resid_post"], layers="all")["resid_post"]
    for side in ("right", "left"):
        tok.padding_side = side
        enc = tok(prompts, add_special_tokens=False, padding=True, return_tensors="pt")
        got = capture(tiny_model, enc["input_ids"], sites=["resid_post"], attention_mask=enc["attention_mask"])
        torch.testing.assert_close(got["resid_post"], want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(capture(tiny_model, enc, sites=["resid_post"])["resid_post"], want)
        assert got.lengths.tolist() == [6, 4, 8]
    tok.padding_side = "right"


def test_padded_tensor_without_a_mask_is_refused(tiny_model):
    enc = tiny_model.tokenizer(["12+35=", "7+8="], add_special_tokens=False, padding=True, return_tensors="pt")
    with pytest.raises(InterpError, match="attention_mask"):
        capture(tiny_model, enc["input_ids"], sites=["resid_post"])


def test_bos_follows_the_tokenizer_on_a_bridge_booted_by_hand(tiny_dir):
    """A TransformerBridge not made by load_model: strings get BOS as TransformerLens' own to_tokens gives them."""
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    bridge = TransformerBridge.boot_transformers(
        str(tiny_dir), hf_model=hf, tokenizer=AutoTokenizer.from_pretrained(tiny_dir), device="cpu"
    )
    tokens = bridge.to_tokens("12+35=")
    assert tokens[0, 0] == bridge.tokenizer.bos_token_id
    got = capture(bridge, ["12+35="], ["blocks.1.hook_resid_post"], positions="all")
    assert got.lengths.tolist() == [tokens.shape[1]]
    with torch.no_grad():
        _, cache = bridge.run_with_cache(tokens)
    torch.testing.assert_close(got["blocks.1.hook_resid_post"], cache["blocks.1.hook_resid_post"], atol=1e-5, rtol=1e-5)
