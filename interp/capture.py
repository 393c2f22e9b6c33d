"""`python -m interp.capture`: the same command as `interp capture` (see `interp.cli.capture`).

The library's `capture()` and `record()` live in `interp.hooks.capture` (and `from interp import capture`).
"""

from interp.cli.capture import main

if __name__ == "__main__":
    raise SystemExit(main())
