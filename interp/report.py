"""`python -m interp.report`: the same command as `interp report` (see `interp.cli.report`)."""

from interp.cli.report import main

if __name__ == "__main__":
    raise SystemExit(main())
