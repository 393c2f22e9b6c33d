import pytest
import torch

from interp import capture
from interp.core.errors import InterpError
from interp.interventions.lens import digit_token_ids, logit_lens


def test_last_layer_lens_is_the_models_own_output(tiny_model):
    """At the last layer the lens is the full-vocabulary forward restricted to the digit columns."""
    ids = tiny_model.tokenizer(["12+35=47", "17+98=15"], return_tensors="pt", add_special_tokens=False)["input_ids"]
    last = tiny_model.cfg.n_layers - 1
    resid = capture(tiny_model, ids, sites="resid_post", layers=[last], positions="all")["resid_post"][:, 0]
    digits = digit_token_ids(tiny_model.tokenizer)
    with torch.no_grad():
        full = tiny_model(ids)[..., digits]
    torch.testing.assert_close(logit_lens(tiny_model, resid, digits), full, atol=1e-5, rtol=1e-5)


def test_lens_recomputes_the_norm_per_vector(tiny_model):
    """The final norm's statistics come from the vector read, not from a cached forward."""
    digits = digit_token_ids(tiny_model.tokenizer)
    x = torch.randn(3, tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(
        logit_lens(tiny_model, 5 * x, digits), logit_lens(tiny_model, x, digits), atol=1e-4, rtol=1e-4
    )  # RMS norm: scale-free


def test_digits_must_be_single_tokens():
    class Merged:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [1, 2] if text == "7" else [3]}

    with pytest.raises(InterpError, match="'7' is 2 tokens"):
        digit_token_ids(Merged())


def test_lens_read_in_slices_is_the_lens_read_at_once(tiny_model, monkeypatch):
    """Rows are normalised and read a slice at a time (for memory); the slices change no number."""
    from interp.interventions import lens

    digits = digit_token_ids(tiny_model.tokenizer)
    x = torch.randn(5, 3, 2, tiny_model.cfg.d_model, generator=torch.Generator().manual_seed(1))
    whole = logit_lens(tiny_model, x, digits)
    monkeypatch.setattr(lens, "LENS_ROWS", 7)  # 30 rows: 4 full slices and a short one
    sliced = logit_lens(tiny_model, x, digits)
    assert sliced.shape == (5, 3, 2, 10)
    torch.testing.assert_close(sliced, whole, atol=1e-6, rtol=1e-6)  # matmul blocking may differ by rows
