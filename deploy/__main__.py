"""python -m deploy package [--stage dev] [--out dist] [--databases db0,db1] [--no-lint]"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from deploy.build import ROOT, TEMPLATE, lint, package
from deploy.cfn import Plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("package", help="template and zips for one stage, in --out")
    build.add_argument("--stage", default="dev", choices=["dev", "prod"])
    build.add_argument("--out", type=Path, default=ROOT / "dist")
    build.add_argument(
        "--databases",
        default="db0,db1",
        help="the physical databases' names, comma-separated (one RDS Proxy each)",
    )
    build.add_argument("--logical-shards", type=int, default=4096)
    build.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    args = parser.parse_args(argv)

    databases = tuple(name.strip() for name in args.databases.split(",") if name.strip())
    plan = Plan(args.stage, databases, args.logical_shards)
    files = package(plan, args.out)
    for name, path in files.items():
        line = f"{path}  {path.stat().st_size / 1e6:8.1f} MB"
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                unpacked = sum(i.file_size for i in archive.infolist())
            line += f"  ({unpacked / 1e6:.1f} MB unzipped)"
        print(line)
    if args.no_lint:
        return 0
    findings = lint(args.out / TEMPLATE)
    for finding in findings:
        print(finding, file=sys.stderr)
    print(f"cfn-lint: {len(findings)} findings on {args.out / TEMPLATE}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
