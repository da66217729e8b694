"""A Redis Cluster of three masters on loopback, with an AUTH token: ElastiCache in cluster
mode as Photofeed meets it, built from the system's redis-server and redis-cli.

Each node is a redis-server of its own (memory only, in a private directory), on free
ports for clients and for the cluster bus; `redis-cli --cluster create` joins them and
spreads the 16384 hash slots over them. The nodes die with the test process.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import redis
from redis.cluster import RedisCluster

from devstack.processes import Process, free_port, run
from devstack.services import redis_server

MASTERS = 3
_READY_SECONDS = 15

T = TypeVar("T")


class LocalCluster:
    """Three masters, no replicas, every slot covered; AUTH with `token`."""

    def __init__(self, directory: Path, token: str) -> None:
        self.directory = directory
        self.token = token
        ports = _distinct_free_ports(2 * MASTERS)
        self.ports, self._bus_ports = ports[:MASTERS], ports[MASTERS:]
        self._nodes: list[Process] = []

    @property
    def url(self) -> str:
        """The "configuration endpoint": any node, from which a client learns the others."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        """Start the nodes, join them into one cluster; return once it serves every slot."""
        for port, bus_port in zip(self.ports, self._bus_ports, strict=True):
            self._start_node(port, bus_port)
        for node, port in zip(self._nodes, self.ports, strict=True):
            node.wait_until(lambda p=port: self._answers(p), timeout=_READY_SECONDS)
        run(
            [
                _redis_cli(),
                "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas", "0", "--cluster-yes",
            ],
            log=self.directory / "cluster-create.log",
            env={**os.environ, "REDISCLI_AUTH": self.token},  # not on the command line
        )  # fmt: skip
        for node, port in zip(self._nodes, self.ports, strict=True):
            node.wait_until(lambda p=port: self._state(p) == "ok", timeout=_READY_SECONDS)

    def stop(self) -> None:
        for node in self._nodes:
            node.stop()
        self._nodes.clear()

    def node(self, port: int) -> redis.Redis:
        """A plain client of one node (no redirections followed)."""
        return redis.Redis(port=port, password=self.token, socket_timeout=2)

    def _start_node(self, port: int, bus_port: int) -> None:
        home = self.directory / str(port)
        home.mkdir(parents=True)
        node = Process(
            name=f"redis-cluster-{port}",
            argv=[
                redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-port", str(bus_port),
                "--cluster-config-file", str(home / "nodes.conf"), "--dir", str(home),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--requirepass", self.token, "--masterauth", self.token,
            ],
            log=home / "redis.log",
        )  # fmt: skip
        node.start()
        self._nodes.append(node)

    def _answers(self, port: int) -> bool:
        try:
            with self.node(port) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _state(self, port: int) -> str:
        with self.node(port) as client:
            return client.cluster("INFO")["cluster_state"]


def master_of(cache: RedisCluster, key: str) -> str:
    """The master ("host:port") holding `key`'s hash slot, as the client routes it."""
    return cache.get_node_from_key(key).name


def one_per_master(
    cache: RedisCluster, candidates: Iterable[T], key_of: Callable[[T], str]
) -> list[T]:
    """The first candidate whose key lands on each master: one per master, in the order
    found (keys of these candidates are in as many slots as there are masters)."""
    found: dict[str, T] = {}
    for candidate in candidates:
        found.setdefault(master_of(cache, key_of(candidate)), candidate)
        if len(found) == MASTERS:
            return list(found.values())
    raise AssertionError(f"the candidates reach only {sorted(found)}")


def _distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _redis_cli() -> str:
    found = shutil.which("redis-cli")
    if not found:
        raise RuntimeError("redis-cli not found: `make setup` installs it (with redis-server)")
    return found
