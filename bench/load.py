"""A load test of the local API on a seeded world (`photofeed seed`): a realistic mix,
feed reads first, for a fixed duration; prints a table and writes bench/results/load.json.

    .venv/bin/python bench/load.py                      # 10 minutes, 8 workers
    .venv/bin/python bench/load.py --duration 120 --stack-env /tmp/stack/stack.env

Closed loop: each worker thread (its own keep-alive HTTP session) picks a logged-in
seeded user and a request by weight, sends it, records its route, status and latency,
and goes again. Reads outnumber writes ~100:1. Media and user IDs come from earlier
answers (feeds, explore), as a phone's do. Any answer but the route's success status,
and any failed connection, is an error.

Every 5 s, the memory of each stack process (api, pump, moto, redis, pgbouncer,
postgres with its backends) is sampled from /proc: RSS, and PSS (shared pages split
among the processes sharing them: postgres' backends share its buffers, so their RSS
sum counts those once per backend and PSS does not).

Results file (JSON; other reports read it):

    {"name": "load", "description": str, "started_at": ISO 8601, "config": {...},
     "figures": {name: {"value": number, "unit": str}, ...},
     "routes": {"GET /feed": {"requests": int, "rps": float, "p50_ms": float,
                              "p99_ms": float, "errors": int, "statuses": {code: n}}, ...},
     "rss": {"api": {"unit": "MB", "first": f, "last": f, "max": f, "pss_last": f,
                     "samples": [[seconds since start, rss MB], ...]}, ...}}

Why a script of our own and not locust: the mix, the ID pools and the /proc sampling
are ~300 lines here; locust would add gevent and its own process model on a 2-core
machine where the load generator must stay small, and still need the sampling and the
results file written by hand.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import random
import re
import shlex
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.ops.seed import PASSWORD, TAGS, username  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "load.json"
SAMPLE_SECONDS = 5.0
POOL = 5_000  # IDs remembered from answers
TIMEOUT_SECONDS = 30
CITIES = [(48.8566, 2.3522), (35.6762, 139.6503), (40.7128, -74.0060)]


@dataclass
class Caller:
    """A logged-in seeded user."""

    id: str
    headers: dict[str, str]


@dataclass
class World:
    """What the workers share: callers, IDs seen in answers, and what happened."""

    callers: list[Caller]
    media: deque = field(default_factory=lambda: deque(maxlen=POOL))
    users: deque = field(default_factory=lambda: deque(maxlen=POOL))
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)

    def remember(self, body: dict) -> None:
        for item in body.get("items", []):
            if "owner" in item:
                self.media.append(item["id"])
                self.users.append(item["owner"]["id"])
            elif "username" in item:
                self.users.append(item["id"])

    def record(self, route: str, status: int, seconds: float, ok: bool, detail: str) -> None:
        with self.lock:
            self.latencies[route].append(seconds)
            self.statuses[route][status] += 1
            if not ok:
                self.errors[route] += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{route} {status} {detail[:300]}")


class Worker:
    """One closed-loop client."""

    def __init__(self, base: str, world: World, rng: random.Random) -> None:
        self.base = base
        self.world = world
        self.rng = rng
        self.http = requests.Session()

    def call(
        self, route: str, method: str, path: str, caller: Caller, ok: int = 200, **kwargs
    ) -> dict | None:
        started = time.perf_counter()
        try:
            response = self.http.request(
                method, self.base + path, headers=caller.headers, timeout=TIMEOUT_SECONDS, **kwargs
            )
        except requests.RequestException as exc:
            self.world.record(route, 0, time.perf_counter() - started, False, repr(exc))
            return None
        seconds = time.perf_counter() - started
        good = response.status_code == ok
        self.world.record(route, response.status_code, seconds, good, response.text)
        return response.json() if good and response.content else None

    def some_media(self) -> str | None:
        return self.rng.choice(self.world.media) if self.world.media else None

    def some_user(self) -> str | None:
        return self.rng.choice(self.world.users) if self.world.users else None

    # Reads.
    def feed(self, me: Caller) -> None:
        body = self.call("GET /feed", "GET", "/feed?count=20", me)
        if body:
            self.world.remember(body)
            if body.get("next_max_id") and self.rng.random() < 0.25:
                self.call(
                    "GET /feed?max_id", "GET", f"/feed?count=20&max_id={body['next_max_id']}", me
                )

    def profile(self, me: Caller) -> None:
        if user := self.some_user():
            self.call("GET /users/{id}", "GET", f"/users/{user}", me)

    def user_media(self, me: Caller) -> None:
        if user := self.some_user():
            body = self.call("GET /users/{id}/media", "GET", f"/users/{user}/media?count=12", me)
            if body:
                self.world.remember(body)

    def media(self, me: Caller) -> None:
        if media := self.some_media():
            self.call("GET /media/{id}", "GET", f"/media/{media}", me)

    def likes(self, me: Caller) -> None:
        if media := self.some_media():
            self.call("GET /media/{id}/likes", "GET", f"/media/{media}/likes", me)

    def comments(self, me: Caller) -> None:
        if media := self.some_media():
            self.call("GET /media/{id}/comments", "GET", f"/media/{media}/comments", me)

    def followers(self, me: Caller) -> None:
        if user := self.some_user():
            body = self.call("GET /users/{id}/followers", "GET", f"/users/{user}/followers", me)
            if body:
                self.world.remember(body)

    def search(self, me: Caller) -> None:
        prefix = username(self.rng.randrange(1000))[: self.rng.randint(3, 7)]
        self.call("GET /users/search", "GET", f"/users/search?q={prefix}", me)

    def explore(self, me: Caller) -> None:
        body = self.call("GET /explore", "GET", "/explore?count=20", me)
        if body:
            self.world.remember(body)

    def activity(self, me: Caller) -> None:
        self.call("GET /activity", "GET", "/activity?count=20", me)

    def tag(self, me: Caller) -> None:
        self.call("GET /tags/{name}/media", "GET", f"/tags/{self.rng.choice(TAGS)}/media", me)

    def places(self, me: Caller) -> None:
        lat, lng = self.rng.choice(CITIES)
        self.call("GET /media/search", "GET", f"/media/search?lat={lat}&lng={lng}", me)

    # Writes.
    def like(self, me: Caller) -> None:
        if media := self.some_media():
            self.call("POST /media/{id}/like", "POST", f"/media/{media}/like", me)

    def comment(self, me: Caller) -> None:
        if media := self.some_media():
            body = {"body": self.rng.choice(["Nice!", "Love it #travel", "Wow 😍"])}
            self.call(
                "POST /media/{id}/comments", "POST", f"/media/{media}/comments", me, 201, json=body
            )

    def follow(self, me: Caller) -> None:
        user = self.some_user()
        if user and user != me.id:
            self.call("POST /users/{id}/follow", "POST", f"/users/{user}/follow", me)

    def upload(self, me: Caller) -> None:
        body = {"content_type": "image/jpeg", "byte_size": 2_400_000, "caption": "Load #test"}
        self.call("POST /media/uploads", "POST", "/media/uploads", me, 201, json=body)


# Requests by weight: reads ~99%, writes ~1%.
MIX: list[tuple[Callable[[Worker, Caller], None], float]] = [
    (Worker.feed, 40),
    (Worker.profile, 10),
    (Worker.media, 10),
    (Worker.user_media, 8),
    (Worker.likes, 5),
    (Worker.comments, 5),
    (Worker.explore, 5),
    (Worker.activity, 5),
    (Worker.search, 4),
    (Worker.followers, 3),
    (Worker.tag, 2),
    (Worker.places, 2),
    (Worker.like, 0.7),
    (Worker.comment, 0.3),
    (Worker.follow, 0.3),
    (Worker.upload, 0.2),
]


def run_worker(worker: Worker, until: float) -> None:
    actions = [action for action, _ in MIX]
    weights = list(_accumulate(weight for _, weight in MIX))
    while time.monotonic() < until:
        me = worker.rng.choice(worker.world.callers)
        action = actions[bisect.bisect(weights, worker.rng.random() * weights[-1])]
        action(worker, me)


def _accumulate(values) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


def log_in(base: str, users: int, callers: int, workers: int, rng: random.Random) -> list[Caller]:
    """Log in `callers` random seeded users (their feeds are then read as theirs)."""
    chosen = rng.sample(range(users), min(callers, users))

    def one(index: int) -> Caller:
        response = requests.post(
            f"{base}/sessions",
            json={"login": username(index), "password": PASSWORD},
            timeout=TIMEOUT_SECONDS,
        )
        response.raise_for_status()
        session = response.json()
        return Caller(session["user_id"], {"Authorization": f"Bearer {session['token']}"})

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, chosen))


def seeded_users(base: str, headers: dict[str, str]) -> int:
    """How many users the seed made (its usernames are numbered): by bisection."""

    def exists(index: int) -> bool:
        found = requests.get(
            f"{base}/users/by-username/{username(index)}", headers=headers, timeout=TIMEOUT_SECONDS
        )
        return found.status_code == 200

    low, high = 0, 1
    while exists(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if exists(middle) else (low, middle)
    return high


# Stack processes by what their command line holds.
SERVICES = {
    "postgres": "bin/postgres",
    "pgbouncer": "pgbouncer",
    "redis": "redis-server",
    "moto": "moto_server",
    "api": "devstack.api",
    "pump": "devstack.pump",
}


def stack_processes(stack_dir: Path) -> dict[str, int]:
    """The stack's services' root processes, by name."""
    found = {}
    for pid, _ in json.loads((stack_dir / "stack.pids").read_text()):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        for name, marker in SERVICES.items():
            if marker in command:
                found[name] = pid
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in task.read_text().split()]
    return pids


def _memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB; zeros if it is gone."""
    try:
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        pss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
            if line.startswith("Pss:")
        )
    except (OSError, StopIteration):
        return 0, 0
    return rss, pss


class Sampler(threading.Thread):
    """Samples every service's memory (summed over its process tree) until stopped."""

    def __init__(self, processes: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.samples: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        self.stop = threading.Event()
        self.started = time.monotonic()

    def sample(self) -> None:
        at = time.monotonic() - self.started
        for name, root in self.processes.items():
            rss = pss = 0
            for pid in _tree(root):
                r, p = _memory_kb(pid)
                rss += r
                pss += p
            self.samples[name].append((round(at, 1), round(rss / 1024, 1), round(pss / 1024, 1)))

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(SAMPLE_SECONDS)
        self.sample()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def results(world: World, sampler: Sampler, seconds: float, config: dict) -> dict:
    routes = {}
    for route in sorted(world.latencies, key=lambda r: -len(world.latencies[r])):
        times = world.latencies[route]
        routes[route] = {
            "requests": len(times),
            "rps": round(len(times) / seconds, 2),
            "p50_ms": round(percentile(times, 0.50) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1),
            "errors": world.errors.get(route, 0),
            "statuses": {str(k): v for k, v in sorted(world.statuses[route].items())},
        }
    every = [t for times in world.latencies.values() for t in times]
    writes = sum(v["requests"] for r, v in routes.items() if not r.startswith("GET"))
    rss = {
        name: {
            "unit": "MB",
            "first": samples[0][1],
            "last": samples[-1][1],
            "max": max(s[1] for s in samples),
            "pss_last": samples[-1][2],
            "samples": [[at, mb] for at, mb, _ in samples],
        }
        for name, samples in sorted(sampler.samples.items())
        if samples
    }
    figures = {
        "requests": {"value": len(every), "unit": "count"},
        "requests_per_second": {"value": round(len(every) / seconds, 1), "unit": "req/s"},
        "p50": {"value": round(percentile(every, 0.5) * 1000, 1), "unit": "ms"},
        "p99": {"value": round(percentile(every, 0.99) * 1000, 1), "unit": "ms"},
        "errors": {"value": sum(world.errors.values()), "unit": "count"},
        "reads_per_write": {
            "value": round((len(every) - writes) / max(writes, 1), 1),
            "unit": "ratio",
        },
        "duration": {"value": round(seconds, 1), "unit": "s"},
    }
    return {
        "name": "load",
        "description": "bench/load.py: a read-heavy mix against the local API on a seeded world",
        "started_at": config.pop("started_at"),
        "config": config,
        "figures": figures,
        "routes": routes,
        "rss": rss,
    }


def as_result(report: dict) -> dict:
    """The report in bench/results.py's format, for `make bench`'s report: the run's
    figures, each route's p50 and p99, each process's last RSS against its first (the
    ratio is its growth over the run) and RSS over time as curves; the report's own keys
    (config, routes, rss) are kept beside them."""
    from bench.results import Result  # noqa: PLC0415 (run as a file, bench/ is a package)

    result = Result.of(__file__, __doc__, "Load test", **report["config"])
    better = {"requests_per_second": "higher", "p50": "lower", "p99": "lower", "errors": "lower"}
    for name, figure in report["figures"].items():
        result.figure(name, figure["value"], figure["unit"], better=better.get(name, ""))
    for route, found in report["routes"].items():
        for stat in ("p50", "p99"):
            result.figure(f"{route} {stat}", found[f"{stat}_ms"], "ms", better="lower")
    for process, memory in report["rss"].items():
        result.figure(
            f"{process} RSS, last",
            memory["last"],
            "MB",
            better="lower",
            baseline=f"{process} RSS, first",
            baseline_value=memory["first"],
        )
        for at, mb in memory["samples"]:
            result.point(f"{process} RSS", at, mb, x_label="seconds", y_label="RSS MB")
    found = result.to_dict()
    found.update(
        recorded_at=report["started_at"],
        seconds=report["figures"]["duration"]["value"],
        config=report["config"],
        routes=report["routes"],
        rss=report["rss"],
    )
    return found


def dump(report: dict) -> str:
    """The report as JSON, indented, each [seconds, MB] sample on one line."""
    text = json.dumps(report, indent=1, ensure_ascii=False)
    return re.sub(r"\[\s+([\d.]+),\s+([\d.]+)\s+\]", r"[\1, \2]", text) + "\n"


def print_table(report: dict) -> None:
    print(f"\n{'route':<28} {'requests':>9} {'rps':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for route, r in report["routes"].items():
        print(
            f"{route:<28} {r['requests']:>9} {r['rps']:>7} {r['p50_ms']:>8} {r['p99_ms']:>8} "
            f"{r['errors']:>7}"
        )
    f = report["figures"]
    print(
        f"{'all':<28} {f['requests']['value']:>9} {f['requests_per_second']['value']:>7} "
        f"{f['p50']['value']:>8} {f['p99']['value']:>8} {f['errors']['value']:>7}"
    )
    print(f"reads per write: {f['reads_per_write']['value']}")
    print(f"\n{'process':<10} {'RSS MB first':>12} {'last':>8} {'max':>8} {'PSS MB last':>12}")
    for name, m in report["rss"].items():
        print(f"{name:<10} {m['first']:>12} {m['last']:>8} {m['max']:>8} {m['pss_last']:>12}")


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stack-env", type=Path, default=ROOT / ".local" / "stack.env")
    parser.add_argument("--url", help="the API (default: the stack's, or http://127.0.0.1:8000)")
    parser.add_argument("--duration", type=float, default=600, help="seconds (default 600)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--callers", type=int, default=200, help="seeded users logged in")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    env = read_env(args.stack_env) if args.stack_env.exists() else {}
    base = (args.url or env.get("PHOTOFEED_API_URL") or "http://127.0.0.1:8000").rstrip("/")
    rng = random.Random(args.seed)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    first = log_in(base, 1, 1, 1, rng)[0]
    users = seeded_users(base, first.headers)
    print(f"{users} seeded users; logging {args.callers} in...", flush=True)
    callers = log_in(base, users, args.callers, args.workers, rng)
    world = World(callers)
    stack_dir = Path(env.get("PHOTOFEED_STACK_DIR", ROOT / ".local"))
    sampler = Sampler(stack_processes(stack_dir) if (stack_dir / "stack.pids").exists() else {})
    sampler.start()
    print(f"{args.workers} workers for {args.duration:.0f} s against {base}...", flush=True)
    began = time.monotonic()
    until = began + args.duration
    threads = [
        threading.Thread(
            target=run_worker, args=(Worker(base, world, random.Random(args.seed + i)), until)
        )
        for i in range(args.workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    sampler.stop.set()
    sampler.join()
    config = {
        "started_at": started_at,
        "url": base,
        "duration_seconds": args.duration,
        "workers": args.workers,
        "callers": len(callers),
        "seeded_users": users,
        "seed": args.seed,
        "mix": {action.__name__: weight for action, weight in MIX},
    }
    report = results(world, sampler, seconds, config)
    print_table(report)
    for sample in world.error_samples:
        print(f"error: {sample}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump(as_result(report)))
    print(f"\nresults: {args.out}")
    return 0 if not world.errors else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
