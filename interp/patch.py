"""`python -m interp.patch`: the same command as `interp patch` (see `interp.cli.patch`)."""

from interp.cli.patch import main

if __name__ == "__main__":
    raise SystemExit(main())
