import numpy as np
import torch

from interp.longctx import bucket_means, cumulative, token_nll


def test_chunked_nll_matches_full_logits(tiny_hf):
    ids = torch.randint(4, 40, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = -tiny_hf(ids).logits.float().log_softmax(-1)[:, :-1].gather(-1, ids[:, 1:, None])[..., 0]
    for chunk in (7, 64):
        np.testing.assert_allclose(token_nll(tiny_hf, ids, chunk).numpy(), full.numpy(), atol=1e-4)


def test_cumulative_and_buckets():
    nll = np.array([[1.0, 3.0, 2.0] + [0.0] * 9])
    assert np.allclose(cumulative(nll)[0, :3], [1.0, 2.0, 2.0])
    b = bucket_means(nll)
    assert b == {"1-8": 0.75, "9-64": 0.0}
