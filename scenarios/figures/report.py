"""One static HTML page per result folder (a run or a scan), from its saved files only.

:func:`write_report` writes ``DIR/report.html``: a page that opens from disk in any browser,
with no server and nothing fetched (styles inline, figures referenced next to it). It holds

* the results of the run as tables, accuracies as mean ± sd over the trials or seeds
  (``scenarios.runs.stats``), read from ``result.json`` (``summary.json`` for a scan) by a
  reader per kind of result (:data:`READERS`);
* the experiment's own tables (``table.md``, ``summary.md``) as HTML;
* every figure of the folder (the PNG files, each with a link to its PDF when there is one);
* for a folder of runs (``runs/*/result.json``: ``sleep-snn scan``, ``sleep-snn sgsnn``) the
  list of runs with their numbers and a link to each run's own page (``runs/KEY/report.html``,
  written too);
* the settings (flattened) and the package versions the result was made with.

The kind of a folder is the one :func:`scenarios.figures.result_kind` tells (``"kind"`` of
``result.json``, or a scan's ``summary.csv``). Cells of the result tables carry the exact
number in ``data-value`` (the text is rounded), so a page can be checked by a program.
"""

from __future__ import annotations

import csv
import datetime
import functools
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from scenarios.runs.labels import PLASTICITY_ARMS, ROBUSTNESS_MODELS, SGSNN_ARMS
from scenarios.runs.results import RESULT_JSON, TABLE_MD, ResultFileError, load_result, package_versions, write_text
from scenarios.runs.stats import format_pct, format_stat

__all__ = ["REPORT_HTML", "Cell", "Table", "READERS", "report_html", "write_report"]

#: File name of the page :func:`write_report` writes.
REPORT_HTML = "report.html"
#: Markdown files of a result folder that the page shows, in this order.
MARKDOWN_FILES = (TABLE_MD, "summary.md")
#: Top-level keys of ``result.json`` that hold results, not settings.
RESULT_KEYS = {"summary", "table", "trials", "runs", "accuracy", "readout", "mean_rate_hz", "sleep", "W0",
               "W_initial", "W_final", "wall_seconds", "sim_time_s", "realtime_factor", "versions",
               "pixel_baseline_accuracy", "total_wall_seconds", "wall_s", "trial_seconds", "started",
               "stdp_scan", "epoch_accuracy", "final_train_accuracy", "final_loss", "hidden_rate_test",
               "weight_mean_abs", "worker_pid", "scan", "iterations", "sleep_stdp", "merged_from"}


@dataclass(frozen=True)
class Cell:
    """One cell of a result table.

    Parameters
    ----------
    text : str
        What the page shows (rounded).
    value : float or None
        The exact number behind it (``data-value`` attribute), or None.
    href : str or None
        A link (relative to the page) the text points to.
    """

    text: str
    value: float | None = None
    href: str | None = None


@dataclass(frozen=True)
class Table:
    """A result table: a caption, column names and rows of cells.

    Parameters
    ----------
    caption : str
        One line saying what the numbers are (units, over what the sd is).
    columns : sequence of str
        Column headers.
    rows : sequence of sequence of Cell
        The rows (each as long as ``columns``).
    name : str
        ``id`` of the table in the page.
    """

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]] = field(default_factory=list)
    name: str = "results"


def _pct(mean: float | None, sd: float | None = None) -> Cell:
    """A fraction as percent, ``mean ± sd`` with one decimal (``scenarios.runs.stats.format_pct``)."""
    if mean is None:
        return Cell("–")
    sd = None if sd is None or (isinstance(sd, float) and math.isnan(sd)) else sd
    return Cell(format_pct({"mean": float(mean), "sd": sd}), float(mean))


def _num(value: Any, digits: int = 3) -> Cell:
    if value is None:
        return Cell("–")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Cell(str(value))
    return Cell(format_stat({"mean": float(value), "sd": None}, digits=digits), float(value))


def _stat(stat: dict | None, percent: bool) -> Cell:
    if not stat or stat.get("mean") is None:
        return Cell("–")
    return _pct(stat["mean"], stat.get("sd")) if percent else Cell(format_stat(stat), float(stat["mean"]))


def _text(value: Any) -> Cell:
    return Cell("" if value is None else (f"{value:g}" if isinstance(value, float) else str(value)))


# --------------------------------------------------------------------------
# Readers: the results of each kind as tables
# --------------------------------------------------------------------------
def _ei(meta: dict, directory: Path) -> list[Table]:
    sleep = meta.get("sleep") or {}
    rows = [[Cell("test accuracy (%)"), _pct(meta.get("accuracy"))],
            [Cell("raw-pixel baseline, same read-out (%)"), _pct(meta.get("pixel_baseline_accuracy"))],
            [Cell("read-out training accuracy (%)"), _pct((meta.get("readout") or {}).get("train_accuracy"))],
            [Cell("sleep episodes"), _num(sleep.get("n_episodes"))],
            [Cell("achieved sleep ratio (training)"), _num(sleep.get("training_ratio", sleep.get("achieved_ratio")))]]
    rates = (meta.get("mean_rate_hz") or {}).get("readout") or {}
    rows += [[Cell(f"mean rate during read-out, {pop} (Hz)"), _num(rates.get(pop))] for pop in ("exc", "inh")]
    for name, value in (meta.get("W_final") or {}).items():
        start = (meta.get("W_initial") or {}).get(name)
        if value is not None and start:
            rows.append([Cell(f"total weight {name}, end / start"), _num(value / start)])
    caption = (f"One E/I run: {meta.get('dataset')}, {meta.get('n_train')} training / {meta.get('n_test')} test "
               f"images, seed {meta.get('seed')}, backend {meta.get('backend')}.")
    return [Table(caption, ["measure", "value"], rows)]


def _grid_table(table: list[dict], caption: str, arm_names: dict, extra_skip: Sequence[str] = ()) -> Table:
    known = {"arm", "ratio", "accuracy_mean", "accuracy_sd", "n_seeds", "seeds", "achieved_ratio",
             "train_seconds_mean", *extra_skip}
    extra = [k for k in dict.fromkeys(k for t in table for k in t) if k not in known]
    columns = ["arm", "sleep ratio", *extra, "accuracy (%, mean ± sd)", "seeds", "achieved sleep ratio"]
    rows = []
    for t in table:
        rows.append([Cell(arm_names.get(t.get("arm"), str(t.get("arm")))), _text(t.get("ratio")),
                     *[_text(t.get(k)) for k in extra], _pct(t.get("accuracy_mean"), t.get("accuracy_sd")),
                     _text(t.get("n_seeds")), _num(t.get("achieved_ratio"))])
    return Table(caption, columns, rows)


def _scan(meta: dict, directory: Path) -> list[Table]:
    summary = _read_json(directory / "summary.json")
    if summary is None:
        return []
    cfg = summary.get("config", {})
    caption = (f"Accuracy of the read-out over seeds: {cfg.get('dataset')}, {cfg.get('n_train')} training / "
               f"{cfg.get('n_test')} test images, read-out {cfg.get('readout')}.")
    tables = [_grid_table(summary.get("table", []), caption,
                          {"sleep": "STDP + sleep", "frozen": "plasticity off (initial weights)"})]
    if summary.get("pixel_baseline") is not None:
        tables.append(Table("The same read-out on the raw pixels of the same images.", ["baseline", "accuracy (%)"],
                            [[Cell("raw pixels"), _pct(summary["pixel_baseline"])]], name="baseline"))
    return tables


def _sgsnn(meta: dict, directory: Path) -> list[Table]:
    cfg = meta.get("config", {})
    caption = (f"Test accuracy of the surrogate-gradient SNN over seeds: {cfg.get('dataset')}, "
               f"{cfg.get('n_train')} training / {cfg.get('n_test')} test images.")
    return [_grid_table(meta.get("table", []), caption, SGSNN_ARMS)]


def _incremental(meta: dict, directory: Path) -> list[Table]:
    tasks = meta.get("tasks") or []
    trials = len(meta.get("trials") or []) or (meta.get("config") or {}).get("trials")
    columns = ["method", "accuracy, all tasks (%)"] + [f"task {k + 1} {tuple(t)}" for k, t in enumerate(tasks)]
    rows = []
    for t in meta.get("table", []):
        per = [_pct(m, s) for m, s in zip(t.get("per_task_mean") or [], t.get("per_task_sd") or [])]
        per += [Cell("–")] * (len(tasks) - len(per))
        rows.append([Cell(t.get("label", t.get("arm", ""))), _pct(t.get("mean"), t.get("sd")), *per])
    caption = (f"Final test accuracy after the last task, mean ± sd over {trials} trial(s) "
               f"(seeds {meta.get('seeds')}), {meta.get('dataset_name', meta.get('dataset'))}.")
    return [Table(caption, columns, rows)]


def _patches(meta: dict, directory: Path) -> list[Table]:
    stages = [("T1", "after task 1"), ("T2", "after task 2"), ("SRC", "after sleep")]
    subsets = [("all", "all"), ("task1", "task 1"), ("task2", "task 2")]
    columns = ["overlap"] + [f"{label}: {sub}" for _, label in stages for _, sub in subsets]
    rows = []
    for s in meta.get("summary", []):
        rows.append([_text(s.get("overlap"))] + [_pct(s.get(f"{st}_{sub}_mean"), s.get(f"{st}_{sub}_sd"))
                                                  for st, _ in stages for sub, _ in subsets])
    caption = (f"Test accuracy (%) of the two-task patches network, mean ± sd over the trials "
               f"(seeds {meta.get('seeds')}).")
    return [Table(caption, columns, rows)]


def _robustness(meta: dict, directory: Path) -> list[Table]:
    summary = meta.get("summary") or {}
    models = meta.get("models") or list(summary.get("all_levels", {}))
    rows = []
    for m in models:
        avg = (summary.get("all_levels") or {}).get(m, {})
        clean = (summary.get("clean") or {}).get(m, {})
        rows.append([Cell(ROBUSTNESS_MODELS.get(m, m)), _stat(avg.get("accuracy"), True),
                     _stat(clean.get("accuracy"), True), _stat(avg.get("sharpness_seed000"), False)])
    caption = (f"Accuracy (%) averaged over all distortion levels and on clean images, mean ± sd over "
               f"{len(meta.get('trials') or [])} trial(s) (seeds {meta.get('seeds')}), {meta.get('dataset', {}).get('name')}.")
    return [Table(caption, ["model", "accuracy, distorted (%)", "accuracy, clean (%)", "sharpness S(θ; ε)"], rows)]


def _plasticity(meta: dict, directory: Path) -> list[Table]:
    summary = meta.get("summary") or {}
    measures = [("final_average_accuracy", "final average accuracy (%)", True),
                ("mean_new_task_accuracy", "mean accuracy on each new task (%)", True),
                ("forgetting", "forgetting (points)", True),
                ("slope_after_first", "new-task accuracy slope after task 1", False)]
    rows = [[Cell(PLASTICITY_ARMS.get(arm, arm))] + [_stat(summary[arm].get(k), pct) for k, _, pct in measures]
            for arm in meta.get("arms", list(summary)) if arm in summary]
    cfg = meta.get("config", {})
    caption = (f"Loss of plasticity, {cfg.get('setting')} setting, {cfg.get('tasks')} tasks, mean ± sd over "
               f"{len(meta.get('trials') or []) or cfg.get('trials')} trial(s) (seeds {meta.get('seeds')}).")
    return [Table(caption, ["arm"] + [label for _, label, _ in measures], rows)]


def _sgsnn_run(meta: dict, directory: Path) -> list[Table]:
    rows = [[Cell("test accuracy (%)"), _pct(meta.get("accuracy"))],
            [Cell("final training accuracy (%)"), _pct(meta.get("final_train_accuracy"))],
            [Cell("final loss"), _num(meta.get("final_loss"))]]
    return [Table(f"One SG-SNN run ({meta.get('key')}).", ["measure", "value"], rows)]


#: kind -> function(meta, directory) returning the result tables of a folder of that kind.
READERS: dict[str, Callable[[dict, Path], list[Table]]] = {
    "ei": _ei, "scan": _scan, "incremental": _incremental, "patches": _patches, "robustness": _robustness,
    "plasticity": _plasticity, "sgsnn": _sgsnn, "sgsnn_run": _sgsnn_run,
}


# --------------------------------------------------------------------------
# Settings, versions, runs
# --------------------------------------------------------------------------
def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _flatten(obj: Any, prefix: str = "", out: dict | None = None, depth: int = 0) -> dict:
    out = {} if out is None else out
    if isinstance(obj, dict) and depth < 4:
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, depth + 1)
    elif isinstance(obj, list) and obj and any(isinstance(v, (dict, list)) for v in obj):
        out[prefix] = f"[{len(obj)} entries]"
    elif isinstance(obj, list) and len(obj) > 16:
        out[prefix] = f"[{len(obj)} values: {', '.join(map(str, obj[:4]))}, …]"
    else:
        out[prefix] = obj
    return out


def _settings(kind: str, meta: dict, directory: Path) -> dict:
    if kind == "scan":
        summary = _read_json(directory / "summary.json") or {}
        return _flatten({k: v for k, v in summary.get("config", {}).items() if k != "pixel_baseline"})
    return _flatten({k: v for k, v in meta.items() if k not in RESULT_KEYS and k != "kind"})


def _run_dirs(directory: Path) -> list[Path]:
    return sorted(p.parent for p in (directory / "runs").glob(f"*/{RESULT_JSON}"))


def _versions(meta: dict, directory: Path) -> dict:
    versions = meta.get("versions")
    if not versions:
        for run in _run_dirs(directory)[:1]:
            versions = load_result(run).get("versions")
    return dict(versions or {})


def _runs_table(directory: Path, link_pages: bool) -> Table | None:
    """The list of runs of a folder of runs, from its ``summary.csv`` (or the runs' result files)."""
    runs = {p.name: p for p in _run_dirs(directory)}
    if not runs:
        return None
    csv_path = directory / "summary.csv"
    if csv_path.exists():
        with open(csv_path, newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        rows = []
        for key, p in runs.items():
            meta = load_result(p)
            rows.append({"key": key, **(meta.get("point") or {}), "accuracy": meta.get("accuracy")})
    keep = [c for c in ("key", "arm", "ratio", "seed") if rows and c in rows[0]]
    extra = [c for c in (rows[0] if rows else {}) if c not in keep and c in (
        "accuracy", "achieved_ratio", "n_episodes", "final_train_accuracy", "W_exc_exc_growth", "rate_exc_hz")]
    point_extra = []
    for r in rows:
        key = r.get("key", "")
        for c in r:
            if c not in keep and c not in extra and c not in point_extra and f"{c}=" in key:
                point_extra.append(c)
    columns = keep + point_extra + extra + ["files"]
    out_rows = []
    for r in rows:
        key = r.get("key", "")
        cells = []
        for c in keep + point_extra + extra:
            v = r.get(c)
            if c == "key":
                href = f"runs/{key}/{REPORT_HTML}" if link_pages and key in runs else None
                cells.append(Cell(key, href=href))
            elif c in ("accuracy", "final_train_accuracy"):
                cells.append(_pct(_float(v)))
            elif _float(v) is not None and c not in ("seed",):
                cells.append(_num(_float(v)))
            else:
                cells.append(_text(v))
        cells.append(Cell("result.json", href=f"runs/{key}/{RESULT_JSON}") if key in runs else Cell("–"))
        out_rows.append(cells)
    return Table(f"{len(out_rows)} runs (one folder each under runs/); accuracy in %.", columns, out_rows,
                 name="runs")


def _float(value: Any) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _figures(directory: Path) -> list[dict]:
    out = []
    for png in sorted(directory.glob("*.png")):
        pdf = png.with_suffix(".pdf")
        out.append({"src": png.name, "name": png.stem.replace("_", " "), "pdf": pdf.name if pdf.exists() else None})
    return out


def _markdown(directory: Path) -> list[dict]:
    import markdown

    out = []
    for name in MARKDOWN_FILES:
        path = directory / name
        if path.exists():
            body = markdown.markdown(path.read_text(), extensions=["tables", "toc"],
                                     extension_configs={"toc": {"baselevel": 3}}, output_format="html")
            out.append({"name": name, "html": body})
    return out


# --------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------
_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;margin:0;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:#fff;min-height:100vh}
h1{font-size:1.6em;margin:.2em 0 .1em}h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid #dde1e6;padding-bottom:.2em}
h3,h4,h5{font-size:1.05em;margin:1.1em 0 .4em}
.meta{color:#56606d;margin:.2em 0}.meta code{font-size:.9em}
nav a{margin-right:14px}a{color:#1d5fb4}
table{border-collapse:collapse;margin:.5em 0 1em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #dde1e6;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}tr:nth-child(even) td{background:#fafbfc}
td.num{text-align:right;white-space:nowrap}p.caption{color:#56606d;margin:.6em 0 .2em}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:18px}
figure{margin:0;border:1px solid #dde1e6;padding:8px;background:#fff}figure img{width:100%;height:auto;display:block}
figcaption{color:#56606d;font-size:.9em;margin-top:4px}
details{margin:.4em 0}summary{cursor:pointer;color:#1d5fb4}
code{background:#f0f2f5;padding:0 3px;border-radius:3px}
table.kv td:first-child{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{{ generator }}">
<title>{{ title }}</title><style>{{ style }}</style></head>
<body><main>
<h1>{{ title }}</h1>
{% if parent %}<p class="meta"><a href="{{ parent }}">&larr; the scan this run belongs to</a></p>{% endif %}
<p class="meta">Kind <b>{{ kind }}</b> · folder <code>{{ folder }}</code> · page written {{ written }}</p>
{% if command %}<p class="meta">Command: <code>{{ command }}</code></p>{% endif %}
<nav>{% for id, label in sections %}<a href="#{{ id }}">{{ label }}</a>{% endfor %}</nav>
<h2 id="results">Results</h2>
{% for t in tables %}{{ table(t) }}{% else %}<p>No result tables for this kind of result.</p>{% endfor %}
{% if markdown %}<h2 id="tables">Tables of the run</h2>
{% for md in markdown %}<details open><summary>{{ md.name }}</summary>{{ md.html | safe }}</details>{% endfor %}{% endif %}
{% if figures %}<h2 id="figures">Figures ({{ figures | length }})</h2><div class="figures">
{% for f in figures %}<figure><img src="{{ f.src }}" alt="{{ f.name }}" loading="eager"><figcaption>{{ f.name }}
{% if f.pdf %}· <a href="{{ f.pdf }}">PDF</a>{% endif %}</figcaption></figure>{% endfor %}</div>{% endif %}
{% if runs %}<h2 id="runs">Runs ({{ runs.rows | length }})</h2>{{ table(runs) }}{% endif %}
<h2 id="settings">Settings</h2>
<table class="kv" id="settings-table"><tr><th>setting</th><th>value</th></tr>
{% for k, v in settings %}<tr><td>{{ k }}</td><td>{{ v }}</td></tr>{% endfor %}</table>
<h2 id="versions">Package versions</h2>
<table class="kv" id="versions-table"><tr><th>package</th><th>version (of the result)</th><th>version (of this page)</th></tr>
{% for k, v, now in versions %}<tr><td>{{ k }}</td><td>{{ v }}</td><td>{{ now }}</td></tr>{% endfor %}</table>
</main></body></html>
"""


def _render_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = []
        for c in row:
            text = html.escape(c.text)
            if c.href:
                text = f'<a href="{html.escape(c.href, quote=True)}">{text}</a>'
            if c.value is not None:
                cells.append(f'<td class="num" data-value="{c.value!r}">{text}</td>')
            else:
                cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<p class="caption">{html.escape(t.caption)}</p><table id="{html.escape(t.name, quote=True)}">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _kind(directory: Path) -> tuple[str, dict]:
    from scenarios.figures import result_kind

    kind = result_kind(directory)
    meta = load_result(directory) if (directory / RESULT_JSON).exists() else {}
    return kind, meta


@functools.lru_cache(maxsize=1)
def _template():
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals["table"] = lambda t: jinja2.utils.markupsafe.Markup(_render_table(t))
    return env.from_string(_TEMPLATE)


def report_html(directory, *, parent: str | None = None, link_runs: bool = True,
                versions_now: dict | None = None) -> str:
    """The report page of a result folder, as HTML text.

    Parameters
    ----------
    directory : path-like
        A run or scan folder (``result.json``, or a scan's ``summary.csv``).
    parent : str, optional
        Link (relative to the page) to the page of the scan the run belongs to.
    link_runs : bool
        Link each run of the run list to its ``runs/KEY/report.html``.
    versions_now : dict, optional
        :func:`scenarios.runs.results.package_versions` of this process (computed when None).

    Returns
    -------
    str
        A complete HTML document (UTF-8).

    Raises
    ------
    FileNotFoundError
        A folder that holds neither ``result.json`` nor ``summary.csv``.
    ValueError
        A result of a kind without a reader (``ResultFileError`` for a damaged file).
    """
    directory = Path(directory)
    kind, meta = _kind(directory)
    if kind not in READERS:
        raise ValueError(f"{directory / RESULT_JSON}: no report for result kind {kind!r}; known: "
                         f"{', '.join(READERS)}")
    tables = READERS[kind](meta, directory)
    runs = _runs_table(directory, link_runs)
    figures = _figures(directory)
    md = _markdown(directory)
    settings = sorted(_settings(kind, meta, directory).items())
    versions = _versions(meta, directory)
    now = versions_now if versions_now is not None else package_versions()
    version_rows = [(k, v, now.get(k, "")) for k, v in versions.items()]
    version_rows += [(k, "–", v) for k, v in now.items() if k not in versions]
    command = meta.get("command") or (_read_json(directory / "summary.json") or {}).get("config", {}).get("command")
    if isinstance(command, list):  # an argv: its program is the sleep-snn command (or its cli module)
        program = Path(str(command[0])).name if command else ""
        command = " ".join((["sleep-snn"] if program in ("sleep-snn", "cli.py") else [str(command[0])])
                           + [str(c) for c in command[1:]])
    sections = [("results", "Results")] + ([("tables", "Tables")] if md else []) + \
        ([("figures", "Figures")] if figures else []) + ([("runs", "Runs")] if runs else []) + \
        [("settings", "Settings"), ("versions", "Versions")]
    return _template().render(
        title=f"{kind}: {directory.resolve().name}", kind=kind, folder=str(directory), parent=parent,
        written=datetime.datetime.now().isoformat(timespec="seconds"), command=command, sections=sections,
        tables=tables, markdown=md, figures=figures, runs=runs,
        settings=[(k, _show(v)) for k, v in settings], versions=version_rows, style=_STYLE,
        generator=f"sleep-snn {now.get('sleep-snn')}")


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def write_report(directory, out: str | Path | None = None, *, run_pages: bool = True) -> list[Path]:
    """Write the report page of a result folder (and of each of its runs).

    Parameters
    ----------
    directory : path-like
        A run or scan folder.
    out : path-like, optional
        The page's path (default ``DIR/report.html``). Figures and run pages are linked
        relative to ``DIR``, so a page written elsewhere shows them only if the relative
        paths hold there too.
    run_pages : bool
        Also write ``runs/KEY/report.html`` for every run of a folder of runs, linked from
        the run list.

    Returns
    -------
    list of Path
        The pages written, the folder's first.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`report_html`.
    """
    directory = Path(directory)
    page = Path(out) if out is not None else directory / REPORT_HTML
    runs = _run_dirs(directory) if run_pages else []
    now = package_versions()
    text = report_html(directory, link_runs=bool(runs), versions_now=now)
    write_text(page, text)
    written = [page]
    for run in runs:
        try:
            run_text = report_html(run, parent=f"../../{page.name}", link_runs=False, versions_now=now)
        except (ValueError, ResultFileError):
            continue  # a run of a kind without a reader: listed in the scan's page all the same
        target = run / REPORT_HTML
        write_text(target, run_text)
        written.append(target)
    return written
