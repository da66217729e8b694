"""Benchmarks, each against a side-by-side baseline measured in the same run.

Each is a script (`.venv/bin/python bench/NAME.py`, its docstring says what it measures);
`make bench` (bench/report.py) runs them all and writes bench/REPORT.md.
"""
