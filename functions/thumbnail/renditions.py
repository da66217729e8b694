"""Renditions of one uploaded original: pure image work, no AWS and no database.

render() trusts nothing it is given: it opens the bytes with the declared type's decoder
only, refuses decompression bombs from the header before decoding a pixel, turns the
photo upright, drops every piece of metadata but the colour profile, and encodes four
sizes in JPEG and WebP, with a blurhash to show while they load.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from typing import Any

import pillow_heif
from blurhash import _functions as blurhash_binding
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

# Only the primary image is wanted. Without thumbnails, draft() can never hand back an
# embedded thumbnail (whose pixels need not match the photo's) instead of the photo.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

CONTENT_TYPES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
}
# Rendition widths, largest first: each is resized from the one before. Never upscaled.
WIDTHS = {"large": 1080, "medium": 640, "small": 320}
SQUARE = ("square", 150)  # a centre crop, always this size so that grids stay uniform
# Phones' full-resolution modes top out near 50 MP; 50 MP of RGB decodes to 150 MB.
DEFAULT_MAX_PIXELS = 50_000_000

# libjpeg-turbo's knee: at 82 (4:2:0) artefacts are invisible at phone viewing distances
# and files are ~40% smaller than at 95. Progressive paints coarse-to-fine on slow
# networks and is a few % smaller at these sizes; optimize (own Huffman tables) 2-5% more.
JPEG_OPTIONS: dict[str, Any] = {"quality": 82, "progressive": True, "optimize": True}
# WebP 80 looks like JPEG 82 at ~25-35% fewer bytes. Method 4 is libwebp's default
# trade-off; method 6 costs about twice the CPU for 1-2% fewer bytes.
WEBP_OPTIONS: dict[str, Any] = {"quality": 80, "method": 4}
# reduce() by whole factors to within 3x of the target, then LANCZOS: Pillow documents
# 3.0 as indistinguishable from a full LANCZOS in most cases, at a fraction of the cost.
REDUCING_GAP = 3.0
RESAMPLE = Image.Resampling.LANCZOS
# Transparency is flattened onto white, once, so the JPEG and WebP of a size look alike
# whatever the background a client draws them on.
BACKGROUND = "white"
BLURHASH_COMPONENTS = (4, 3)  # 4x3 suits landscape and portrait alike: 28 characters
BLURHASH_SIZE = 32  # a blurhash keeps only low frequencies: 32 px hold them all
BLURHASH_SOURCE = "small"  # the smallest whole (uncropped) rendition

NOT_ALLOWED = "the type is not allowed: JPEG, PNG, WebP or HEIC only"
EMPTY = "the file is empty"
NOT_DECLARED_TYPE = "not an image of the declared type"
CORRUPT = "the file is corrupt or truncated"
UNSUPPORTED_MODE = "the image's colour mode is not supported"

# What Pillow's decoders raise on corrupt or truncated input; pillow-heif adds
# RuntimeError (libheif's errors) and a malformed EXIF or palette can raise the last two.
DECODER_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    RuntimeError,
    IndexError,
    KeyError,
)

# EXIF orientation -> the transposition that makes the stored pixels upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
SWAPS_AXES = frozenset({5, 6, 7, 8})
ORIENTATION_TAG = 0x0112

# The ICC colour space (header bytes 16-20) that describes each opaque 8-bit mode.
PROFILE_SPACES = {"RGB": b"RGB ", "L": b"GRAY", "CMYK": b"CMYK"}
SRGB = ImageCms.createProfile("sRGB")


@dataclass(frozen=True)
class Rendition:
    """One encoded rendition, ready to store."""

    name: str
    format: str  # "jpeg" or "webp"
    content_type: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Rendered:
    """All that is made of one original: its upright size, blurhash and renditions."""

    width: int
    height: int
    blurhash: str
    renditions: list[Rendition]


class BadImage(Exception):
    """Raised when an upload is not a usable image; `reason` is fit to show its owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Encoding:
    format: str
    content_type: str
    pillow_format: str
    options: dict[str, Any]


ENCODINGS = (
    _Encoding("jpeg", "image/jpeg", "JPEG", JPEG_OPTIONS),
    _Encoding("webp", "image/webp", "WEBP", WEBP_OPTIONS),
)


def render(data: bytes, content_type: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Rendered:
    """Every rendition and the blurhash of an original; BadImage if it is not usable."""
    pillow_format = CONTENT_TYPES.get(content_type.partition(";")[0].strip().lower())
    if pillow_format is None:
        raise BadImage(NOT_ALLOWED)
    if not data:
        raise BadImage(EMPTY)
    try:
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as original:
            return _render_opened(original, max_pixels)
    except Image.DecompressionBombError as exc:
        # Pillow's own ceiling (2 x MAX_IMAGE_PIXELS), met while it read the header.
        ceiling = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise BadImage(_too_large(ceiling, max_pixels, "more than ")) from exc
    except UnidentifiedImageError as exc:
        raise BadImage(NOT_DECLARED_TYPE) from exc
    except DECODER_ERRORS as exc:
        raise BadImage(CORRUPT) from exc


def _render_opened(original: Image.Image, max_pixels: int) -> Rendered:
    _refuse_bombs(original.size, max_pixels)
    orientation = _orientation(original)  # JPEG, WebP, HEIF: from the header; PNG decodes
    upright_size = _upright_size(original.size, orientation)
    # JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free; other formats ignore drafts.
    original.draft(None, _draft_size(original.size, upright_size))
    original.load()
    _refuse_bombs(original.size, max_pixels)  # a HEIF can decode larger than it declared
    pixels, icc = _srgb_or_tagged(_replacing(original, _upright(original, orientation)))
    sized = _sized(pixels, upright_size)
    if all(image is not pixels for image in sized.values()):
        pixels.close()  # free the decoded photo before encoding
    try:
        renditions = [
            _encoded(name, image, icc, encoding)
            for name, image in sized.items()
            for encoding in ENCODINGS
        ]
        blurhash = _blurhash(sized[BLURHASH_SOURCE])
    finally:
        for image in sized.values():
            image.close()
    return Rendered(*upright_size, blurhash=blurhash, renditions=renditions)


def _replacing(old: Image.Image, new: Image.Image) -> Image.Image:
    """`new`, having closed `old` if `new` is another image: one full-size copy at a time."""
    if new is not old:
        old.close()
    return new


def _refuse_bombs(size: tuple[int, int], max_pixels: int) -> None:
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise BadImage(_too_large(pixels, max_pixels))


def _too_large(pixels: int, max_pixels: int, qualifier: str = "") -> str:
    return (
        f"the image is too large: {qualifier}{_megapixels(pixels)} megapixels, "
        f"at most {_megapixels(max_pixels)}"
    )


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.3g}"


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation, 1 when absent or nonsense (read from the header for JPEG)."""
    orientation = image.getexif().get(ORIENTATION_TAG, 1)
    return orientation if isinstance(orientation, int) and orientation in UPRIGHT else 1


def _upright_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = size
    return (height, width) if orientation in SWAPS_AXES else (width, height)


def _draft_size(stored: tuple[int, int], upright: tuple[int, int]) -> tuple[int, int]:
    """The smallest stored size to decode that still covers every rendition."""
    largest_width = max(WIDTHS.values())
    # The large rendition's width, and the square's side across the image's short side.
    scale = min(1.0, max(largest_width / upright[0], SQUARE[1] / min(upright)))
    return (max(1, math.ceil(stored[0] * scale)), max(1, math.ceil(stored[1] * scale)))


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    transposition = UPRIGHT.get(orientation)
    return image if transposition is None else image.transpose(transposition)


def _srgb_or_tagged(image: Image.Image) -> tuple[Image.Image, bytes | None]:
    """8-bit RGB pixels, with no metadata, and the ICC profile describing them (None: sRGB).

    An RGB profile is kept byte for byte. Grey and CMYK pixels are converted to sRGB
    through their own profile when they have a usable one, naively otherwise.
    """
    icc = image.info.get("icc_profile") or None
    opaque = _replacing(image, _opaque(image))
    space = PROFILE_SPACES[opaque.mode]
    profile_space = icc[16:20] if icc else None
    if opaque.mode == "RGB":
        pixels, icc = opaque, icc if profile_space == space else None
    elif icc and profile_space == space:
        pixels, icc = _replacing(opaque, _to_srgb(opaque, icc)), None
    else:
        pixels, icc = _replacing(opaque, opaque.convert("RGB")), None
    pixels.info = {}  # EXIF, GPS, XMP, comments: savers write some of these from here
    return pixels, icc


def _opaque(image: Image.Image) -> Image.Image:
    """The image as 8-bit L, RGB or CMYK, any transparency flattened onto the background."""
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        # Pillow clips 16-bit values to 255 on conversion: scale them down instead.
        return image.convert("I").point(lambda value: value / 256).convert("L")
    if mode == "1":
        return image.convert("L")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("PA", "YCbCr"):
        image = image.convert("RGBA" if mode == "PA" else "RGB")
    if image.mode in ("LA", "RGBA"):
        flattened = Image.new(image.mode[:-1], image.size, BACKGROUND)
        flattened.paste(image, mask=image.getchannel("A"))
        return flattened
    if image.mode not in PROFILE_SPACES:
        raise BadImage(UNSUPPORTED_MODE)
    return image


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, profile, SRGB, outputMode="RGB")
    except ImageCms.PyCMSError:
        return image.convert("RGB")  # an unusable profile: as if there were none


def _sized(image: Image.Image, upright_size: tuple[int, int]) -> dict[str, Image.Image]:
    """The pixels of every rendition by name: each width from the one before, the square."""
    sized: dict[str, Image.Image] = {}
    source = image
    for name, width in WIDTHS.items():
        source = sized[name] = _resized(source, _width_size(upright_size, width))
    square_name, side = SQUARE
    # The smallest image whose short side still covers the square, else the largest.
    covering = [each for each in (*reversed(sized.values()), image) if min(each.size) >= side]
    square_source = covering[0] if covering else image
    sized[square_name] = ImageOps.fit(square_source, (side, side), RESAMPLE)
    return sized


def _width_size(upright_size: tuple[int, int], width: int) -> tuple[int, int]:
    """`width` wide (never wider than the original) at the original's aspect ratio."""
    original_width, original_height = upright_size
    width = min(width, original_width)
    return width, max(1, round(original_height * width / original_width))


def _resized(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)


def _encoded(name: str, image: Image.Image, icc: bytes | None, encoding: _Encoding) -> Rendition:
    buffer = io.BytesIO()
    image.save(buffer, encoding.pillow_format, icc_profile=icc, **encoding.options)
    return Rendition(
        name=name,
        format=encoding.format,
        content_type=encoding.content_type,
        width=image.width,
        height=image.height,
        data=buffer.getvalue(),
    )


def _blurhash(image: Image.Image) -> str:
    """The blurhash of an RGB image, computed on a copy at most BLURHASH_SIZE px a side.

    It calls woltapp's C encoder directly: blurhash.encode() goes through
    Image.getdata(), deprecated in Pillow 13 and gone in 14, one Python int per channel.
    """
    scale = min(1.0, BLURHASH_SIZE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    with image.resize(size, Image.Resampling.BOX) as tiny:
        rgb = tiny.tobytes()
    ffi, lib = blurhash_binding.ffi, blurhash_binding.lib
    x_components, y_components = BLURHASH_COMPONENTS
    destination = ffi.new("char[]", 2 + 4 + (9 * 9 - 1) * 2 + 1)  # the longest hash, NUL
    result = lib.create_hash_from_pixels(
        x_components,
        y_components,
        size[0],
        size[1],
        ffi.from_buffer("uint8_t[]", rgb),
        size[0] * 3,
        destination,
    )
    return ffi.string(result).decode("ascii")
