from interp.tasks.memory import CopyConfig, make_copy
from interp.tasks.models.lstm import HookedLSTM, LSTMConfig


def test_lstm_hooks():
    m = HookedLSTM(LSTMConfig(9, 8, d_hidden=12, n_layers=2))
    _, cache = m.run_with_cache(make_copy(CopyConfig(n=2, length=3), 0).inputs)
    assert cache["hook_lstm_out"].shape == (2, 7, 12)
