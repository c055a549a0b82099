"""Backend selection: runtime targets and standalone devices, and what they leave behind."""

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
