"""The thumbnail Lambda's image core: render() on originals made here with Pillow.

No binary fixtures: every input is drawn and encoded by the test that uses it, and every
output is decoded again and inspected (sizes, pixels, and the files' own segments).
"""

from __future__ import annotations

import io
import random
import struct
import time
import zlib

import blurhash
import pytest
from PIL import ExifTags, Image, ImageChops, ImageCms, ImageStat

from functions.thumbnail.renditions import (
    CORRUPT,
    EMPTY,
    NOT_ALLOWED,
    NOT_DECLARED_TYPE,
    UNSUPPORTED_MODE,
    BadImage,
    Rendered,
    render,
)
from tests.media.images import photo

NAMES = ("large", "medium", "small", "square")
PILLOW_FORMATS = {"jpeg": "JPEG", "webp": "WEBP"}
# Declared type -> the Pillow format that writes it (HEIF's writer is pillow-heif's).
WRITERS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/heic": "HEIF",
}
LANDSCAPE_SIZES = {  # a 1440x1080 original
    "large": (1080, 810),
    "medium": (640, 480),
    "small": (320, 240),
    "square": (150, 150),
}
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# What EXIF orientation N says was done to the upright picture to store it (EXIF 2.32,
# 4.6.5): Pillow's ROTATE_90 turns counter-clockwise.
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
RED, WHITE, BLUE = (255, 0, 0), (255, 255, 255), (0, 0, 255)


def encoded(image: Image.Image, writer: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, writer, **params)
    return buffer.getvalue()


def quadrants(size: tuple[int, int] = (400, 300)) -> Image.Image:
    """Upright: white, with a red top-left quadrant (so every flip and turn shows)."""
    image = Image.new("RGB", size, WHITE)
    image.paste(RED, (0, 0, size[0] // 2, size[1] // 2))
    return image


def orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def corner_colours(image: Image.Image) -> list[tuple[int, ...]]:
    """The colours at the centres of the top-left, top-right, bottom-left, bottom-right."""
    w, h = image.size
    return [image.getpixel((x, y)) for y in (h // 4, 3 * h // 4) for x in (w // 4, 3 * w // 4)]


def near(colour: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def assert_renditions(rendered: Rendered, sizes: dict[str, tuple[int, int]]) -> None:
    """8 renditions, in order, each decoding to an RGB image of its format and size."""
    assert [(r.name, r.format) for r in rendered.renditions] == [
        (name, fmt) for name in NAMES for fmt in ("jpeg", "webp")
    ]
    for rendition in rendered.renditions:
        assert rendition.content_type == f"image/{rendition.format}"
        with decoded(rendition.data) as image:
            assert image.format == PILLOW_FORMATS[rendition.format]
            assert image.size == (rendition.width, rendition.height) == sizes[rendition.name]
            assert image.mode == "RGB"


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of a JPEG's segments, up to the first scan."""
    assert data[:2] == b"\xff\xd8"
    segments, position = [], 2
    while data[position + 1] != 0xDA:  # SOS: entropy-coded data follows
        assert data[position] == 0xFF
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segments.append((data[position + 1], data[position + 4 : position + 2 + length]))
        position += 2 + length
    return segments


def webp_chunks(data: bytes) -> dict[bytes, bytes]:
    """A WebP's RIFF chunks by FourCC."""
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    chunks, position = {}, 12
    while position < len(data):
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        chunks[data[position : position + 4]] = data[position + 8 : position + 8 + size]
        position += 8 + size + (size & 1)
    return chunks


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height and whose pixels are not there."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header is rewritten to claim width x height."""
    data = bytearray(encoded(photo(64, 48), "JPEG"))
    position = 2
    while data[position + 1] != 0xC0:  # SOF0, baseline: Pillow's default
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    data[position + 5 : position + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gray_profile(gamma: float) -> bytes:
    """A minimal ICC v2 grey display profile: a white point and one gamma curve."""

    def s15fixed16(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    d50 = s15fixed16(0.9642) + s15fixed16(1.0) + s15fixed16(0.8249)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags = [(b"wtpt", b"XYZ \0\0\0\0" + d50), (b"kTRC", curve)]
    table, body = struct.pack(">I", len(tags)), b""
    first_offset = 128 + 4 + 12 * len(tags)
    for signature, data in tags:
        table += signature + struct.pack(">II", first_offset + len(body), len(data))
        body += data
    header = struct.pack(">I", first_offset + len(body)) + b"\0" * 4
    header += struct.pack(">I", 0x02100000) + b"mntrGRAYXYZ " + b"\0" * 12 + b"acsp"
    header += b"\0" * 28 + d50
    return header.ljust(128, b"\0") + table + body


RENDERED = "8 renditions"


def rendered_or_reason(data: bytes, content_type: str) -> str:
    """RENDERED, or the reason render() gave for refusing; anything else raised fails."""
    try:
        rendered = render(data, content_type)
    except BadImage as refused:
        return refused.reason
    assert len(rendered.renditions) == 8
    return RENDERED


def blurhash_distance(first: str, second: str) -> float:
    """Mean per-channel difference of two blurhashes, decoded small."""
    a, b = blurhash.decode(first, 16, 12), blurhash.decode(second, 16, 12)
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


# --- every allowed type --------------------------------------------------------------


@pytest.mark.parametrize("content_type", [*WRITERS, "image/heif"])
def test_every_allowed_type_renders_eight_renditions(content_type):
    writer = WRITERS.get(content_type, "HEIF")
    original = encoded(photo(1440, 1080), writer)

    rendered = render(original, content_type)

    assert (rendered.width, rendered.height) == (1440, 1080)
    assert_renditions(rendered, LANDSCAPE_SIZES)


def test_portrait_sizes_follow_the_aspect_ratio():
    rendered = render(encoded(photo(1800, 2400), "JPEG"), "image/jpeg")

    assert_renditions(
        rendered,
        {"large": (1080, 1440), "medium": (640, 853), "small": (320, 427), "square": (150, 150)},
    )


def test_content_type_is_matched_case_and_parameters_aside():
    rendered = render(encoded(photo(400, 300), "JPEG"), "Image/JPEG; charset=binary")

    assert len(rendered.renditions) == 8


def test_jpeg_renditions_are_progressive():
    rendered = render(encoded(photo(1440, 1080), "JPEG"), "image/jpeg")

    for rendition in rendered.renditions:
        if rendition.format == "jpeg":
            with decoded(rendition.data) as image:
                assert image.info.get("progressive")


# --- sizes ---------------------------------------------------------------------------


def test_widths_are_never_upscaled():
    rendered = render(encoded(photo(500, 400), "PNG"), "image/png")

    assert_renditions(
        rendered,
        {"large": (500, 400), "medium": (500, 400), "small": (320, 256), "square": (150, 150)},
    )


def test_square_is_a_centre_crop():
    # GIVEN a panorama: red thirds either side of a blue centre
    original = Image.new("RGB", (600, 200), RED)
    original.paste(BLUE, (200, 0, 400, 200))

    rendered = render(encoded(original, "PNG"), "image/png")

    for rendition in rendered.renditions:
        if rendition.name == "square":
            with decoded(rendition.data) as square:
                inset = [(8, 8), (141, 8), (8, 141), (141, 141), (75, 75)]
                assert all(near(square.getpixel(xy), BLUE) for xy in inset)


def test_a_very_thin_panorama_still_gets_every_rendition():
    rendered = render(encoded(photo(3000, 100), "JPEG"), "image/jpeg")

    assert_renditions(
        rendered,
        {"large": (1080, 36), "medium": (640, 21), "small": (320, 11), "square": (150, 150)},
    )


# --- orientation ---------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/webp"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(content_type, orientation):
    # GIVEN the upright picture stored as orientation N says, with the tag
    upright = quadrants()
    transposition = STORED_FROM_UPRIGHT[orientation]
    stored = upright if transposition is None else upright.transpose(transposition)
    exif = orientation_exif(orientation).tobytes()
    original = encoded(stored, WRITERS[content_type], exif=exif)

    rendered = render(original, content_type)

    # THEN the reported size is the upright one, and red is top-left in every rendition
    assert (rendered.width, rendered.height) == (400, 300)
    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert image.width >= image.height
            colours = corner_colours(image)
            assert near(colours[0], RED), (rendition.name, rendition.format, colours)
            assert all(near(colour, WHITE) for colour in colours[1:]), colours


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_heic_orientation_is_applied_once(orientation):
    # pillow-heif writes the pixels upright; the EXIF tag it keeps must not turn them again.
    upright = quadrants()
    transposition = STORED_FROM_UPRIGHT[orientation]
    stored = upright.transpose(transposition)
    stored.info["exif"] = orientation_exif(orientation).tobytes()

    rendered = render(encoded(stored, "HEIF"), "image/heic")

    assert (rendered.width, rendered.height) == (400, 300)
    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert near(corner_colours(image)[0], RED)


# --- metadata ------------------------------------------------------------------------


def camera_exif() -> Image.Exif:
    """EXIF as a phone writes it: make, model, time and where the photo was taken."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PhoneMaker"
    exif[ExifTags.Base.Model] = "Phone 15"
    exif[ExifTags.Base.DateTime] = "2024:05:01 12:00:00"
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (48.0, 51.0, 24.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (2.0, 21.0, 3.0),
    }
    return exif


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Secret Editor"/>'
    b"</rdf:RDF></x:xmpmeta>"
)


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/webp"])
def test_no_rendition_keeps_exif_gps_xmp_or_comments(content_type):
    # GIVEN an original carrying GPS, camera EXIF, XMP and a comment
    params: dict[str, object] = {"exif": camera_exif().tobytes(), "xmp": XMP}
    if content_type == "image/jpeg":
        params["comment"] = b"taken at home"
    original = encoded(photo(800, 600), WRITERS[content_type], **params)
    with decoded(original) as written:
        assert written.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test's own premise

    rendered = render(original, content_type)

    for rendition in rendered.renditions:
        for needle in (b"Exif", b"PhoneMaker", b"xmpmeta", b"Secret Editor", b"taken at home"):
            assert needle not in rendition.data
        if rendition.format == "jpeg":
            markers = {marker for marker, _ in jpeg_segments(rendition.data)}
            assert 0xE1 not in markers  # APP1: EXIF and XMP
            assert 0xFE not in markers  # COM
        else:
            assert not {b"EXIF", b"XMP "} & set(webp_chunks(rendition.data))


# --- colour --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", list(WRITERS))
def test_an_icc_profile_is_kept_byte_for_byte(content_type):
    original = encoded(photo(800, 600), WRITERS[content_type], icc_profile=SRGB_ICC)

    rendered = render(original, content_type)

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert image.info.get("icc_profile") == SRGB_ICC
        if rendition.format == "webp":
            assert webp_chunks(rendition.data)[b"ICCP"] == SRGB_ICC


def test_a_profile_larger_than_one_jpeg_segment_survives():
    # GIVEN a wide-gamut-sized profile: its tags padded past one APP2 segment (64 KB)
    padded = bytearray(SRGB_ICC + bytes(70_000))
    padded[0:4] = struct.pack(">I", len(padded))
    original = encoded(photo(800, 600), "JPEG", icc_profile=bytes(padded))

    rendered = render(original, "image/jpeg")

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert image.info.get("icc_profile") == bytes(padded)


def test_untagged_originals_give_untagged_renditions():
    rendered = render(encoded(photo(800, 600), "JPEG"), "image/jpeg")

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert "icc_profile" not in image.info


def test_grey_pixels_are_converted_to_srgb_through_their_profile():
    # GIVEN mid-grey in a linear (gamma 1.0) grey space, which sRGB writes as about 188
    original = encoded(Image.new("L", (400, 300), 128), "JPEG", icc_profile=gray_profile(1.0))

    rendered = render(original, "image/jpeg")

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert near(image.getpixel((10, 10)), (188, 188, 188), tolerance=4)
            assert "icc_profile" not in image.info  # sRGB now, which untagged means


@pytest.mark.parametrize(
    ("source", "profile"),
    [
        (Image.new("CMYK", (400, 300), (0, 255, 255, 0)), SRGB_ICC),
        (Image.new("RGB", (400, 300), RED), gray_profile(1.0)),
    ],
    ids=["CMYK-with-RGB-profile", "RGB-with-grey-profile"],
)
def test_a_profile_of_another_colour_space_is_dropped(source, profile):
    # GIVEN pixels tagged, wrongly, with a profile of another colour space
    tagged = encoded(source, "JPEG", icc_profile=profile)

    rendered = render(tagged, "image/jpeg")

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert "icc_profile" not in image.info
            assert near(image.getpixel((10, 10)), RED)


# --- modes ---------------------------------------------------------------------------


def transparent_red_square() -> Image.Image:
    """RGBA: a red opaque square in the middle of a transparent field."""
    image = Image.new("RGBA", (400, 300), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (100, 75, 300, 225))
    return image


@pytest.mark.parametrize(
    ("mode", "writer", "content_type"),
    [
        ("RGBA", "PNG", "image/png"),
        ("RGBA", "WEBP", "image/webp"),
        ("RGBA", "HEIF", "image/heic"),
        ("LA", "PNG", "image/png"),
        ("P", "PNG", "image/png"),  # a palette with a transparent entry (tRNS)
    ],
)
def test_transparency_is_flattened_onto_white(mode, writer, content_type):
    centre = (255, 0, 0) if mode != "LA" else (76, 76, 76)  # red, or red's grey
    source = transparent_red_square()
    source = source.quantize(8) if mode == "P" else source.convert(mode)
    original = encoded(source, writer)
    with decoded(original) as written:  # the test's own premise
        assert written.mode == mode or (mode == "P" and "transparency" in written.info)

    rendered = render(original, content_type)

    assert_renditions(
        rendered,
        {"large": (400, 300), "medium": (400, 300), "small": (320, 240), "square": (150, 150)},
    )
    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            if rendition.name != "square":
                assert near(image.getpixel((2, 2)), WHITE)
            assert near(image.getpixel((image.width // 2, image.height // 2)), centre, 60)


@pytest.mark.parametrize(
    ("source", "writer", "expected"),
    [
        (Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", RED),
        (Image.new("RGB", (400, 300), BLUE).convert("P"), "PNG", BLUE),
        (Image.new("L", (400, 300), 90), "PNG", (90, 90, 90)),
        (Image.new("1", (400, 300), 1), "PNG", WHITE),
    ],
    ids=["CMYK", "P", "L", "1"],
)
def test_other_modes_render_as_rgb(source, writer, expected):
    original = encoded(source, writer)

    rendered = render(original, f"image/{writer.lower()}")

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert image.mode == "RGB"
            assert near(image.getpixel((10, 10)), expected, tolerance=12)


def test_sixteen_bit_grey_is_scaled_not_clipped():
    # GIVEN a 16-bit grey PNG at 60000 of 65535, which clipping would turn white
    original = encoded(Image.new("I;16", (400, 300), 60000), "PNG")

    rendered = render(original, "image/png")

    for rendition in rendered.renditions:
        with decoded(rendition.data) as image:
            assert near(image.getpixel((10, 10)), (234, 234, 234), tolerance=3)


# --- blurhash ------------------------------------------------------------------------


def test_blurhash_is_a_4x3_hash_of_the_picture():
    rendered = render(encoded(Image.new("RGB", (800, 600), BLUE), "PNG"), "image/png")

    assert len(rendered.blurhash) == 28
    assert blurhash.is_valid_blurhash(rendered.blurhash)
    with blurhash.decode(rendered.blurhash, 8, 6) as placeholder:
        assert near(placeholder.getpixel((4, 3)), BLUE, tolerance=10)


def test_similar_images_have_similar_blurhashes():
    picture = photo(1200, 900)
    as_jpeg = render(encoded(picture, "JPEG", quality=70), "image/jpeg").blurhash
    as_webp = render(encoded(picture, "WEBP"), "image/webp").blurhash
    flipped = picture.transpose(Image.Transpose.ROTATE_180)
    other = render(encoded(flipped, "PNG"), "image/png").blurhash

    assert blurhash_distance(as_jpeg, as_webp) < 4
    assert blurhash_distance(as_jpeg, other) > 4 * blurhash_distance(as_jpeg, as_webp)
    assert blurhash_distance(as_jpeg, other) > 20


# --- refusals ------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_from_its_header():
    # GIVEN a 200-byte PNG claiming 20000x20000 (400 megapixels, 1.2 GB decoded)
    bomb = png_claiming(20_000, 20_000)

    started = time.perf_counter()
    with pytest.raises(BadImage) as refused:
        render(bomb, "image/png")

    assert time.perf_counter() - started < 0.5
    assert refused.value.reason.startswith("the image is too large: more than ")
    assert "megapixels" in refused.value.reason


@pytest.mark.parametrize(
    ("original", "content_type"),
    [(png_claiming(10_000, 6_000), "image/png"), (jpeg_claiming(10_000, 6_000), "image/jpeg")],
    ids=["png", "jpeg"],
)
def test_more_pixels_than_allowed_are_refused_before_decoding(original, content_type):
    # The pixel data is absent: any attempt to decode it would fail as corrupt instead.
    with pytest.raises(BadImage) as refused:
        render(original, content_type)

    assert refused.value.reason == "the image is too large: 60 megapixels, at most 50"


def test_max_pixels_is_the_callers_to_choose():
    original = encoded(photo(200, 100), "PNG")

    assert len(render(original, "image/png", max_pixels=20_000).renditions) == 8
    with pytest.raises(BadImage) as refused:
        render(original, "image/png", max_pixels=19_999)
    assert refused.value.reason == "the image is too large: 0.02 megapixels, at most 0.02"


@pytest.mark.parametrize(
    ("writer", "declared"),
    [
        ("PNG", "image/jpeg"),
        ("JPEG", "image/png"),
        ("JPEG", "image/webp"),
        ("WEBP", "image/heic"),
        ("HEIF", "image/jpeg"),
        ("GIF", "image/png"),
    ],
)
def test_an_image_of_another_type_than_declared_is_refused(writer, declared):
    with pytest.raises(BadImage) as refused:
        render(encoded(photo(64, 48), writer), declared)

    assert refused.value.reason == NOT_DECLARED_TYPE


@pytest.mark.parametrize(
    ("writer", "declared"),
    [("GIF", "image/gif"), ("BMP", "image/bmp"), ("TIFF", "image/tiff"), ("JPEG", "")],
)
def test_types_not_allowed_are_refused(writer, declared):
    with pytest.raises(BadImage) as refused:
        render(encoded(photo(64, 48), writer), declared)

    assert refused.value.reason == NOT_ALLOWED


def test_empty_and_random_bytes_are_refused():
    with pytest.raises(BadImage) as empty:
        render(b"", "image/jpeg")
    with pytest.raises(BadImage) as noise:
        render(random.Random(7).randbytes(10_000), "image/jpeg")

    assert empty.value.reason == EMPTY
    assert noise.value.reason == NOT_DECLARED_TYPE


@pytest.mark.parametrize("content_type", list(WRITERS))
def test_a_truncated_file_is_refused(content_type):
    original = encoded(photo(800, 600), WRITERS[content_type])

    with pytest.raises(BadImage) as refused:
        render(original[: len(original) // 2], content_type)

    assert refused.value.reason in (CORRUPT, NOT_DECLARED_TYPE)


@pytest.mark.parametrize("content_type", list(WRITERS))
def test_damaged_files_render_or_are_refused_never_crash(content_type):
    # GIVEN the same original cut short and with bytes overwritten, many ways
    original = encoded(photo(320, 240), WRITERS[content_type])
    rng = random.Random(content_type)
    damaged = [original[: rng.randrange(1, len(original))] for _ in range(10)]
    for _ in range(40):
        data = bytearray(original)
        for _ in range(rng.randrange(1, 12)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        damaged.append(bytes(data))

    for data in damaged:
        outcome = rendered_or_reason(data, content_type)
        assert outcome in (RENDERED, CORRUPT, NOT_DECLARED_TYPE, UNSUPPORTED_MODE) or (
            outcome.startswith("the image is too large: ")
        )
