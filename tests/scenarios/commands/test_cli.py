"""The ``sleep-snn`` dispatcher."""

import importlib

from scenarios import cli


def test_every_command_module_has_a_main():
    for name, (module, description) in cli.COMMANDS.items():
        assert callable(importlib.import_module(module).main), name
        assert description


def test_unknown_command_is_an_error(capsys):
    assert cli.main(["dream"]) == 2
    assert "unknown command" in capsys.readouterr().err
