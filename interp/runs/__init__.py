"""Runs: a frozen config in, a frozen result out; each orchestrates library calls for one command."""
