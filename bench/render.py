"""bench/REPORT.md and its charts, from result files (bench/results.py's format).

Charts are drawn with matplotlib (Agg: PNG files, no display): the well-kept, standard
library for charts in Python; nothing here draws by hand. Each result's samples become
one latency chart (a histogram and the cumulative distribution, side by side), and each
(x, y) pair of its series one line chart, log-scaled where the values span decades.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.results import Figure, Result

LOG_SCALE_SPAN = 20  # values spanning more than this factor get a log axis
HISTOGRAM_BINS = 40  # at most; fewer for small samples (a quarter of their size)
MIN_BINS = 6
CHART_SIZE = (11, 4.2)  # inches, at CHART_DPI
CHART_DPI = 100


@dataclass
class Run:
    """What the report says about the run besides its results."""

    machine: dict[str, str] = field(default_factory=dict)  # label -> value, in order
    ran: list[str] = field(default_factory=list)  # the benches this run ran, in order
    outputs: dict[str, str] = field(default_factory=dict)  # bench -> what it printed
    failures: dict[str, str] = field(default_factory=dict)  # bench -> why it has no result
    notes: list[str] = field(default_factory=list)


def number(value: float | None) -> str:
    """A figure with as many digits as it deserves."""
    if value is None:
        return ""
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _ratio(figure: Figure) -> str:
    return "" if figure.ratio is None else f"{figure.ratio:.2f}"


def figures_table(result: Result) -> list[str]:
    """Each figure, its baseline and the ratio (value / baseline)."""
    rows = [
        (
            figure.name,
            number(figure.value),
            figure.unit,
            figure.baseline or "",
            number(figure.baseline_value),
            _ratio(figure),
            {"higher": "higher", "lower": "lower"}.get(figure.better, ""),
            figure.note,
        )
        for figure in result.figures
    ]
    header = ("figure", "value", "unit", "baseline", "baseline value", "ratio", "better", "note")
    return _table(header, rows)


def summary_table(results: Sequence[Result]) -> list[str]:
    """Every figure that has a baseline, one line each, across the benches."""
    rows = [
        (
            f"[{result.bench}](#{slug(result.title)})",
            figure.name,
            f"{number(figure.value)} {figure.unit}",
            figure.baseline,
            f"{number(figure.baseline_value)} {figure.unit}",
            _ratio(figure),
            figure.better,
        )
        for result in results
        for figure in result.figures
        if figure.ratio is not None
    ]
    header = ("bench", "figure", "value", "baseline", "baseline value", "ratio", "better")
    return _table(header, rows)


def targets_table(results: Sequence[Result]) -> list[str]:
    """Each figure an issue set a bound on: its ratio, the bound, met or missed."""
    rows = [
        (
            f"[{result.bench}](#{slug(result.title)})",
            figure.name,
            figure.baseline,
            _ratio(figure),
            ("≤ " if figure.better == "lower" else "≥ ") + f"{figure.target:g}",
            "met" if _meets(figure) else "**missed**",
        )
        for result in results
        for figure in result.figures
        if figure.target is not None and figure.ratio is not None
    ]
    if not rows:
        return ["No figure of this run carries a target."]
    return _table(("bench", "figure", "against", "ratio", "target", ""), rows)


def _meets(figure: Figure) -> bool:
    ratio, target = figure.ratio or 0.0, figure.target or 0.0
    return ratio <= target if figure.better == "lower" else ratio >= target


def _spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) > LOG_SCALE_SPAN


def latency_chart(result: Result, directory: Path) -> Path | None:
    """A histogram and the cumulative distribution of each of the result's samples."""
    if not result.samples:
        return None
    import matplotlib  # noqa: PLC0415  (only a report draws)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    everything = [v for s in result.samples.values() for v in s["values"]]
    units = sorted({s["unit"] for s in result.samples.values()})
    log = _spans_decades(everything) and min(everything) > 0
    figure, (hist, cdf) = plt.subplots(1, 2, figsize=CHART_SIZE, dpi=CHART_DPI)
    low, high = min(everything), max(everything)
    bins = max(MIN_BINS, min(HISTOGRAM_BINS, len(everything) // len(result.samples) // 4))
    # Log-spaced bin edges on a log axis, so that every decade gets its share of bins.
    edges = [low * (high / low) ** (n / bins) for n in range(bins + 1)] if log else bins
    for name, sample in result.samples.items():
        values = sorted(sample["values"])
        hist.hist(values, bins=edges, histtype="step", linewidth=1.4, label=name)
        shares = [(n + 1) / len(values) for n in range(len(values))]
        cdf.step(values, shares, where="post", linewidth=1.4, label=name)
    unit = ", ".join(units)
    for axes in (hist, cdf):
        if log:
            axes.set_xscale("log")
        axes.set_xlabel(unit)
        axes.grid(alpha=0.3, which="both")
    hist.set_ylabel("count")
    hist.set_title("distribution")
    cdf.set_ylabel("share at or below")
    cdf.set_title("cumulative distribution")
    cdf.legend(fontsize=8, loc="lower right")
    figure.suptitle(f"{result.title}: {len(everything) // len(result.samples):,} samples a variant")
    figure.tight_layout()
    path = directory / f"{result.bench}-latency.png"
    figure.savefig(path)
    plt.close(figure)
    return path


def series_charts(result: Result, directory: Path) -> list[Path]:
    """One line chart per (x, y) of the result's series."""
    if not result.series:
        return []
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    by_axes: dict[tuple[str, str], dict[str, Any]] = {}
    for name, curve in result.series.items():
        by_axes.setdefault((curve["x"], curve["y"]), {})[name] = curve["points"]
    paths = []
    for (x_label, y_label), curves in by_axes.items():
        figure, axes = plt.subplots(figsize=(8, 4.8), dpi=CHART_DPI)
        xs = [x for points in curves.values() for x, _ in points]
        for name, points in curves.items():
            ordered = sorted(points)
            axes.plot([x for x, _ in ordered], [y for _, y in ordered], marker="o", label=name)
        if _spans_decades(xs):
            axes.set_xscale("log")
        for axis in (axes.xaxis, axes.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8)
        axes.set_title(f"{result.title}: {y_label} against {x_label}")
        figure.tight_layout()
        path = directory / f"{result.bench}-{slug(y_label)}-by-{slug(x_label)}.png"
        figure.savefig(path)
        plt.close(figure)
        paths.append(path)
    return paths


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in params.items()) or "its defaults"


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def section(result: Result, charts: Sequence[Path], report_dir: Path, output: str) -> list[str]:
    """One bench: what it measures, how to run it, its figures, charts and printout."""
    lines = [
        f"## {result.title}",
        "",
        f"`bench/{result.bench}.py` — {result.measures}",
        "",
        f"- run alone: `{result.run_alone}`",
        f"- this run: {_params(result.params)}; took {_seconds(result.seconds)}, "
        f"recorded {result.recorded_at}",
        "",
        *figures_table(result),
        "",
    ]
    for chart in charts:
        lines += [f"![{result.title}]({chart.relative_to(report_dir).as_posix()})", ""]
    return lines + _printed(output)


def _printed(output: str) -> list[str]:
    """What a bench printed, folded away."""
    if not output.strip():
        return []
    return [
        "<details><summary>what it printed</summary>",
        "",
        "```text",
        output.rstrip(),
        "```",
        "",
        "</details>",
        "",
    ]


def render(
    results: Sequence[Result],
    run: Run,
    report: Path,
    charts_dir: Path,
    *,
    others_hint: str,
    order: Sequence[str] = (),
) -> Path:
    """Write the report (and its charts) for the results: the report's own benches first,
    in `order` (by default the order the run ran them), then any other result files."""
    charts_dir.mkdir(parents=True, exist_ok=True)
    for old in charts_dir.glob("*.png"):
        old.unlink()
    report_dir = report.parent
    order = {name: n for n, name in enumerate(order or run.ran)}
    ours = sorted((r for r in results if r.bench in order), key=lambda r: order[r.bench])
    others = sorted((r for r in results if r.bench not in order), key=lambda r: r.bench)
    lines = [
        "# Photofeed benchmarks",
        "",
        "Written by `make bench` (`python -m bench.report`): every benchmark in `bench/`, one "
        "after another, against one private local stack, each against a baseline measured "
        "side by side in the same run. A ratio is always the figure over its baseline; "
        "`better` says which way is good. Each bench's own docstring says what it measures "
        "and how; run one alone with its command below.",
        "",
        "## The run",
        "",
        *_table(("", ""), list(run.machine.items())),
        "",
    ]
    lines += [f"- {note}" for note in run.notes]
    if run.notes:
        lines.append("")
    for name, why in run.failures.items():
        lines += [f"**{name} failed**: {why}", "", *_printed(run.outputs.get(name, ""))]
    lines += ["## Targets the issues set", "", *targets_table(ours), ""]
    lines += ["## Summary: every figure against its baseline", "", *summary_table(ours), ""]
    for result in ours:
        charts = [c for c in [latency_chart(result, charts_dir)] if c]
        charts += series_charts(result, charts_dir)
        lines += section(result, charts, report_dir, run.outputs.get(result.bench, ""))
    lines += ["## Load tests and other results", ""]
    if not others:
        lines += [others_hint, ""]
    for result in others:
        charts = [c for c in [latency_chart(result, charts_dir)] if c]
        charts += series_charts(result, charts_dir)
        lines += [
            "#" + line if line.startswith("## ") else line
            for line in section(result, charts, report_dir, run.outputs.get(result.bench, ""))
        ]
    report.write_text("\n".join(lines).rstrip() + "\n")
    return report
