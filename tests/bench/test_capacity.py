"""The capacity model's arithmetic: tiered prices and Little's law, from fixed inputs."""

from __future__ import annotations

import math

import pytest

from bench.capacity import LOAD, SCALES, Measured, _tiered, build, render_markdown


def test_a_tiered_price_charges_each_tier_at_its_own_price():
    tiers = ((10, 1.0), (30, 0.5), (math.inf, 0.1))

    assert _tiered(5, tiers) == 5
    assert _tiered(30, tiers) == 10 + 20 * 0.5
    assert _tiered(130, tiers) == pytest.approx(10 + 10 + 100 * 0.1)


def _inputs(feed_ms: float) -> dict[str, Measured]:
    values = {
        "feed_ms": feed_ms,
        "feed_p99_ms": 3 * feed_ms,
        "fanout_followers_per_s": 20_000.0,
        "redis_us_per_follower": 5.0,
        "feed_entry_bytes": 10.0,
        "thumbnail_ms": 500.0,
        "thumbnail_peak_mb": 40.0,
        "inserts_per_s": 5_000.0,
        "write_ms": feed_ms,
        "rendition_bytes": 1e6,
        "row_bytes_media": 400.0,
        "row_bytes_likes": 150.0,
    }
    return {name: Measured(value, "", "test") for name, value in values.items()}


def _row(markdown: str, section: str, quantity: str) -> str:
    part = markdown.split(f"## {section}")[1]
    line = next(line for line in part.splitlines() if line.startswith(f"| {quantity} |"))
    return line.split("|")[3].strip()


def test_api_concurrency_is_arrivals_times_duration_and_scales_linearly():
    markdown = render_markdown(build(_inputs(feed_ms=10.0)))
    requests = (LOAD["photos_per_s"] + LOAD["likes_per_s"]) * LOAD["reads_per_write"] + 135

    # peak 2x, every request 10 ms
    assert _row(markdown, "1x", "**API Lambda concurrency** (peak)") == f"{2 * requests / 100:,.0f}"
    assert len(SCALES) == 2
    one, hundred = (
        float(_row(markdown, f"{s:g}x", "**API Lambda concurrency** (peak)").replace(",", ""))
        for s in SCALES
    )
    assert hundred == pytest.approx(100 * one, rel=0.01)
