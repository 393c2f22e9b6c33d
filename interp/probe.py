"""`python -m interp.probe`: the same command as `interp probe` (see `interp.cli.probe`)."""

from interp.cli.probe import main

if __name__ == "__main__":
    raise SystemExit(main())
