"""The ``sleep-snn`` dispatcher, and what a user sees when something is wrong (issue 15)."""

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

from scenarios import cli


def test_every_command_module_has_a_main():
    for name, (module, description) in cli.COMMANDS.items():
        assert callable(importlib.import_module(module).main), name
        assert description


def test_unknown_command_is_an_error(capsys):
    assert cli.main(["dream"]) == 2
    assert "unknown command" in capsys.readouterr().err


def _sleep_snn(*args, tmp_path, env=None):
    """Run ``sleep-snn ARGS`` in a fresh process, with its temporary files in ``tmp_path/tmp``."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    full_env = dict(os.environ, TMPDIR=str(tmp), **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "scenarios.cli", *args], capture_output=True, text=True,
                          env=full_env, timeout=300)
    return proc, sorted(p.name for p in tmp.iterdir())


def test_a_wrong_data_dir_is_one_message_not_a_fallback(tmp_path):
    # items 2 and 9: exit 0 on the system's Fashion-MNIST before; a traceback under Brian2's banner
    proc, left = _sleep_snn("ei", "--dataset", "fashion", "--data-dir", str(tmp_path / "does-not-exist"),
                            "--backend", "numpy", "--out", str(tmp_path / "out"), tmp_path=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("sleep-snn ei: error: dataset 'fashion' not found.")
    assert f"only --data-dir {tmp_path / 'does-not-exist'}" in proc.stderr
    assert "Traceback" not in proc.stderr and "Brian 2 encountered" not in proc.stderr
    assert not [n for n in left if n.startswith("brian_")]  # no debug log or script copy left behind
    assert not (tmp_path / "out" / "result.json").exists()


def test_options_and_output_are_checked_before_any_simulation(tmp_path):
    # item 6: a typo in --readout, or an --out that cannot be written, failed after the simulation
    proc, _ = _sleep_snn("ei", "--readout", "pca-qda", "--backend", "numpy", tmp_path=tmp_path)
    assert proc.returncode == 2 and "argument --readout: invalid choice: 'pca-qda'" in proc.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc, _ = _sleep_snn("ei", "--quick", "--backend", "numpy", "--out", str(blocker / "out"), tmp_path=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"sleep-snn ei: error: --out {blocker / 'out'}: cannot write there "
                                   "(Not a directory); choose a directory you can write to")
    assert "[ei] digits" not in proc.stdout  # nothing was simulated


def test_debug_shows_the_traceback_of_a_user_error(tmp_path):
    # item 9: --debug shows tracebacks for everything
    proc, _ = _sleep_snn("--debug", "ei", "--dataset", "fashion", "--data-dir", str(tmp_path / "nope"),
                         "--backend", "numpy", tmp_path=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "spiking.data.DataError: dataset 'fashion' not found" in proc.stderr
    assert "sleep-snn ei: error: dataset 'fashion' not found" in proc.stderr


@pytest.fixture
def fake_commands(tmp_path, monkeypatch):
    """Commands that raise a user error, a crash and an error inside Brian2."""
    (tmp_path / "fake_cmds.py").write_text(textwrap.dedent('''
        def user(argv):
            from spiking.params import ParameterError
            raise ParameterError("LIFParams.tau_m=-1. ms must lie in (0, inf] ms")

        def crash(argv):
            return {}["missing"]

        def brian(argv):
            from brian2 import ms
            return ms + 1  # Brian2 raises a DimensionMismatchError

        def main(argv):
            return globals()[argv[0]](argv)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "fake", ("fake_cmds", "test"))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)


def test_library_errors_are_messages_and_crashes_keep_their_traceback(fake_commands, capsys):
    assert cli.main(["fake", "user"]) == 2
    err = capsys.readouterr().err
    assert err == "sleep-snn fake: error: LIFParams.tau_m=-1. ms must lie in (0, inf] ms\n"
    assert cli.main(["fake", "crash"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'missing'" in err and "sleep-snn fake: crashed" in err
    # an error inside Brian2 goes to Brian2's own handler (its banner and debug log)
    with pytest.raises(Exception) as info:
        cli.main(["fake", "brian"])
    assert cli._is_brian2_error(info.value)
    assert not cli._is_brian2_error(KeyError("x"))
