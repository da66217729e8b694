"""Originals for upload tests, drawn and encoded here: real files of every allowed format,
photos with metadata a phone writes, and files a careless or hostile client might send.

No binary fixtures: every file is made by the test that uploads it.
"""

from __future__ import annotations

import io
import os
import struct
import zlib

import pillow_heif
from PIL import ExifTags, Image, ImageCms, ImageOps

Colour = tuple[int, int, int]

# An upright scene whose every flip and turn shows: four differently coloured quadrants.
TOP_LEFT, TOP_RIGHT = (220, 30, 30), (30, 190, 40)
BOTTOM_LEFT, BOTTOM_RIGHT = (30, 40, 220), (240, 220, 20)
UPRIGHT_SIZE = (360, 240)

# What EXIF orientation N says the camera did to the upright scene to store it (EXIF
# 2.32, 4.6.5); Pillow's ROTATE_90 turns counter-clockwise.
STORED_FROM_UPRIGHT = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

# Metadata a phone writes and no rendition may carry.
CAMERA_MAKE = "PhotofeedTestCam"
XMP_MARKER = b"PhotofeedXmpMarker"
COMMENT_MARKER = b"PhotofeedCommentMarker"
GPS_POSITION = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (52.0, 22.0, 12.5),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (4.0, 53.0, 30.0),
}
# An RGB colour profile (LittleCMS's sRGB): renditions keep such a profile byte for byte.
RGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo(width: int, height: int) -> Image.Image:
    """Photo-like content: gradients and some noise, so encoders have real work."""
    red = Image.linear_gradient("L").resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = Image.effect_noise((width, height), 24)
    return Image.merge("RGB", (red, green, blue))


def encoded(image: Image.Image, pillow_format: str, **options: object) -> bytes:
    """The image as a file of `pillow_format` (JPEG, PNG, WEBP; HEIF via pillow-heif)."""
    buffer = io.BytesIO()
    if pillow_format == "HEIF":
        pillow_heif.from_pillow(image).save(buffer, format="HEIF", **options)
    else:
        image.save(buffer, pillow_format, **options)
    return buffer.getvalue()


def jpeg(width: int = 1200, height: int = 900) -> bytes:
    """A photo-like JPEG of the given size."""
    return encoded(photo(width, height), "JPEG", quality=90)


def quadrants() -> Image.Image:
    """The upright scene: four quadrants of distinct colours."""
    width, height = UPRIGHT_SIZE
    image = Image.new("RGB", UPRIGHT_SIZE, BOTTOM_RIGHT)
    image.paste(TOP_LEFT, (0, 0, width // 2, height // 2))
    image.paste(TOP_RIGHT, (width // 2, 0, width, height // 2))
    image.paste(BOTTOM_LEFT, (0, height // 2, width // 2, height))
    return image


def quadrants_jpeg_with_orientation(orientation: int) -> bytes:
    """The upright scene as a camera stores it under EXIF `orientation`."""
    upright = quadrants()
    transposition = STORED_FROM_UPRIGHT[orientation]
    stored = upright if transposition is None else upright.transpose(transposition)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    data = encoded(stored, "JPEG", quality=95, exif=exif)
    # The file itself is right: Pillow's own reading of EXIF turns it upright.
    with Image.open(io.BytesIO(data)) as written:
        assert near(quadrant_colours(ImageOps.exif_transpose(written)), quadrant_colours(upright))
    return data


def quadrant_colours(image: Image.Image) -> list[Colour]:
    """The colour at the centre of each quadrant: top left, top right, bottom left, right."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    points = [(fx * width // 4, fy * height // 4) for fy in (1, 3) for fx in (1, 3)]
    return [rgb.getpixel(point) for point in points]  # type: ignore[misc]


def near(seen: list[Colour], wanted: list[Colour], tolerance: int = 40) -> bool:
    """Whether every colour seen is within `tolerance` of the wanted one, channel by channel."""
    return len(seen) == len(wanted) and all(
        abs(a - b) <= tolerance
        for s, w in zip(seen, wanted, strict=True)
        for a, b in zip(s, w, strict=True)
    )


def jpeg_with_camera_metadata() -> bytes:
    """A JPEG as a phone writes it: EXIF with the make and a GPS position, XMP, a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = CAMERA_MAKE
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS_POSITION)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + XMP_MARKER + b"</x:xmpmeta>"
    return encoded(photo(800, 600), "JPEG", quality=90, exif=exif, xmp=xmp, comment=COMMENT_MARKER)


def jpeg_with_profile(profile: bytes = RGB_PROFILE) -> bytes:
    """A JPEG tagged with a colour profile."""
    return encoded(photo(800, 600), "JPEG", quality=90, icc_profile=profile)


def truncated_jpeg() -> bytes:
    """The first half of a JPEG, as an interrupted upload leaves it."""
    whole = jpeg(800, 600)
    return whole[: len(whole) // 2]


def not_an_image(size: int = 4096) -> bytes:
    """Random bytes (after a prefix that no image format starts with)."""
    return b"NOT AN IMAGE" + os.urandom(size)


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels: a decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        checksum = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
