"""The quickstart library: the patches demo's settings and its verdicts."""

import json

from scenarios.experiments.quickstart import SRC_DEMO, src_verdicts


def test_src_demo_settings_are_the_authors_layout_at_quick_size():
    from scenarios.experiments.patches import PatchesConfig

    cfg = PatchesConfig(**SRC_DEMO, backend="torch")
    assert cfg.n_on == "authors" and cfg.overlaps == (4, 12, 20) and cfg.trials == 1
    assert (cfg.epochs1, cfg.epochs2, cfg.steps) == (4, 4, 3000)


def test_src_verdicts(tmp_path):
    def run(ov, t2, src):
        return {"overlap": ov, "acc": {"T2": {"task1": t2}, "SRC": {"task1": src}}}

    (tmp_path / "result.json").write_text(json.dumps({"runs": [
        run(4, 1.0, 1.0), run(12, 0.0, 1.0), run(16, 0.2, 0.6), run(20, 0.5, 0.4)]}))
    assert src_verdicts(tmp_path) == [
        "overlap  4: task 1 after task 2 100%, after SRC 100%: no forgetting",
        "overlap 12: task 1 after task 2 0%, after SRC 100%: forgotten, restored by sleep",
        "overlap 16: task 1 after task 2 20%, after SRC 60%: forgotten, restored in part by sleep",
        "overlap 20: task 1 after task 2 50%, after SRC 40%: forgotten, not restored",
    ]
