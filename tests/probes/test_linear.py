import numpy as np
import torch

from interp.probes.linear import LinearProbe


def test_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(LinearProbe())


def test_probe_save_load_and_direction(tmp_path):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 12, generator=g).numpy()
    y = (X[:, :3].argmax(1) + 1) % 3
    probe = LinearProbe().fit(X, y)
    probe.save(tmp_path / "p", layer=3, site="resid_post")
    back = LinearProbe.load(tmp_path / "p")
    np.testing.assert_array_equal(back.predict(X), probe.predict(X))
    np.testing.assert_allclose(np.linalg.norm(back.direction_, axis=1), 1.0, rtol=1e-5)
