"""What the reproduce page says of two models compared on the same passages, decided on the paired intervals."""

from __future__ import annotations


def paired_text(p: dict) -> str:
    """The paired comparison's verdicts: which buckets the interval decides, and the per-character reading."""
    a, b = p["models"]
    decided = {k: c for k, c in p["buckets"].items() if c["verdict"] != "cannot tell"}
    out = (
        f"Paired window by window on the same {p['windows']} passages ({a} minus {b}), per token the interval "
        f"decides {len(decided)} of {len(p['buckets'])} buckets"
        + (": " + ", ".join(f"{k} {c['verdict']} ({c['diff']:+.2f} [{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}])"
                            for k, c in decided.items()) if decided else "")
        + "."
    )  # fmt: skip
    if c := p.get("per_char"):
        out += (
            f" Per character of the text both read ({c['chars']:,.0f} on average), {a} minus {b} is "
            f"{c['diff']:+.4f} nats [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]: "
            + ("the interval cannot decide." if c["verdict"] == "cannot tell" else f"{c['verdict']}.")
        )
    return out
