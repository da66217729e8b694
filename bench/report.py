"""`make bench`: every benchmark in bench/, one after another, then bench/REPORT.md with
each figure, its side-by-side baseline and the ratio, and charts in bench/charts/.

Each bench runs as its own process, as a person runs it alone (`.venv/bin/python
bench/NAME.py ...`), with `--json bench/results/NAME.json` (bench/results.py's format);
what it prints goes into the report too. The benches that need a stack (ids, fanout,
feed) share one private local stack that this starts before the first of them and stops
after the last (devstack's Stack in a temporary directory, every port free-chosen, as the
test suite's), or the one PHOTOFEED_STACK_ENV names, left running. The others need none
(geo starts a redis-server of its own). The sizes in BENCHES keep the whole `make bench`,
set-up included, within 15 minutes on a 2-core machine; `--quick` runs each on a token
size (minutes in all), to try the report itself.

coldstart measures the deployment zips only when dist/ already holds them (`make package`
first): building them downloads every Lambda's wheels and takes minutes, more than the
report should add to every run, so without dist/ it runs without --zips and says so.

Every other result file in bench/results/ (a load test's, bench/load.py) is reported too,
under "Load tests and other results", as it is: a bench of its own writes it there in
bench/results.py's format and the next report shows it; `--render-only` redraws the
report from the files alone. Charts are matplotlib's (see bench/render.py): the
well-kept, standard library for charts in Python.

    .venv/bin/python -m bench.report [--quick] [--only feed,geo] [--render-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.render import Run, render
from bench.results import Result

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "bench"
RESULTS = HERE / "results"
RUN_FILE = RESULTS / "_run.json"  # the run's own facts; not a result (leading "_")
REPORT = HERE / "REPORT.md"
CHARTS = HERE / "charts"
DIST = ROOT / "dist"
BUDGET_SECONDS = 15 * 60  # issue #9: `make bench` on a fresh clone, set-up included
OUTPUT_LINES = 60  # what a failed bench printed last, in the report
LOAD_HINT = (
    "No other result files in `bench/results/`. A load test (`bench/load.py`) or any "
    "other bench that writes `bench/results/NAME.json` in `bench/results.py`'s format "
    "appears here, with its figures, distributions and curves, at the next report."
)


@dataclass(frozen=True)
class Bench:
    """One benchmark as the report runs it: its arguments, full and quick."""

    name: str
    stack: bool
    args: tuple[str, ...]
    quick: tuple[str, ...]


BENCHES = (
    Bench("ids", stack=True, args=("--rounds", "5"), quick=("--rounds", "1")),
    Bench(
        "fanout",
        stack=True,
        args=("--rounds", "3", "--followers", "100000", "--audiences", "1000,10000"),
        quick=("--rounds", "1", "--followers", "4000", "--audiences", "500,2000"),
    ),
    Bench("feed", stack=True, args=("--requests", "300"), quick=("--requests", "20")),
    Bench("geo", stack=False, args=("--queries", "2000"), quick=("--media", "20000")),
    Bench("coldstart", stack=False, args=("--rounds", "15"), quick=("--rounds", "2")),
    Bench("thumbnail", stack=False, args=("--runs", "7"), quick=("--runs", "1")),
)


@contextmanager
def stack_env() -> Iterator[dict[str, str]]:
    """The environment of PHOTOFEED_STACK_ENV's stack, or of a private one for the while."""
    from chalicelib.config import read_env_file  # noqa: PLC0415  (only with a stack)

    given = os.environ.get("PHOTOFEED_STACK_ENV")
    if given:
        yield read_env_file(Path(given))
        return
    from devstack.processes import free_port  # noqa: PLC0415
    from devstack.services import postgres_home  # noqa: PLC0415
    from devstack.stack import Stack  # noqa: PLC0415

    stack = Stack(Path(tempfile.mkdtemp(prefix="photofeed-bench-")), api_port=free_port())
    try:
        started = time.perf_counter()
        env = stack.start()
        print(f"a private stack in {stack.directory} ({time.perf_counter() - started:.0f} s)")
        yield env
    finally:
        pg_data = postgres_home(stack.directory)
        stack.stop()
        shutil.rmtree(pg_data, ignore_errors=True)
        shutil.rmtree(stack.directory, ignore_errors=True)


def server_versions(env: dict[str, str]) -> dict[str, str]:
    """The stack's PostgreSQL and Redis versions, as the servers say."""
    import psycopg2  # noqa: PLC0415
    import redis  # noqa: PLC0415

    with psycopg2.connect(env["PHOTOFEED_POSTGRES_DIRECT"]) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    conn.close()
    cache = redis.Redis.from_url(env["PHOTOFEED_REDIS_URL"])
    version = cache.info("server")["redis_version"]
    cache.close()
    return {"PostgreSQL": postgres, "Redis": version}


def _git(*args: str) -> str:
    found = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return found.stdout.strip()


def machine() -> dict[str, str]:
    """Date, commit and what the figures ran on."""
    cpu = ""
    meminfo = {}
    if Path("/proc/cpuinfo").exists():
        models = [
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line
        ]
        cpu = models[0].split(":", 1)[1].strip() if models else ""
    if Path("/proc/meminfo").exists():
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            meminfo[key] = value.strip()
    memory_kb = int(meminfo.get("MemTotal", "0 kB").split()[0])
    dirty = _git(
        "status", "--porcelain", "--", ".", ":!bench/REPORT.md", ":!bench/charts", ":!bench/results"
    )
    commit = _git("rev-parse", "--short=12", "HEAD") or "?"
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git commit": f"{commit} ({_git('rev-parse', '--abbrev-ref', 'HEAD') or '?'})"
        + (", with uncommitted changes" if dirty else ""),
        "cores": f"{os.cpu_count()} ({cpu})" if cpu else str(os.cpu_count()),
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "system": platform.platform(),
        "Python": platform.python_version(),
        "load average at start (1, 5, 15 min)": load,
    }


def busy_note(load: float, cores: int) -> str | None:
    """A word in the report when others' work shared the machine as it started."""
    if load <= cores:
        return None
    return (
        f"The machine was busy at the start (load average {load:.2f} on {cores} cores): "
        "other work shared it, so compare ratios, measured side by side, not milliseconds."
    )


def run_bench(bench: Bench, quick: bool, env: dict[str, str]) -> tuple[Result | None, str, int]:
    """Run one bench as its own process (settings in its environment, as bench/ids.py
    reads them): its result, what it printed, and its exit status."""
    path = RESULTS / f"{bench.name}.json"
    path.unlink(missing_ok=True)
    args = list(bench.quick if quick else bench.args)
    if bench.name == "coldstart" and any(DIST.glob("*.zip")):
        args += ["--zips", str(DIST.relative_to(ROOT))]
    command = [sys.executable, str(HERE / f"{bench.name}.py"), *args, "--json", str(path)]
    print(f"-- bench/{bench.name}.py {' '.join(args)}", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    print(done.stdout.rstrip())
    print(
        f"-- {bench.name}: {time.perf_counter() - started:.0f} s, exit {done.returncode}",
        flush=True,
    )
    if not path.exists():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-OUTPUT_LINES:])
        print(done.stderr.rstrip(), file=sys.stderr)
        return None, f"{done.stdout}\n(stderr, last lines)\n{tail}", done.returncode
    return Result.load(path), done.stdout, done.returncode


def _env_for(stack: dict[str, str] | None) -> dict[str, str]:
    return {**os.environ, **(stack or {})}


def run_all(benches: list[Bench], quick: bool, run: Run) -> None:
    """Each bench in turn, those needing a stack first, all on one stack."""
    with_stack = [b for b in benches if b.stack]
    alone = [b for b in benches if not b.stack]
    if with_stack:
        with stack_env() as env:
            run.machine.update(server_versions(env))
            for bench in with_stack:
                _one(bench, quick, _env_for(env), run)
    for bench in alone:
        _one(bench, quick, _env_for(None), run)


def _one(bench: Bench, quick: bool, env: dict[str, str], run: Run) -> None:
    """Run a bench and note how it went: a bench that wrote no result failed; one that
    did but exited non-zero (coldstart, past its target) is noted."""
    result, output, status = run_bench(bench, quick, env)
    run.ran.append(bench.name)
    run.outputs[bench.name] = output
    if result is None:
        run.failures[bench.name] = f"exit {status}, no result file (what it printed is kept)"
    elif status:
        run.notes.append(f"{bench.name} exited {status}: see what it printed, under its section.")


def load_results() -> list[Result]:
    """Every result file in bench/results/ (those named with a leading "_" are not)."""
    return [
        Result.load(path)
        for path in sorted(RESULTS.glob("*.json"))
        if not path.name.startswith("_")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="token sizes: try the report")
    parser.add_argument("--only", help="comma-separated benches to run (default: all)")
    parser.add_argument("--render-only", action="store_true", help="redraw from bench/results/")
    parser.add_argument("--started-at", type=float, help="when `make bench` began (epoch s)")
    args = parser.parse_args()
    began = time.time()
    RESULTS.mkdir(exist_ok=True)
    if args.render_only:
        run = Run(**json.loads(RUN_FILE.read_text())) if RUN_FILE.exists() else Run()
    else:
        names = args.only.split(",") if args.only else [b.name for b in BENCHES]
        unknown = set(names) - {b.name for b in BENCHES}
        if unknown:
            parser.error(f"--only: no bench {', '.join(sorted(unknown))}")
        run = Run(machine=machine())
        busy = busy_note(os.getloadavg()[0], os.cpu_count() or 1)
        if busy:
            run.notes.append(busy)
        if DIST.is_dir() and any(DIST.glob("*.zip")):
            run.notes.append("coldstart measured the zips in dist/ (`make package`).")
        else:
            run.notes.append(
                "coldstart ran without --zips: no dist/ (`make package` first to add the "
                "deployment zips' sizes and their import times)."
            )
        if args.quick:
            run.notes.append("**--quick**: token sizes, to try the report; not figures to quote.")
        run_all([b for b in BENCHES if b.name in names], args.quick, run)
        if args.only and RUN_FILE.exists():  # the others' printouts, from the run before
            earlier = json.loads(RUN_FILE.read_text()).get("outputs", {})
            run.outputs = {**earlier, **run.outputs}
        benches = time.time() - began
        run.machine["benchmarks' time"] = f"{benches / 60:.1f} min"
        if args.started_at:
            total = time.time() - args.started_at
            within = "within" if total <= BUDGET_SECONDS else "OVER"
            run.machine["`make bench` in all, set-up included"] = (
                f"{total / 60:.1f} min ({within} the {BUDGET_SECONDS // 60} min budget)"
            )
        RUN_FILE.write_text(json.dumps(asdict(run), indent=1) + "\n")
    order = [b.name for b in BENCHES]
    render(load_results(), run, REPORT, CHARTS, others_hint=LOAD_HINT, order=order)
    print(f"wrote {REPORT.relative_to(ROOT)} and {CHARTS.relative_to(ROOT)}/")
    for label, value in run.machine.items():
        if "time" in label or "make bench" in label:
            print(f"{label}: {value}")
    if run.failures:
        print(f"failed: {', '.join(run.failures)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
