"""Causal tests of probe directions: the cached, batched edits equal plain edited forwards, and on a model
that adds, ablating a probe's subspace blinds the probe and hurts the model more than a random edit."""

import numpy as np
import pytest
import torch

from interp import capture, intervene, load_model
from interp.hooks.tokens import tokenize
from interp.interventions.causal import CausalConfig, causal_probe_tests
from interp.interventions.edits import digit_logits_under_edits
from interp.interventions.lens import digit_token_ids
from interp.runs.probe import probe_inputs
from interp.tasks.arithmetic import ArithmeticConfig, make_arithmetic
from interp.tasks.reading import probe_texts, read_positions


def test_batched_edits_equal_plain_edited_forwards(tiny_model):
    ids = tokenize(tiny_model, ["12+35=47\n3+4=7"]).ids[0]
    pos, d = 9, tiny_model.cfg.d_model
    g = torch.Generator().manual_seed(0)
    edits = [(f"blocks.{layer}.hook_resid_post", torch.randn(3, d, generator=g)) for layer in (0, 1)]
    digits = digit_token_ids(tiny_model.tokenizer)
    fast = digit_logits_under_edits(tiny_model, ids, pos, edits, digits)
    rows = [None] + [(name, v) for name, e in edits for v in e]
    for r, edit in enumerate(rows):

        def put(act, v=None if edit is None else edit[1]):
            act = act.clone()
            act[:, pos] = v
            return act

        with intervene(tiny_model, {edit[0]: put} if edit else {"blocks.0.hook_resid_post": lambda a: a}):
            logits = tiny_model(torch.as_tensor(ids[: pos + 1])[None])[0, -1]
        torch.testing.assert_close(fast[r], logits[digits], atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def toy_result():
    model = load_model("arith-toy")
    problems = make_arithmetic(ArithmeticConfig(n=150, pad=4), 0)
    pos = read_positions(model.tokenizer, problems, False)
    texts = probe_texts(problems)
    acts = capture(model, texts, sites=["resid_post"], layers="all", positions=pos, progress=False)["resid_post"]
    labels, _, _ = probe_inputs(problems)
    idx = np.arange(150)
    res = causal_probe_tests(
        model,
        tokenize(model, texts).ids,
        pos,
        labels,
        acts,
        [0, 1, 2],
        idx[:100],
        idx[100:],
        digit_token_ids(model.tokenizer),
        CausalConfig(),
        progress=False,
    )
    return res, labels[100:]


@pytest.mark.slow  # a capture and probe fits on the trained toy (13 s on 2 cores): CI runs it
def test_ablation_blinds_the_probe_and_hurts_more_than_a_random_edit(toy_result):
    res, held = toy_result
    majority = [np.bincount(held[held[:, k] >= 0, k]).max() / (held[:, k] >= 0).sum() for k in range(4)]
    assert (res.probe_ablate <= np.array(majority)[None] + 1e-9).all()  # one class for every problem
    assert (res.probe[2] >= 0.9).all() and (res.model == 1).all()  # arith-toy adds; its last layer reads
    assert (res.model_ablate_random >= 0.95).all()  # a random edit of the same norm changes little
    assert (res.ablation_drop()[:2] > 0.2).all()  # the probe subspace is what the model uses


@pytest.mark.slow  # a capture and probe fits on the trained toy (13 s on 2 cores): CI runs it
def test_steering_moves_the_answer_to_the_target(toy_result):
    res, _ = toy_result
    assert (res.probe_flip == 1).all()
    assert (res.flip[2] >= 0.9).all() and (res.flip_random <= 0.05).all()


def test_probes_that_do_not_converge_are_refused():
    """As the sweep: a probe stopped by its iteration cap is never tested, the run says so."""
    from interp.probes.sweep import NotConverged

    model = load_model("arith-toy")
    problems = make_arithmetic(ArithmeticConfig(n=60, pad=4), 0)
    pos = read_positions(model.tokenizer, problems, False)
    texts = probe_texts(problems)
    acts = capture(model, texts, sites=["resid_post"], layers=[1], positions=pos, progress=False)["resid_post"]
    labels, _, _ = probe_inputs(problems)
    idx = np.arange(60)
    with pytest.raises(NotConverged, match="did not converge within 2 iterations"):
        causal_probe_tests(
            model, tokenize(model, texts).ids, pos, labels, acts, [1], idx[:40], idx[40:],
            digit_token_ids(model.tokenizer), CausalConfig(max_iter=2), progress=False,
        )  # fmt: skip


def test_paired_intervals_cover_the_differences():
    from interp.interventions.causal import paired_intervals

    rng = np.random.default_rng(0)
    m, L = 200, 3
    paired = {  # scale 0: ablating loses 30% more than a random edit; steering gains nothing
        "ablate": [list(rng.random((m, L)) < 0.5), []],
        "ablate_random": [list(rng.random((m, L)) < 0.8), []],
        "steer": [list(np.zeros((m, L))), []],
        "steer_random": [list(np.zeros((m, L))), []],
    }
    out = paired_intervals({k: [[np.asarray(r, float) for r in v[0]], v[1]] for k, v in paired.items()}, L, seed=0)
    lo, hi = out["ablation_drop_ci"][:, 0].T
    assert ((lo > 0.15) & (hi < 0.45)).all() and np.isnan(out["ablation_drop_ci"][:, 1]).all()
    assert (out["flip_gain_ci"][:, 0] == 0).all()
