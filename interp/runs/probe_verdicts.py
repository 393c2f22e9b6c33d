"""What the reproduce page says about the Accuracy Breakdown, each point decided on the probe intervals.

The reference figure shows accuracy rising in the last layers and falling with digit scale. Each claim
here compares 95% Wilson intervals of held-out accuracy (`interp.probes.intervals`): a difference is
called only where the two intervals are apart, and otherwise the text says the data cannot tell. The
cells compared are the best of many, so an interval on a chosen cell is optimistic; apart intervals are
the minimum a claim needs, not proof.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

SCALES = ("ones", "tens", "hundreds", "thousands", "ten-thousands")


class Cell(NamedTuple):
    value: float
    lo: float
    hi: float
    site: str
    layer: int

    def text(self) -> str:
        return f"{self.value:.2f} [{self.lo:.2f}, {self.hi:.2f}] ({self.site} L{self.layer})"


def best(data: dict, scale: int, layer_idx: np.ndarray) -> Cell:
    """The most accurate cell of one digit scale among the given layer indices, with its interval."""
    acc, ci = np.asarray(data["accuracy"])[:, layer_idx, scale], np.asarray(data["intervals"]["accuracy_ci"])
    s, i = np.unravel_index(np.nanargmax(acc), acc.shape)
    lo, hi = ci[s, layer_idx[i], scale]
    return Cell(float(acc[s, i]), float(lo), float(hi), data["sites"][s], int(data["layers"][layer_idx[i]]))


def late_rise(data: dict, scale: int = 0) -> str:
    """Whether the last third of the layers reads a digit better than the first half does."""
    n = len(data["layers"])
    early, late = best(data, scale, np.arange(n // 2)), best(data, scale, np.arange(2 * n // 3, n))
    name = SCALES[scale]
    if late.lo > early.hi:
        first = next(i for i in range(n) if best(data, scale, np.array([i])).lo > early.hi)
        return (
            f"The {name} digit rises in the late layers, as in the reference: from layer {data['layers'][first]} of "
            f"{n} its best cell's interval lies above the first half's best, {early.text()}; the last third peaks "
            f"at {late.text()}."
        )
    if late.hi < early.lo:
        return f"The {name} digit reads worse late than early: {late.text()} against {early.text()}."
    return f"The intervals cannot tell the {name} digit's late layers ({late.text()}) from its first half ({early.text()})."


def scale_order(data: dict) -> str:
    """Whether peak accuracy falls from each digit scale to the next, as in the reference."""
    n, scales = len(data["layers"]), np.asarray(data["accuracy"]).shape[2]
    peaks = [best(data, j, np.arange(n)) for j in range(scales)]
    listed = "; ".join(f"{SCALES[j]} {p.text()}" for j, p in enumerate(peaks))
    steps = []
    for j in range(scales - 1):
        a, b = peaks[j], peaks[j + 1]
        verb = "falls" if a.lo > b.hi else "rises" if b.lo > a.hi else "cannot be told apart"
        steps.append(f"{SCALES[j]} to {SCALES[j + 1]} {verb}")
    falls = all(s.endswith("falls") for s in steps)
    verdict = (
        "Accuracy falls with digit scale, as published."
        if falls
        else "Unlike the published figure, accuracy does not fall with each digit scale"
    )
    return f"Peak accuracy by scale: {listed}. {verdict}{'' if falls else ': ' + ', '.join(steps) + '.'}"


def control_reads(data: dict) -> str:
    """At the best-read scale's peak cell: how far the digit beats its control task (selectivity)."""
    n, scales = len(data["layers"]), np.asarray(data["accuracy"]).shape[2]
    peaks = [best(data, j, np.arange(n)) for j in range(scales)]
    j = int(np.argmax([p.value for p in peaks]))
    s, i = data["sites"].index(peaks[j].site), list(data["layers"]).index(peaks[j].layer)
    sel, (lo, hi) = (
        float(np.asarray(data["selectivity"])[s, i, j]),
        np.asarray(data["intervals"]["selectivity_ci"])[s, i, j],
    )
    apart = "above zero" if lo > 0 else "not distinguishable from zero"
    return (
        f"The {SCALES[j]} digit reads best ({peaks[j].text()}); its selectivity over its control task there is "
        f"{sel:+.2f} [{lo:+.2f}, {hi:+.2f}], {apart}."
    )


def breakdown(data: dict) -> str:
    """The comparison with the reference 'Accuracy Breakdown', or why it cannot be made."""
    if not data.get("intervals"):
        return "This result has no probe intervals (made before they existed): rerun the step to compare."
    return " ".join([late_rise(data), scale_order(data), control_reads(data)])


__all__ = ["breakdown", "control_reads", "late_rise", "scale_order"]
