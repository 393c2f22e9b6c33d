"""The probe run frees the model's weights before the fit when no later stage needs them."""

import weakref

from interp.runs import probe as run_module
from interp.runs.probe import ProbeRunConfig, run
from interp.tasks.arithmetic import ArithmeticConfig


def test_the_weights_are_freed_before_the_probe_fit(monkeypatch):
    models, alive_at_fit = [], []
    real_load, real_fit = run_module.guarded_load, run_module.fit_probes

    def load(*args, **kwargs):
        out = real_load(*args, **kwargs)
        models.append(weakref.ref(out[0]))
        return out

    def fit(*args, **kwargs):
        alive_at_fit.append(models[0]() is not None)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(run_module, "guarded_load", load)
    monkeypatch.setattr(run_module, "fit_probes", fit)
    res = run(ProbeRunConfig(model="arith-toy", behaviour_n=4, task=ArithmeticConfig(n=60, pad=4)))
    assert alive_at_fit == [False]
    assert res.n_layers_model == 3 and res.probes.accuracy.size
