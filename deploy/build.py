"""`make package`: the stage's template and its four deployment zips, in `dist/`.

- `deployment.zip` and `sam.json` come from `chalice package` (the API: app.py,
  chalicelib, requirements.txt), with `deploy.template.merge_template` merged in.
- `thumbnail.zip`, `fanout.zip` and `ops.zip`: each function's own requirements as
  wheels for its Lambda runtime, the shared chalicelib, and its own folder of functions/
  (and, for ops, sql/: migrations and shard moves build schemas from it).
- Every zip built for the Python running this (3.11) carries compiled bytecode: Lambda's
  code directory is read-only, so without it every cold start compiles every module.

No AWS account is needed: Chalice is given dummy credentials when none are set.
"""

from __future__ import annotations

import compileall
import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploy.cfn import Plan, Runtime
from deploy.functions import FUNCTIONS, Function
from deploy.template import merge_template

ROOT = Path(__file__).resolve().parent.parent
API_ZIP = "deployment.zip"
TEMPLATE = "sam.json"
# What a zip must never carry, by top-level name: the API never decodes images.
API_FORBIDDEN = ("PIL", "pillow_heif", "blurhash", "pyvips")
# Fixed timestamps: the same sources give byte-identical zips, so unchanged code is not
# uploaded again.
_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    """Raised when a package cannot be built or is not what it should be."""


def package(plan: Plan, out: Path) -> dict[str, Path]:
    """Build everything for `plan` into `out` (emptied first); returns the files by name."""
    if out.exists():
        shutil.rmtree(out)
    with tempfile.TemporaryDirectory(prefix="photofeed-package-") as scratch:
        work = Path(scratch)
        merge = work / "merge.json"
        merge.write_text(json.dumps(merge_template(plan), indent=1))
        _chalice_package(plan, merge, out)  # makes `out`
        # The builds are mostly pip and zlib in child processes and C: side by side.
        with ThreadPoolExecutor(max_workers=len(FUNCTIONS) + 1) as pool:
            builds = [pool.submit(_api_zip, out / API_ZIP, work / "api")]
            builds += [
                pool.submit(_function_zip, f, work / f.role, out / f.zip_name) for f in FUNCTIONS
            ]
            for build in builds:
                build.result()
    return {p.name: p for p in sorted(out.iterdir())}


def _api_zip(path: Path, scratch: Path) -> None:
    _check_api_zip(path)
    _compile_zip(path, scratch)


def _chalice_package(plan: Plan, merge: Path, out: Path) -> None:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if "AWS_ACCESS_KEY_ID" not in env and "AWS_PROFILE" not in env:
        env.update(AWS_ACCESS_KEY_ID="packaging", AWS_SECRET_ACCESS_KEY="packaging")  # noqa: S106
    chalice = Path(sys.executable).with_name("chalice")
    command = [str(chalice), "package", "--stage", plan.stage, "--merge-template", str(merge)]
    _run([*command, str(out)], cwd=ROOT, env=env)


def _check_api_zip(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    found = sorted(tops.intersection(API_FORBIDDEN))
    if found:
        raise PackageError(f"{path.name} must not contain {', '.join(found)}")
    if "app.py" not in tops or "chalicelib" not in tops:
        raise PackageError(f"{path.name} lacks app.py or chalicelib")


def _function_zip(function: Function, build: Path, dest: Path) -> None:
    requirements = ROOT / "functions" / function.role / "requirements.txt"
    _install_wheels(requirements, function.runtime, build)
    shutil.copytree(ROOT / "chalicelib", build / "chalicelib", ignore=_ignored)
    (build / "functions").mkdir()
    shutil.copy2(ROOT / "functions" / "__init__.py", build / "functions" / "__init__.py")
    shutil.copytree(
        ROOT / "functions" / function.role, build / "functions" / function.role, ignore=_ignored
    )
    if function.role == "ops":
        # Migrations and shard moves build each shard's schema from sql/.
        shutil.copytree(ROOT / "sql", build / "sql")
    if function.runtime.python_version == _running_python():
        _compile(build)
    _zip(build, dest)


def _install_wheels(requirements: Path, runtime: Runtime, target: Path) -> None:
    """The requirements as binary wheels for Lambda's platform, never built here."""
    platforms = [arg for p in runtime.platforms for arg in ("--platform", p)]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--implementation",
            "cp",
            "--python-version",
            runtime.python_version,
            "--only-binary=:all:",
            *platforms,
            "-r",
            str(requirements),
        ],
        cwd=ROOT,
    )


def _ignored(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo"))}


def _running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _compile(directory: Path) -> None:
    """Bytecode beside every module, valid whatever the files' timestamps."""
    ok = compileall.compile_dir(
        directory,
        quiet=2,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise PackageError(f"some modules in {directory} do not compile")


def _compile_zip(path: Path, scratch: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(scratch)
    _compile(scratch)
    _zip(scratch, path)


def _zip(directory: Path, dest: Path) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(str(path.relative_to(directory)), date_time=_EPOCH)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        output = (done.stdout + done.stderr).strip()
        raise PackageError(f"{' '.join(command[:3])} failed:\n{output}")


def lint(template: Path) -> list[str]:
    """cfn-lint's findings on the packaged template (empty: clean)."""
    done = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
