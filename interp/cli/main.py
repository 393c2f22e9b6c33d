"""`interp COMMAND ...`: one entry point for every command (`interp probe --layer all`, ...)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "probe": "digit-scale probes by layer (the main job)",
    "patch": "which sublayers matter: activation patching",
    "nll": "NLL by token position on long documents",
    "capture": "activations to disk in shards (torchrun: one share per process)",
    "report": "one HTML page from every result under a folder",
    "memory": "train and evaluate NTM and LSTM models on the memory tasks",
    "toy": "train the arith-toy adder",
    "reproduce": "rebuild every published figure on one page",
    "docs": "the API reference, built offline from the docstrings",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(
            "usage: interp COMMAND [options]\n\ncommands:\n"
            + "\n".join(f"  {k:<8} {v}" for k, v in COMMANDS.items())
            + "\n\n`interp COMMAND --help` for a command's options."
        )
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    # Import only the command asked for: each pulls in its own heavy dependencies.
    return importlib.import_module(f"interp.cli.{argv[0]}").main(argv[1:])
