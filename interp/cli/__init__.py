"""Command-line entry points: each module turns argv into a config, calls the library, writes files."""
