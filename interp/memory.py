"""`python -m interp.memory`: the same command as `interp memory` (see `interp.cli.memory`)."""

from interp.cli.memory import main

if __name__ == "__main__":
    raise SystemExit(main())
