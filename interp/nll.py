"""`python -m interp.nll`: the same command as `interp nll` (see `interp.cli.nll`)."""

from interp.cli.nll import main

if __name__ == "__main__":
    raise SystemExit(main())
