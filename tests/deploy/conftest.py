"""`make package` once per test session: the template and the zips every deploy test reads.

Building takes most of a minute (pip fetches wheels for Lambda's platform), so it happens
once, into a directory removed at the end of the session.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy.build import TEMPLATE, package
from deploy.cfn import Plan
from tests.deploy.cloudformation import PackagedTemplate


@dataclass(frozen=True)
class Package:
    """What `make package` wrote for one stage: sam.json and the zips beside it."""

    plan: Plan
    directory: Path

    @property
    def template_path(self) -> Path:
        return self.directory / TEMPLATE

    def code_of(self, function_properties: dict) -> zipfile.ZipFile:
        """The zip a function's CodeUri names (`./thumbnail.zip`); close it after use."""
        return zipfile.ZipFile(self.directory / function_properties["CodeUri"])


@pytest.fixture(scope="session")
def packaged() -> Iterator[Package]:
    plan = Plan("dev")
    with tempfile.TemporaryDirectory(prefix="photofeed-deploy-test-") as scratch:
        out = Path(scratch) / "dist"
        package(plan, out)
        yield Package(plan, out)


@pytest.fixture(scope="session")
def template(packaged: Package) -> PackagedTemplate:
    return PackagedTemplate(json.loads(packaged.template_path.read_text()))
