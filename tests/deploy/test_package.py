"""`make package`: a template cfn-lint accepts, whose references all resolve, and zips
Lambda can load (the handlers are there, the native code fits the runtime, the size fits)."""

from __future__ import annotations

import ast
import re
import zipfile

import pytest

from chalicelib.shards.migrations import SQL_DIR
from deploy.build import API_ZIP, lint
from tests.deploy.cloudformation import PSEUDO_PARAMETERS, references
from tests.deploy.expected import LAMBDAS

# Lambda's limit on a function's code, unzipped.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# What the API must never carry: it never decodes images.
IMAGE_LIBRARIES = ("PIL", "pillow_heif")
# A CPython extension module built for one interpreter: _imaging.cpython-312-x86_64-linux-gnu.so
_EXTENSION = re.compile(r"\.cpython-(\d)(\d+)-([a-z0-9_]+)-linux-gnu\.so$")


def test_cfn_lint_finds_nothing(packaged):
    findings = lint(packaged.template_path)

    assert findings == [], "\n".join(findings)


def test_every_reference_names_a_resource_or_parameter(template):
    # cfn-lint checks SAM resources against SAM's schemas only: it lets a Serverless
    # function's event source name a queue that does not exist.
    known = set(template.resources) | set(template.parameters) | set(PSEUDO_PARAMETERS)

    dangling = [
        f"{logical_id} -> {target}"
        for logical_id, resource in template.resources.items()
        for target in [*references(resource), *resource.get("DependsOn", [])]
        if target not in known
    ]
    dangling += [
        f"output {name} -> {target}"
        for name, output in template.body.get("Outputs", {}).items()
        for target in references(output)
        if target not in known
    ]

    assert dangling == []


def _module_defines(source: str, name: str) -> bool:
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return True
    return False


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_handler_names_a_module_of_its_zip_that_defines_it(packaged, template, function_id):
    properties = template.properties(function_id)
    module, _, attribute = properties["Handler"].rpartition(".")
    path = module.replace(".", "/") + ".py"

    with packaged.code_of(properties) as archive:
        assert path in archive.namelist(), f"{properties['CodeUri']} lacks {path}"
        source = archive.read(path).decode()

    assert _module_defines(source, attribute), f"{path} defines no {attribute}"


def test_the_api_zip_has_the_app_and_no_image_library(packaged):
    with zipfile.ZipFile(packaged.directory / API_ZIP) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}

    assert {"app.py", "chalicelib"} <= tops
    assert tops.isdisjoint(IMAGE_LIBRARIES), sorted(tops & set(IMAGE_LIBRARIES))


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_zip_fits_lambdas_limit_unzipped(packaged, template, function_id):
    with packaged.code_of(template.properties(function_id)) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())

    assert unzipped < MAX_UNZIPPED_BYTES, f"{unzipped / 1e6:.1f} MB unzipped"


@pytest.mark.parametrize("function_id", LAMBDAS)
def test_a_zips_native_modules_are_built_for_its_runtime(packaged, template, function_id):
    properties = template.properties(function_id)
    runtime = properties["Runtime"].removeprefix("python")
    architecture = properties.get("Architectures", ["x86_64"])[0]

    with packaged.code_of(properties) as archive:
        tags = {
            name: match.groups()
            for name in archive.namelist()
            if (match := _EXTENSION.search(name))
        }

    wrong = [
        name
        for name, (major, minor, machine) in tags.items()
        if f"{major}.{minor}" != runtime or machine != architecture
    ]
    assert wrong == [], f"not for {properties['Runtime']} on {architecture}"


def test_the_operators_zip_carries_every_migration(packaged):
    # `db migrate` and `shards move` build each shard's schema from sql/.
    with zipfile.ZipFile(packaged.directory / "ops.zip") as archive:
        carried = {n for n in archive.namelist() if n.startswith("sql/") and n.endswith(".sql")}

    assert carried == {f"sql/{path.name}" for path in SQL_DIR.glob("*.sql")}
