"""scenarios.figures.report and ``sleep-snn report``: one HTML page per result folder.

The readers are checked on hand-written result files of every kind; the page of a real
``--quick`` run is opened in headless Chromium (every image loaded, the table holds the
accuracy of result.json, the screenshot is not blank).
"""

import csv
import html.parser
import json
import os
from pathlib import Path

import pytest

from scenarios import cli
from scenarios.figures.report import READERS, report_html, write_report
from scenarios.runs.results import save_result, write_json

VERSIONS = {"python": "3.11.7", "sleep-snn": "0.1.0", "torch": "2.13.0+cpu"}


class _Cells(html.parser.HTMLParser):
    """(table id, text, data-value) of every <td> of a page, and the <img> sources."""

    def __init__(self):
        super().__init__()
        self.cells, self.images, self.links, self._table, self._cell = [], [], [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
        elif tag == "td":
            self._cell = [self._table, "", a.get("data-value")]
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a":
            self.links.append(a.get("href"))

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], self._cell[1].strip(), self._cell[2]))
            self._cell = None


def _parse(text):
    p = _Cells()
    p.feed(text)
    return p


def _has(page, table, text, value):
    return (table, text, repr(value)) in page.cells


def _png(path):
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)


def test_every_kind_of_the_figures_has_a_reader():
    from scenarios.figures import KINDS

    assert set(KINDS) <= set(READERS)


def test_ei_run(tmp_path):
    save_result(tmp_path, {"kind": "ei", "dataset": "digits", "n_train": 300, "n_test": 150, "seed": 0,
                           "backend": "numpy", "accuracy": 0.7133333333333334, "pixel_baseline_accuracy": 0.94,
                           "readout": {"train_accuracy": 1.0}, "sleep": {"n_episodes": 4, "training_ratio": 0.0175},
                           "mean_rate_hz": {"readout": {"exc": 5.6, "inh": 28.2}},
                           "W_initial": {"exc_exc": 800.0}, "W_final": {"exc_exc": 720.0},
                           "params": {"t_present": "100. ms", "exc": {"tau_m": "20. ms"}},
                           "sleep_params": {"sleep_ratio": 0.1}, "versions": VERSIONS,
                           "command": "sleep-snn ei --quick"})
    _png(tmp_path / "raster.png")
    (tmp_path / "raster.pdf").write_bytes(b"%PDF-1.4\n")
    page = _parse(report_html(tmp_path))
    assert _has(page, "results", "71.3", 0.7133333333333334) and _has(page, "results", "94.0", 0.94)
    assert _has(page, "results", "0.9", 0.9)  # E->E weight end / start
    assert page.images == ["raster.png"] and "raster.pdf" in page.links
    settings = {c[1] for c in page.cells if c[0] == "settings-table"}
    assert {"params.exc.tau_m", "20. ms", "sleep_params.sleep_ratio", "0.1"} <= settings
    assert "accuracy" not in settings  # results are not settings
    versions = [c[1] for c in page.cells if c[0] == "versions-table"]
    assert "torch" in versions and "2.13.0+cpu" in versions


def _scan_folder(out, with_pages=True):
    rows = []
    for arm, ratio, seed, acc in (("sleep", 0.0, 0, 0.25), ("sleep", 0.0, 1, 0.35), ("sleep", 0.3, 0, 0.5),
                                  ("sleep", 0.3, 1, 0.6), ("frozen", 0.0, 0, 0.2)):
        key = f"{'frozen__' if arm == 'frozen' else ''}ratio={ratio:g}__seed={seed}"
        save_result(out / "runs" / key, {"kind": "ei", "dataset": "digits", "accuracy": acc, "seed": seed,
                                         "point": {"arm": arm, "ratio": ratio, "seed": seed}, "key": key,
                                         "versions": VERSIONS})
        rows.append({"key": key, "arm": arm, "ratio": ratio, "seed": seed, "accuracy": acc, "achieved_ratio": 0.1})
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table = [{"arm": "sleep", "ratio": 0.0, "accuracy_mean": 0.3, "accuracy_sd": 0.07071067811865475,
              "n_seeds": 2, "achieved_ratio": 0.0, "seeds": [0, 1]},
             {"arm": "sleep", "ratio": 0.3, "accuracy_mean": 0.55, "accuracy_sd": 0.0707106781186547,
              "n_seeds": 2, "achieved_ratio": 0.1, "seeds": [0, 1]},
             {"arm": "frozen", "ratio": 0.0, "accuracy_mean": 0.2, "accuracy_sd": None, "n_seeds": 1,
              "achieved_ratio": 0.0, "seeds": [0]}]
    write_json(out / "summary.json", {"table": table, "pixel_baseline": 0.8, "config": {
        "dataset": "digits", "n_train": 60, "n_test": 40, "readout": "logreg", "seeds": [0, 1],
        "command": "sleep-snn scan --quick"}})
    (out / "summary.md").write_text("# Scan summary\n\n| arm | accuracy |\n|---|---|\n| sleep | 30.0 ± 7.1 |\n")
    _png(out / "accuracy_vs_sleep_ratio.png")
    return rows


def test_scan_page_lists_every_run_and_links_its_page(tmp_path):
    rows = _scan_folder(tmp_path)
    pages = write_report(tmp_path)
    assert pages[0] == tmp_path / "report.html" and len(pages) == 1 + len(rows)
    page = _parse(pages[0].read_text())
    assert _has(page, "results", "30.0 ± 7.1", 0.3) and _has(page, "results", "55.0 ± 7.1", 0.55)
    assert _has(page, "results", "20.0", 0.2) and _has(page, "baseline", "80.0", 0.8)
    for r in rows:
        assert _has(page, "runs", f"{100 * r['accuracy']:.1f}", r["accuracy"])
        assert f"runs/{r['key']}/report.html" in page.links and (tmp_path / "runs" / r["key"] / "report.html").exists()
    run_page = _parse((tmp_path / "runs" / rows[2]["key"] / "report.html").read_text())
    assert _has(run_page, "results", "50.0", 0.5) and "../../report.html" in run_page.links
    md_cells = [c for c in page.cells if c[0] is None]  # summary.md rendered as a table
    assert ("30.0 ± 7.1" in {c[1] for c in md_cells})
    assert not write_report(tmp_path, run_pages=False)[1:]


def test_trial_based_kinds(tmp_path):
    kinds = {
        "patches": {"scenario": "patches", "seeds": [0, 1], "summary": [
            {"overlap": 12, **{f"{s}_{t}_mean": 0.5 for s in ("T1", "T2", "SRC") for t in ("all", "task1", "task2")},
             **{f"{s}_{t}_sd": 0.1 for s in ("T1", "T2", "SRC") for t in ("all", "task1", "task2")},
             "SRC_all_mean": 0.875, "SRC_all_sd": 0.125}]},
        "incremental": {"scenario": "incremental", "dataset": "fashion", "seeds": [0], "tasks": [[0, 1], [2, 3]],
                        "trials": [{}], "table": [{"arm": "src", "label": "SRC", "mean": 0.4321, "sd": 0.012,
                                                   "per_task_mean": [0.61, 0.25], "per_task_sd": [None, None]}]},
        "robustness": {"kind": "robustness", "models": ["baseline", "src"], "seeds": [0], "trials": [{}],
                       "dataset": {"name": "digits"},
                       "summary": {"all_levels": {m: {"accuracy": {"mean": a, "sd": 0.02}} for m, a in
                                                  (("baseline", 0.5), ("src", 0.625))},
                                   "clean": {m: {"accuracy": {"mean": 0.9, "sd": None}} for m in ("baseline", "src")}}},
        "plasticity": {"kind": "plasticity", "arms": ["sgd", "src"], "seeds": [0], "trials": [{}],
                       "config": {"setting": "class", "tasks": 3},
                       "summary": {a: {"final_average_accuracy": {"mean": v, "sd": 0.05}} for a, v in
                                   (("sgd", 0.8828), ("src", 0.75))}},
        "sgsnn": {"kind": "sgsnn", "config": {"dataset": "digits"}, "versions": VERSIONS, "table": [
            {"arm": "ff", "ratio": 0.5, "accuracy_mean": 0.26, "accuracy_sd": 0.01, "n_seeds": 2, "seeds": [0, 1],
             "achieved_ratio": 0.333}]},
    }
    expect = {"patches": ("87.5 ± 12.5", 0.875), "incremental": ("43.2 ± 1.2", 0.4321),
              "robustness": ("62.5 ± 2.0", 0.625), "plasticity": ("88.3 ± 5.0", 0.8828),
              "sgsnn": ("26.0 ± 1.0", 0.26)}
    for kind, meta in kinds.items():
        d = tmp_path / kind
        save_result(d, meta, table=lambda m: "| a | b |\n|---|---|\n| 1 | 2 |\n")
        page = _parse(report_html(d))
        assert _has(page, "results", *expect[kind]), kind
        assert ("1" in {c[1] for c in page.cells if c[0] is None}), kind  # table.md rendered


def test_report_command_and_its_errors(tmp_path, capsys):
    _scan_folder(tmp_path / "scan")
    assert cli.main(["report", str(tmp_path / "scan"), "--no-run-pages"]) == 0
    assert "report.html" in capsys.readouterr().out
    assert (tmp_path / "scan" / "report.html").exists() and not (tmp_path / "scan" / "runs" / "ratio=0__seed=0" /
                                                                  "report.html").exists()
    assert cli.main(["report", str(tmp_path / "nothing")]) == 2
    assert "DIR=" in capsys.readouterr().err
    save_result(tmp_path / "odd", {"kind": "dream"})
    assert cli.main(["report", str(tmp_path / "odd")]) == 2
    assert "'dream'" in capsys.readouterr().err


# --------------------------------------------------------------------------
# In a real browser
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    from scenarios.bench.browser import BrowserUnavailable, HeadlessChromium

    try:
        with HeadlessChromium(width=1280, height=1400) as b:
            yield b
    except BrowserUnavailable as exc:
        if os.environ.get("CI"):  # CI installs chromium (.ci/run): a missing browser there is a failure
            pytest.fail(f"headless Chromium is needed in CI: {exc}")
        pytest.skip(f"headless Chromium is not installed here: {exc}")


def test_report_of_a_quick_run_in_headless_chromium(tmp_path, browser):
    from scenarios.bench.browser import check_page

    out = tmp_path / "patches"
    assert cli.main(["patches", "--quick", "--out", str(out)]) == 0
    assert cli.main(["report", str(out)]) == 0
    meta = json.loads((out / "result.json").read_text())
    check = check_page(out / "report.html", browser)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) >= 2 and sorted(src for src, _, _ in check.images) == pngs
    assert not check.broken_images and all(w > 0 and h > 0 for _, w, h in check.images)
    results = check.tables["results"]
    for row, s in zip(results, meta["summary"]):
        acc = s["SRC_all_mean"]
        assert (f"{100 * acc:.1f}" if s["SRC_all_sd"] is None else f"{100 * acc:.1f} ± {100 * s['SRC_all_sd']:.1f}",
                acc) in row
    assert len(results) == len(meta["summary"])
    assert check.blank_fraction < 0.95  # a white page would be ~1.0
    assert check.load_event_ms > 0
    # the settings and versions are there too
    assert any(text == "config.steps" for text, _ in sum(check.tables["settings-table"], []))
    assert any(text == "torch" for text, _ in sum(check.tables["versions-table"], []))


def test_bench_report_times_a_scan_page(tmp_path, browser, capsys):
    from scenarios.commands import bench

    _scan_folder(tmp_path)
    assert bench.main(["report", str(tmp_path), "--repeats", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["pages"] == 6 and len(out["open_seconds"]) == 2 and out["images"] == 1
    assert out["broken_images"] == [] and 0 < out["open_seconds_max"] < 60
