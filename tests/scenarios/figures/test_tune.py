"""Tests for scenarios.figures.tune (the landscape of an SRC preset search, from search.jsonl)."""

import json

import pytest

from scenarios.figures import tune as ft


def test_search_candidates_averages_by_seed_and_ranks():
    x = {"inc": 0.1}
    recs = [{"tag": "c0000", "seed": 1, "x": x, "score": 0.40},
            {"tag": "c0000", "seed": 2, "x": x, "score": 0.50},
            {"tag": "c0001", "seed": 1, "x": x, "score": 0.60},
            {"tag": "c0001", "seed": 2, "x": x, "score": 0.20},
            {"tag": "c0001", "seed": 9, "x": x, "score": 1.00}]   # a confirmation seed
    rows = ft.search_candidates(recs, seeds=(1, 2))
    assert [r["tag"] for r in rows] == ["c0000", "c0001"]
    assert rows[0]["mean"] == pytest.approx(0.45) and rows[1]["mean"] == pytest.approx(0.40)
    assert rows[1]["scores"] == {1: 0.60, 2: 0.20}
    # all seeds: c0001 = (0.6 + 0.2 + 1.0) / 3 = 0.6 ranks first
    assert [r["tag"] for r in ft.search_candidates(recs)] == ["c0001", "c0000"]
    assert ft.search_candidates(recs, seeds=(5,)) == []


def _write_log(path, n=5):
    lines = []
    for i in range(n):
        x = {"max_rate": 100.0 * (i + 1), "inc": 0.01 * (i + 1), "dec": 0.001}
        for seed in (1000, 1001):
            score = 0.1 * i + 0.01 * (seed - 1000)
            lines.append(json.dumps({"tag": f"c{i:04d}", "seed": seed, "x": x, "score": score}))
    path.mkdir(parents=True, exist_ok=True)
    (path / "search.jsonl").write_text("\n".join(lines) + "\n")


def test_plot_search_writes_the_landscape(tmp_path):
    _write_log(tmp_path / "search")
    files = ft.plot_search(tmp_path / "search", out_dir=tmp_path / "figs", seeds=(1000, 1001))
    assert sorted(p.name for p in files) == ["incremental_tune_landscape.pdf", "incremental_tune_landscape.png"]
    assert all(p.is_file() and p.stat().st_size > 0 and p.parent == tmp_path / "figs" for p in files)
    with pytest.raises(ValueError, match="no evaluations"):
        ft.plot_search(tmp_path / "search", seeds=(7,))


def test_plot_candidates_marks_the_base():
    rows = [{"tag": "c0000", "x": {"inc": 0.01}, "scores": {1: 0.4}, "mean": 0.4},
            {"tag": "c0001", "x": {"inc": 0.02}, "scores": {1: 0.5}, "mean": 0.5}]
    ax = ft.plot_candidates(rows, "inc", base=rows[0], legend=True)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "inc"
    points, star = ax.collections
    assert points.get_offsets().tolist() == [[0.01, 40.0], [0.02, 50.0]]
    assert star.get_offsets().tolist() == [[0.01, 40.0]]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["base preset"]
