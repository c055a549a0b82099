"""Import paths of the earlier flat layout keep working, or say where things went."""

import importlib
import subprocess
import sys

import pytest


def test_an_old_module_path_finds_its_names_and_warns():
    code = ("import warnings; warnings.simplefilter('error', FutureWarning)\n"
            "try:\n    import scenarios.mlp\nexcept FutureWarning as w:\n    print(w)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "scenarios.mlp has moved to scenarios.ann.mlp" in out


def test_old_names_resolve_to_the_new_objects():
    sys.modules.pop("scenarios.incremental", None)
    with pytest.warns(FutureWarning):
        old = importlib.import_module("scenarios.incremental")
    from bridge.conventions import AuthorsDropout
    from scenarios.experiments.incremental import IncrementalConfig

    assert old.IncrementalConfig is IncrementalConfig
    assert old.AuthorsDropout is AuthorsDropout
    with pytest.raises(AttributeError, match="scenarios.incremental moved to scenarios.experiments.incremental"):
        old.authors_spec  # noqa: B018  (replaced by bridge.convert.from_torch)


def test_a_module_that_left_spiking_names_its_new_place():
    with pytest.raises(ModuleNotFoundError, match="spiking.record has moved to scenarios.runs.results"):
        importlib.import_module("spiking.record")


def test_a_replaced_name_says_what_replaced_it():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import scenarios.incremental as old
    with pytest.raises(AttributeError, match="tune was replaced: use scenarios.experiments.selection.search"):
        old.tune
    with pytest.raises(ImportError, match="tune"):
        from scenarios.incremental import tune  # noqa: F401
