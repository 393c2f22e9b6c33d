"""The versions a result was computed with: every result file records them."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("interp", "torch", "transformer-lens", "transformers", "scikit-learn", "numpy")


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out = {}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def describe(packages: tuple[str, ...] = ("transformers", "transformer-lens", "torch")) -> str:
    """`transformers 5.24.0, transformer-lens 4.3.0, torch 2.13.0+cpu`, for error messages."""
    return ", ".join(f"{k} {v}" for k, v in versions(packages).items() if v)
