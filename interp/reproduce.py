"""`python -m interp.reproduce`: the same command as `interp reproduce` (see `interp.cli.reproduce`)."""

from interp.cli.reproduce import main

if __name__ == "__main__":
    raise SystemExit(main())
