"""Figures of the validation-split selections, from their saved files."""

import json

import numpy as np
import pytest

from scenarios.figures import selection as fs


def test_plot_coefficients_marks_the_best_value(tmp_path):
    summary = {"best": {"ewc_lambda": 10.0, "owm_alpha": 1.0}, "protocol": "code", "seeds": [1000, 1001],
               "per_seed": {"ewc_lambda": {"1": [0.2, 0.22], "10": [0.25, 0.27], "100": [0.1, 0.12]},
                            "owm_alpha": {"0.1": [0.4, 0.42], "1": [0.5, 0.52]}}}
    ax = fs.plot_coefficient(summary, "ewc_lambda")
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    np.testing.assert_allclose(np.asarray(line.get_xdata(), float), [1, 10, 100])
    np.testing.assert_allclose(np.asarray(line.get_ydata(), float), [21.0, 26.0, 11.0])
    (tmp_path / "selection.json").write_text(json.dumps(summary))
    names = sorted(p.name for p in fs.plot_coefficients(tmp_path))
    assert names == ["incremental_selection_code.pdf", "incremental_selection_code.png"]


def test_plot_search_draws_optunas_plots_from_the_journal(tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    with pytest.raises(FileNotFoundError, match="journal"):
        fs.plot_search(tmp_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", direction="maximize",
                                storage=JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))))
    for k in range(4):
        t = study.ask({"inc": optuna.distributions.FloatDistribution(1e-3, 0.3, log=True),
                       "dec": optuna.distributions.FloatDistribution(1e-4, 0.05, log=True)})
        t.report(0.1 * k, step=2)
        study.tell(t, 0.2 + 0.05 * k)
    assert fs.load_study(tmp_path).best_value == pytest.approx(0.35)
    names = sorted(p.name for p in fs.plot_search(tmp_path, tmp_path / "figs"))
    assert names == sorted(f"incremental_search_{n}.{e}" for n in ("history", "slice", "intermediate",
                                                                     "importances") for e in ("png", "pdf"))
