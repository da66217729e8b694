"""The benchmark report: result files (bench/results.py) in, bench/REPORT.md and PNG
charts out; and a real bench writing its result file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from bench.render import Run, render
from bench.results import Result

ROOT = Path(__file__).resolve().parents[2]
LOAD_HINT = "No load test yet."


def feed_like() -> Result:
    result = Result.of(
        "bench/feed.py",
        "Latency of a page.\n\nMore.\n\n    .venv/bin/python bench/feed.py [--requests 300]\n"
        "        [--json PATH]\n",
        "Feed read latency",
        requests=4,
    )
    result.sample("warm", [5.0, 6.0, 7.0, 50.0])
    result.sample("bare Redis", [0.3, 0.4, 0.35, 0.5])
    result.figure("warm, median", 6.5, "ms", better="lower", baseline="bare", baseline_value=0.375)
    result.figure("pages", 3, "round trips", better="")
    return result


def fanout_like() -> Result:
    result = Result.of("bench/fanout.py", "Followers per second.", "Fan-out throughput")
    for size, ours, naive in ((1_000, 9_000.0, 20_000.0), (100_000, 17_000.0, 24_000.0)):
        result.point("ours", size, ours, x_label="followers", y_label="followers/s")
        result.point("naive", size, naive, x_label="followers", y_label="followers/s")
    result.figure("ours", 17_000.0, "followers/s", baseline="naive", baseline_value=24_000.0)
    return result


def written(result: Result, directory: Path) -> Result:
    path = directory / f"{result.bench}.json"
    result.write(path)
    return Result.load(path)


def test_a_result_file_reads_back_as_written(tmp_path):
    # GIVEN a result with a figure against a baseline, samples and a series
    result = feed_like()

    # WHEN it is written and read back
    found = written(result, tmp_path)

    # THEN everything comes back, the ratio is value / baseline, and the docstring said
    # what it measures and how to run it alone
    assert found.to_dict() | {"seconds": None} == result.to_dict() | {"seconds": None}
    assert found.figures[0].ratio == 6.5 / 0.375
    assert found.measures == "Latency of a page."
    assert found.run_alone == ".venv/bin/python bench/feed.py [--requests 300] [--json PATH]"
    assert found.seconds is not None
    assert found.recorded_at


def test_the_report_shows_each_figure_its_baseline_and_ratio_with_charts(tmp_path):
    # GIVEN the results of a run of two benches, and a load test's file it did not run
    results = [written(feed_like(), tmp_path), written(fanout_like(), tmp_path)]
    load = Result.of("bench/load.py", "Requests per second under load.", "Load test")
    load.figure("GET /feed", 410.0, "requests/s", baseline="bare", baseline_value=820.0)
    results.append(written(load, tmp_path))
    run = Run(machine={"cores": "2"}, ran=["feed", "fanout"], outputs={"feed": "a table"})

    # WHEN the report is rendered
    report = render(
        results, run, tmp_path / "REPORT.md", tmp_path / "charts", others_hint=LOAD_HINT
    )

    # THEN it lists every figure with its baseline and ratio, the machine, how to run
    # each bench alone, the load test in its own section, and links its charts
    text = report.read_text()
    assert "| cores | 2 |" in text
    assert "| [feed](#feed-read-latency) | warm, median | 6.50 ms | bare | 0.375 ms | 17.33 |" in (
        text
    )
    assert "| ours | 17,000 | followers/s | naive | 24,000 | 0.71 | higher |" in text
    assert "`.venv/bin/python bench/feed.py [--requests 300] [--json PATH]`" in text
    others = text.split("## Load tests and other results")[1]
    assert "### Load test" in others
    assert "| GET /feed | 410 | requests/s | bare | 820 | 0.50 | higher |" in others
    assert LOAD_HINT not in text
    assert "![Feed read latency](charts/feed-latency.png)" in text
    assert "(charts/fanout-followers-s-by-followers.png)" in text
    # AND the charts are real PNG images
    charts = sorted((tmp_path / "charts").glob("*.png"))
    assert [c.name for c in charts] == ["fanout-followers-s-by-followers.png", "feed-latency.png"]
    for chart in charts:
        with Image.open(chart) as image:
            assert image.format == "PNG"
            assert image.width >= 600


def test_without_other_result_files_the_report_keeps_room_for_a_load_test(tmp_path):
    results = [written(fanout_like(), tmp_path)]

    report = render(
        results, Run(ran=["fanout"]), tmp_path / "R.md", tmp_path / "c", others_hint=LOAD_HINT
    )

    assert report.read_text().split("## Load tests and other results")[1].strip() == LOAD_HINT


def test_a_bench_writes_its_result_file(tmp_path):
    # GIVEN the place-search bench on a small index (it starts a redis-server of its own)
    path = tmp_path / "geo.json"
    command = [sys.executable, "bench/geo.py", "--media", "3000", "--queries", "30"]

    # WHEN it runs with --json
    subprocess.run([*command, "--json", str(path)], cwd=ROOT, check=True, capture_output=True)

    # THEN its file holds every query's time and ours against each bare baseline
    found = Result.load(path)
    assert found.bench == "geo"
    assert found.params["media"] == 3000
    assert {name: len(s["values"]) for name, s in found.samples.items()} == {
        "ours (GeoIndex.search)": 30,
        "bare GEOSEARCH, 7 day keys": 30,
        "bare GEOSEARCH, 1 key": 30,
    }
    compared = {f.baseline for f in found.figures if f.ratio is not None}
    assert compared == {
        "bare GEOSEARCH, 7 day keys, median",
        "bare GEOSEARCH, 7 day keys, p99",
        "bare GEOSEARCH, 1 key, median",
        "bare GEOSEARCH, 1 key, p99",
    }
