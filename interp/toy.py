"""`python -m interp.toy`: the same command as `interp toy` (see `interp.cli.toy`)."""

from interp.cli.toy import main

if __name__ == "__main__":
    raise SystemExit(main())
