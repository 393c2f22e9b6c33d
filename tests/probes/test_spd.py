import torch

from interp.probes.spd import spd_inverse


def test_matches_the_float64_inverse():
    g = torch.Generator().manual_seed(0)
    for n in (7, 48, 49, 97, 333):  # a leaf, one past it, odd splits, the sweep's size
        Z = torch.randn(3, n, 2 * n, generator=g) * torch.logspace(-1, 1, 2 * n)  # uneven spectrum
        A = Z @ Z.transpose(1, 2) + 10 * torch.eye(n)
        ref = torch.linalg.inv(A.double())
        got = spd_inverse(A).double()
        assert ((got - ref).abs().amax() / ref.abs().amax()) < 1e-4, n
        assert torch.allclose(got, got.transpose(1, 2), atol=1e-6 * float(got.abs().amax()))


def test_leaf_size_does_not_change_the_answer():
    A = torch.randn(2, 100, 150, generator=torch.Generator().manual_seed(1))
    A = A @ A.transpose(1, 2) + torch.eye(100)
    assert torch.allclose(spd_inverse(A, leaf=16), spd_inverse(A, leaf=200), rtol=1e-4, atol=1e-6)
