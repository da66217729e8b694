"""Benchmark results as small JSON files: what every bench writes and `make bench` reads.

Each benchmark in bench/ prints its table for people and, given `--json PATH`, writes the
same figures to PATH in the format below, through `Result`. bench/report.py runs them all
and renders bench/REPORT.md from these files; it also takes in every other file it finds
in bench/results/ (a load test's, say), so a new benchmark needs no change to the report:
write a file in this format to bench/results/NAME.json and the next report shows it.

One file holds one run of one benchmark:

    {
      "format": 1,
      "bench": "fanout",                   # its name: the script's stem, one file a bench
      "title": "Fan-out throughput",       # the report's heading for it
      "measures": "Followers per second…", # what it measures, in a sentence or two
      "run_alone": ".venv/bin/python bench/fanout.py [--rounds 3]",
      "params": {"followers": 100000},     # the sizes it ran with: whatever sets them
      "recorded_at": "2026-11-22T04:10:00+00:00",
      "seconds": 81.2,                     # its wall time, set up and clean up included
      "figures": [                         # the headline numbers, each maybe against a
        {                                  # baseline measured in the same run
          "name": "ours, Redis part",
          "value": 17551.0,
          "unit": "followers/s",
          "better": "higher",              # "higher" or "lower": which way is good
          "baseline": "naive LPUSH + LTRIM pipeline",   # null: no baseline
          "baseline_value": 24883.0,
          "ratio": 0.705,                  # value / baseline_value, always that way round
          "note": "",
          "target": null                   # a bound an issue set on the ratio, if any
        }
      ],
      "samples": {                         # raw measurements of a distribution (a
        "warm": {"unit": "ms", "values": [21.8, 22.4]}   # latency's histogram and CDF)
      },
      "series": {                          # curves: y against x, one chart per (x, y)
        "naive": {"x": "followers", "y": "followers/s", "points": [[1000, 24000.0]]}
      }
    }

Readers ignore keys they do not know; `format` changes only if a key changes meaning.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = 1
RUN_ALONE_PREFIX = ".venv/bin/python bench/"  # how each docstring shows its command
_NUMBER = r"-?[\d.]+(?:[eE][-+]?\d+)?"
NUMBER_LIST = re.compile(rf"\[\s*((?:{_NUMBER},\s*)*{_NUMBER})\s*\]")


@dataclass
class Figure:
    """One headline number, with the baseline it is compared with in the same run."""

    name: str
    value: float
    unit: str
    better: str = "higher"  # "higher", "lower", or "" when neither way is better
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    note: str = ""
    # A bound an issue set on the ratio (lower is better: at most; higher: at least).
    target: float | None = None


@dataclass
class Result:
    """One benchmark run: its figures, samples and series, written as one JSON file."""

    bench: str
    title: str
    measures: str
    run_alone: str
    params: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    samples: dict[str, dict[str, Any]] = field(default_factory=dict)
    series: dict[str, dict[str, Any]] = field(default_factory=dict)
    recorded_at: str = ""
    seconds: float | None = None
    _started: float = field(default_factory=time.perf_counter, repr=False)

    @classmethod
    def of(cls, module_file: str, module_doc: str | None, title: str, **params: Any) -> Result:
        """A result for the bench in `module_file`, described by its module docstring:
        its first paragraph says what it measures, its indented command how to run it."""
        doc = (module_doc or "").strip()
        first = doc.split("\n\n", 1)[0]
        return cls(
            bench=Path(module_file).stem,
            title=title,
            measures=" ".join(first.split()),
            run_alone=_command(doc) or f"{RUN_ALONE_PREFIX}{Path(module_file).name}",
            params=params,
        )

    def figure(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        better: str = "higher",
        baseline: str | None = None,
        baseline_value: float | None = None,
        note: str = "",
        target: float | None = None,
    ) -> None:
        """Record a headline number; the ratio is value / baseline_value."""
        ratio = None
        if baseline_value:
            ratio = value / baseline_value
        self.figures.append(
            Figure(name, value, unit, better, baseline, baseline_value, ratio, note, target)
        )

    def sample(self, name: str, values: list[float], unit: str = "ms") -> None:
        """Record the raw values of one distribution."""
        self.samples[name] = {"unit": unit, "values": [float(v) for v in values]}

    def point(self, series: str, x: float, y: float, *, x_label: str, y_label: str) -> None:
        """Add the point (x, y) to a curve."""
        curve = self.series.setdefault(series, {"x": x_label, "y": y_label, "points": []})
        curve["points"].append([x, y])

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found.pop("_started")
        return {"format": FORMAT, **found}

    def write(self, path: Path | None) -> None:
        """Write the file (nothing when path is None: the bench ran without --json)."""
        if path is None:
            return
        self.recorded_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.seconds = round(time.perf_counter() - self._started, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> Result:
        """A result file read back; unknown keys are left out."""
        found = json.loads(path.read_text())
        if found.get("format") != FORMAT:
            raise ValueError(f"{path}: format {found.get('format')!r}, not {FORMAT}")
        known = {name for name in cls.__dataclass_fields__ if not name.startswith("_")}
        kept = {key: value for key, value in found.items() if key in known}
        kept["figures"] = [_figure(raw) for raw in kept.get("figures", [])]
        return cls(**kept)


def dumps(found: dict[str, Any]) -> str:
    """A result as JSON, indented, with each list of numbers on one line (samples are
    thousands of numbers: one a line would bury the rest)."""
    text = json.dumps(found, indent=1, allow_nan=False)
    return NUMBER_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def _command(doc: str) -> str:
    """The docstring's last command line, with the more indented lines that go on with it."""
    lines = doc.splitlines()
    starts = [n for n, line in enumerate(lines) if line.lstrip().startswith(RUN_ALONE_PREFIX)]
    if not starts:
        return ""
    first = lines[starts[-1]]
    indent = len(first) - len(first.lstrip())
    command = [first.strip()]
    for line in lines[starts[-1] + 1 :]:
        if not line.strip() or len(line) - len(line.lstrip()) <= indent:
            break
        command.append(line.strip())
    return " ".join(command)


def _figure(raw: dict[str, Any]) -> Figure:
    known = set(Figure.__dataclass_fields__)
    figure = Figure(**{key: value for key, value in raw.items() if key in known})
    if figure.ratio is not None and not math.isfinite(figure.ratio):
        figure.ratio = None
    return figure


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """The `--json PATH` option every bench takes."""
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="also write the results to PATH (bench/results.py)",
    )
