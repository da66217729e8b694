"""CloudFormation's intrinsic functions, and what every part of the template shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Template = dict[str, Any]

# Lambda's runtimes and platform: the zips carry wheels built for exactly these. The API
# and fanout run the Python the tests run (3.11, on Amazon Linux 2, glibc 2.26: wheels up
# to manylinux2014); thumbnail needs Pillow 13, whose wheels need glibc 2.28, so it runs
# python3.12 on Amazon Linux 2023 (glibc 2.34).
ARCHITECTURE = "x86_64"


@dataclass(frozen=True)
class Runtime:
    name: str
    python_version: str
    platforms: tuple[str, ...]


PYTHON_311 = Runtime("python3.11", "3.11", ("manylinux2014_x86_64",))
PYTHON_312 = Runtime(
    "python3.12",
    "3.12",
    ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64"),
)


def ref(logical_id: str) -> Template:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> Template:
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(text: str) -> Template:
    return {"Fn::Sub": text}


def tags(plan: Plan, **more: str) -> list[dict[str, str]]:
    """CloudFormation's tag list: every resource says which stage it belongs to."""
    pairs = {"app": "photofeed", "stage": plan.stage, **more}
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


@dataclass(frozen=True)
class Plan:
    """What one stage's template is built for: its name and its physical databases."""

    stage: str
    databases: tuple[str, ...] = ("db0", "db1")
    logical_shards: int = 4096

    @property
    def prefix(self) -> str:
        """Every resource's name starts with this (`photofeed-dev-...`)."""
        return f"photofeed-{self.stage}"

    def function_name(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    @staticmethod
    def database_id(name: str) -> str:
        """The logical-ID stem of a physical database: db0 -> Db0."""
        return name[:1].upper() + name[1:]
