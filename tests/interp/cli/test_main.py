import pytest

from interp.cli.main import COMMANDS, main


def test_lists_commands_and_refuses_unknown_ones(capsys):
    assert main([]) == 2
    usage = capsys.readouterr().out
    assert all(c in usage for c in COMMANDS)
    assert main(["--help"]) == 0
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown command" in err and len(err.splitlines()) == 1


def test_dispatches_to_the_command(capsys):
    assert main(["report", "/no/such/folder"]) == 2
    assert "no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["probe"], ["patch"], ["nll"], ["capture"], ["toy"], ["memory", "train"]])
def test_a_negative_seed_is_one_line_and_exit_2(argv, capsys):
    assert main([*argv, "--seed", "-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--seed takes a non-negative integer" in err and len(err.splitlines()) == 1
