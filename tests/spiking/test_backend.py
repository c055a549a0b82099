"""Backend selection: runtime targets and standalone devices, and what they leave behind."""

import os

import brian2
import pytest

from spiking.backend import PCH_MAKEFILE, BackendError, check_backend, is_standalone, use_backend


def test_standalone_make_arguments_are_restored_after_the_build(tmp_path):
    prefs = brian2.prefs.devices.cpp_standalone
    default = list(prefs.extra_make_args_unix)
    assert PCH_MAKEFILE not in " ".join(default)
    with use_backend("cpp_standalone", tmp_path) as directory:
        # while the device is current, make reads the precompiled-header fragment
        assert PCH_MAKEFILE in prefs.extra_make_args_unix
        assert (directory / PCH_MAKEFILE).exists()
    assert list(prefs.extra_make_args_unix) == default
    assert brian2.get_device().__class__.__name__ == "RuntimeDevice"


def test_runtime_backend_sets_the_target_and_restores_it():
    with use_backend("numpy") as directory:
        assert directory is None
        assert brian2.prefs.codegen.target == "numpy"
    assert brian2.get_device().__class__.__name__ == "RuntimeDevice"


def test_unknown_backend_is_named():
    with pytest.raises(BackendError, match="backend='nope'"):
        check_backend("nope")
    assert is_standalone("cpp_standalone") and not is_standalone("numpy")


def test_make_runs_at_most_one_job_per_cpu(tmp_path, monkeypatch):
    # issue 15, item 11: Brian2's bare "-j" started 81 compilers at once on 2 cores
    from spiking.backend import JOBS_ENV, make_jobs

    monkeypatch.delenv(JOBS_ENV, raising=False)
    prefs = brian2.prefs.devices.cpp_standalone
    with use_backend("cpp_standalone", tmp_path):
        args = list(prefs.extra_make_args_unix)
        assert args[:2] == ["-j", str(make_jobs())] and "-j" not in args[2:]
        assert make_jobs() == len(os.sched_getaffinity(0))
        # make and the program die with this process (item 8)
        assert "processes.py" in prefs.make_cmd_unix and "processes.py" in " ".join(prefs.run_cmd_unix)
    monkeypatch.setenv(JOBS_ENV, "3")
    with use_backend("cpp_standalone", tmp_path):
        assert list(prefs.extra_make_args_unix)[:2] == ["-j", "3"]
    assert prefs.run_cmd_unix == "./main"
    monkeypatch.setenv(JOBS_ENV, "0")
    with pytest.raises(BackendError, match="SLEEP_SNN_JOBS='0': must be an integer >= 1"):
        make_jobs()


def test_compile_modes(tmp_path, monkeypatch):
    # issue 15, item 13: Brian2's -march=native -ffast-math make the numbers depend on the CPU
    from spiking.backend import COMPILE_MODE_ENV, build_info, compile_flags, resolve_compile_mode

    monkeypatch.delenv(COMPILE_MODE_ENV, raising=False)
    assert resolve_compile_mode() == "portable"
    portable = compile_flags("portable")
    assert "-march=x86-64" in portable and "-ffp-contract=off" in portable
    assert not any(f in portable for f in ("-march=native", "-ffast-math"))
    assert "-march=native" in compile_flags("native")
    with use_backend("cpp_standalone", tmp_path, compile_mode="native"):
        assert brian2.prefs.codegen.cpp.extra_compile_args_gcc == compile_flags("native")
    monkeypatch.setenv(COMPILE_MODE_ENV, "fast")
    with pytest.raises(BackendError, match="SLEEP_SNN_COMPILE_MODE='fast' is not known"):
        resolve_compile_mode()
    info = build_info("cpp_standalone", "portable")
    assert info["flags"] == portable and info["compiler"] and info["cpu"] and info["compile_mode"] == "portable"
    assert set(build_info("numpy")) == {"backend", "cpu", "machine"}
