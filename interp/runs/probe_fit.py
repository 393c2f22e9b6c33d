"""The main job's probe sweep, and the self-check its batched solver passes first."""

from __future__ import annotations

from interp.core.selfcheck import SelfCheckError
from interp.core.versions import describe
from interp.probes.sweep import NotConverged, ProbeResults, SweepConfig, reference_check, sweep


def check_probe_solver(acts, labels, controls, cfg: SweepConfig, strata, device) -> None:
    """The batched solver against scikit-learn on one cell before the sweep trusts it (`interp.core.selfcheck`):
    its contract is to agree within one held-out problem on every cell."""
    (digit, control), total = reference_check(acts, labels, controls, cfg, strata, device)
    if max(digit, control) > 1:
        raise SelfCheckError(
            f"batched probe fit: {digit} (digit) and {control} (control) of {total} held-out predictions differ "
            f"from scikit-learn's on the first site's last layer, where at most 1 may; refusing to go on "
            f"({describe()})"
        )


def fit_probes(acts, labels, controls, layers, cfg: SweepConfig, strata, progress, device) -> ProbeResults:
    """The sweep; a batched fit that stops at its iteration cap stops the run like a failed self-check."""
    try:
        return sweep(acts, labels, controls, layers, cfg, strata=strata, progress=progress, device=device)
    except NotConverged as e:
        raise SelfCheckError(str(e)) from e


__all__ = ["check_probe_solver", "fit_probes"]
