"""Time and memory for one photo's renditions: ours against plain Pillow and pyvips.

One 12-megapixel JPEG, made here (4000x3000 of gradients and grain, an sRGB profile,
EXIF orientation 6 as a phone held upright writes it), goes through the whole set the
thumbnail Lambda makes: 1080, 640 and 320 wide and a 150 square, each in JPEG (q82,
progressive, optimised) and WebP (q80, effort 4), metadata but the ICC profile dropped,
and a 4x3 blurhash.

- ours: functions.thumbnail.renditions.render() (draft decode at a reduced DCT scale,
  each width resized from the one before);
- pillow: the plain way: full decode, ImageOps.exif_transpose, a LANCZOS resize per size
  from the full image, ImageOps.fit for the square, blurhash.encode on a 32 px copy;
- pyvips: pyvips.Image.thumbnail_buffer per size (shrink-on-load, auto-rotate, a centre
  crop for the square), libvips' savers keeping only the ICC profile, blurhash from its
  32 px thumbnail; with libvips' thread pool, and once more on one thread as Pillow runs
  (a Lambda below 1769 MB has less than one vCPU). The operation cache is off;
- pyvips-1-decode: one thumbnail_buffer to the large width, then each smaller size (and
  the blurhash's 32 px) by thumbnail_image from the one before, as ours does.

Each variant runs in a fresh process: imports, one warm-up, then --runs timed runs; the
figure is the median. Peak memory is the process's peak RSS (ru_maxrss) above its own
baseline taken after imports and before the first run. --json PATH also writes them
(bench/results.py).

    .venv/bin/python bench/thumbnail.py [--runs 7] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import blurhash
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageOps

from bench.results import Result, add_json_option
from functions.thumbnail.renditions import (
    BLURHASH_COMPONENTS,
    BLURHASH_SIZE,
    JPEG_OPTIONS,
    SQUARE,
    WEBP_OPTIONS,
    WIDTHS,
    render,
)

PHOTO_SIZE = (4000, 3000)  # 12 MP: what most phones still save by default
ORIENTATION = 6  # stored sideways, shown upright: 3000x4000
VARIANTS = ("ours", "pillow", "pyvips", "pyvips-1-thread", "pyvips-1-decode")
WARM_UPS = 1
# pyvips' names for our encoder settings, so that every variant writes the same files.
VIPS_JPEG = {"Q": JPEG_OPTIONS["quality"], "interlace": True, "optimize_coding": True}
VIPS_WEBP = {"Q": WEBP_OPTIONS["quality"], "effort": WEBP_OPTIONS["method"]}
# thumbnail_buffer fits a width x height box: a height no photo reaches lets width decide.
VIPS_ANY_HEIGHT = 1_000_000

Output = tuple[list[tuple[int, int, bytes]], str]  # (width, height, file) x 8, blurhash


def photo_jpeg() -> bytes:
    """The bench's original: smooth gradients, film-like grain, a profile, orientation 6."""
    width, height = PHOTO_SIZE
    channels = [
        Image.linear_gradient("L").resize(PHOTO_SIZE),
        Image.radial_gradient("L").resize(PHOTO_SIZE),
        Image.linear_gradient("L").rotate(90).resize(PHOTO_SIZE),
    ]
    grain = Image.effect_noise((width // 2, height // 2), 24).resize(PHOTO_SIZE)
    picture = ImageChops.add(Image.merge("RGB", channels), grain.convert("RGB"), offset=-128)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = ORIENTATION
    exif[ExifTags.Base.Make] = "Bench"
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=92, exif=exif.tobytes(), icc_profile=icc)
    return buffer.getvalue()


def ours(data: bytes) -> Output:
    rendered = render(data, "image/jpeg")
    files = [(r.width, r.height, r.data) for r in rendered.renditions]
    return files, rendered.blurhash


def plain_pillow(data: bytes) -> Output:
    """Decode it all, turn it upright, resize every size from the full image."""
    with Image.open(io.BytesIO(data)) as original:
        icc = original.info.get("icc_profile")
        upright = ImageOps.exif_transpose(original)
    sized = [
        upright.resize((w, round(upright.height * w / upright.width)), Image.Resampling.LANCZOS)
        for w in WIDTHS.values()
    ]
    side = SQUARE[1]
    sized.append(ImageOps.fit(upright, (side, side), Image.Resampling.LANCZOS))
    files = []
    for image in sized:
        for pillow_format, options in (("JPEG", JPEG_OPTIONS), ("WEBP", WEBP_OPTIONS)):
            buffer = io.BytesIO()
            image.save(buffer, pillow_format, icc_profile=icc, **options)
            files.append((image.width, image.height, buffer.getvalue()))
    tiny = upright.copy()
    tiny.thumbnail((BLURHASH_SIZE, BLURHASH_SIZE))
    return files, blurhash.encode(tiny, *BLURHASH_COMPONENTS)


def pyvips_thumbnails(data: bytes) -> Output:
    """libvips' own way: one thumbnail_buffer (shrink-on-load, upright) per size."""
    import pyvips  # noqa: PLC0415 (only this variant's process loads libvips)

    side = SQUARE[1]
    sized = [
        pyvips.Image.thumbnail_buffer(data, w, height=VIPS_ANY_HEIGHT, size="down")
        for w in WIDTHS.values()
    ]
    sized.append(pyvips.Image.thumbnail_buffer(data, side, height=side, crop="centre"))
    tiny = pyvips.Image.thumbnail_buffer(data, BLURHASH_SIZE, height=BLURHASH_SIZE)
    return _vips_saved(sized), _vips_blurhash(tiny)


def pyvips_one_decode(data: bytes) -> Output:
    """libvips decoding once: the large size from the file, each next from the last."""
    import pyvips  # noqa: PLC0415

    widths = iter(WIDTHS.values())
    sized = [pyvips.Image.thumbnail_buffer(data, next(widths), height=VIPS_ANY_HEIGHT)]
    for width in widths:
        sized.append(sized[-1].thumbnail_image(width, height=VIPS_ANY_HEIGHT))
    side = SQUARE[1]
    sized.append(sized[-1].thumbnail_image(side, height=side, crop="centre"))
    tiny = sized[-2].thumbnail_image(BLURHASH_SIZE, height=BLURHASH_SIZE)
    return _vips_saved(sized), _vips_blurhash(tiny)


def _vips_saved(sized: list) -> list[tuple[int, int, bytes]]:
    import pyvips  # noqa: PLC0415

    keep = pyvips.enums.ForeignKeep.ICC
    files = []
    for image in sized:
        files.append((image.width, image.height, image.jpegsave_buffer(keep=keep, **VIPS_JPEG)))
        files.append((image.width, image.height, image.webpsave_buffer(keep=keep, **VIPS_WEBP)))
    return files


def _vips_blurhash(tiny: object) -> str:
    pixels = Image.frombytes("RGB", (tiny.width, tiny.height), tiny.write_to_memory())
    return blurhash.encode(pixels, *BLURHASH_COMPONENTS)


WORK: dict[str, Callable[[bytes], Output]] = {
    "ours": ours,
    "pillow": plain_pillow,
    "pyvips": pyvips_thumbnails,
    "pyvips-1-thread": pyvips_thumbnails,
    "pyvips-1-decode": pyvips_one_decode,
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def measure_here(variant: str, original: Path, runs: int) -> dict[str, object]:
    """In the child: warm up, time `runs` runs, and read the peak above the baseline."""
    work = WORK[variant]
    if variant.startswith("pyvips"):
        import pyvips  # noqa: PLC0415

        pyvips.cache_set_max(0)  # the same buffer again must not come from the cache
    data = original.read_bytes()
    baseline = peak_rss_mb()
    for _ in range(WARM_UPS):
        work(data)
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        files, hash_ = work(data)
        seconds.append(time.perf_counter() - started)
    return {
        "ms": statistics.median(seconds) * 1000,
        "peak_mb": peak_rss_mb() - baseline,
        "sizes": [[w, h] for w, h, _ in files],
        "kb": sum(len(f) for _, _, f in files) / 1024,
        "blurhash": hash_,
    }


def in_child(arguments: list[str], env: dict[str, str] | None = None) -> str:
    """This script's stdout in a fresh interpreter, so that no peak or cache carries over.

    Linux hands a new process the RSS high-water mark of the one that started it, so the
    parent does nothing big itself: even the original is made in a child.
    """
    command = [sys.executable, __file__, *arguments]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def measure_in_child(variant: str, original: Path, runs: int) -> dict:
    env = dict(os.environ)
    if variant == "pyvips-1-thread":
        env["VIPS_CONCURRENCY"] = "1"
    return json.loads(in_child(["--child", variant, str(original), "--runs", str(runs)], env))


def report(figures: dict[str, dict], runs: int, original_kb: float) -> str:
    """A table of medians and peaks, with ours against each variant side by side."""
    ours_ms, ours_mb = figures["ours"]["ms"], figures["ours"]["peak_mb"]
    width, height = PHOTO_SIZE
    lines = [
        f"8 renditions + blurhash of one {width}x{height} JPEG ({original_kb:,.0f} KB, "
        f"orientation {ORIENTATION}, sRGB profile); median of {runs} runs after "
        f"{WARM_UPS} warm-up, each variant in a fresh process; peak RSS above the "
        "process's baseline after imports",
        f"{'variant':<17}{'median ms':>10}{'peak MB':>9}{'output KB':>11}"
        f"{'ours/this ms':>14}{'ours/this MB':>14}  blurhash",
    ]
    for variant, figure in figures.items():
        lines.append(
            f"{variant:<17}{figure['ms']:>10.0f}{figure['peak_mb']:>9.1f}{figure['kb']:>11.0f}"
            f"{ours_ms / figure['ms']:>14.2f}{ours_mb / max(figure['peak_mb'], 0.1):>14.2f}"
            f"  {figure['blurhash']}"
        )
    sizes = {variant: figure["sizes"] for variant, figure in figures.items()}
    lines.append(f"rendition sizes: {sizes['ours']}")
    for variant, variant_sizes in sizes.items():
        if variant_sizes != sizes["ours"]:
            lines.append(f"  ({variant} rounds some heights otherwise: {variant_sizes})")
    return "\n".join(lines)


def record(result: Result, figures: dict[str, dict]) -> None:
    """Ours' time and peak memory against each other variant's."""
    ours = figures["ours"]
    result.figure("ours, median", ours["ms"], "ms", better="lower")
    result.figure("ours, peak memory", ours["peak_mb"], "MB", better="lower")
    for variant, figure in figures.items():
        if variant == "ours":
            continue
        result.figure(
            "ours, median",
            ours["ms"],
            "ms",
            better="lower",
            baseline=variant,
            baseline_value=figure["ms"],
        )
        result.figure(
            "ours, peak memory",
            ours["peak_mb"],
            "MB",
            better="lower",
            baseline=variant,
            baseline_value=max(figure["peak_mb"], 0.1),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant (7)")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--make", type=Path, metavar="FILE", help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args()
    if args.make:
        args.make.write_bytes(photo_jpeg())
        return
    if args.child:
        variant, original = args.child
        print(json.dumps(measure_here(variant, Path(original), args.runs)))
        return

    result = Result.of(__file__, __doc__, "Renditions of one photo", runs=args.runs)
    with tempfile.TemporaryDirectory(prefix="bench-thumbnail-") as directory:
        original = Path(directory) / "original.jpg"
        in_child(["--make", str(original)])
        figures = {variant: measure_in_child(variant, original, args.runs) for variant in VARIANTS}
        print(report(figures, args.runs, original.stat().st_size / 1024))
    record(result, figures)
    result.write(args.json)


if __name__ == "__main__":
    main()
