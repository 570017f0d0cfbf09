"""The one image reader: a file (or its bytes) -> the 8-bit grayscale picture a model sees.

Ingest (``records.encode_image``), ``generate.py`` (``ReportGenerator.image``) and the
SavedModel (``decode_upload``, in TF ops; it takes PNG, JPEG, BMP and GIF, not DICOM) all
follow the same rule, so training and inference
read an image identically (docs/reliability.md):

- 8-bit grayscale is kept as it is; RGB, CMYK, palette and alpha images become grayscale
  with the ITU-R 601 luma weights (PIL's ``convert("L")``, TF's ``rgb_to_grayscale``);
- grayscale with more than 8 bits (16-bit PNG, often 12-bit X-rays in a 16-bit container)
  is stretched from its own minimum to its maximum onto 0..255: dividing by 257 would leave
  a 12-bit image nearly black;
- DICOM goes through its modality LUT, window and photometric interpretation first
  (``data/dicom.py``), as a viewer shows it;
- the short side is shrunk (never enlarged) to the stored size and the picture is stored
  as JPEG; the model input is that JPEG decoded and resized (``pipeline.decode_image``).

An image that cannot be used raises :class:`ImageError` naming the file, with a ``reason``
that the build counts: ``unreadable_image``, ``image_too_small`` (a side under
``MIN_SIDE`` pixels) or ``image_too_large`` (PIL's decompression-bomb guard, about 179
megapixels; a chest X-ray is under 20).
"""
from __future__ import annotations

import io
from typing import Union

import numpy as np
from PIL import Image

from tfreport import fileio

DEFAULT_STORE_SIZE = 256  # short side, in pixels
JPEG_QUALITY = 92
MIN_SIDE = 32  # pixels; a smaller side is an icon or a thumbnail, not a usable X-ray
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # more than 8 bits, one channel


class ImageError(ValueError):
    """An image that cannot be used; ``reason`` is the build's drop-counter key."""

    def __init__(self, message: str, reason: str = "unreadable_image"):
        super().__init__(message)
        self.reason = reason


def stretch_to_8bit(arr: np.ndarray) -> np.ndarray:
    """A wide grayscale array -> uint8, its own min..max onto 0..255 (truncated, as ingest
    always did); a constant image becomes 0."""
    arr = np.asarray(arr, dtype=np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    return (255 * (arr - lo) / max(1.0, hi - lo)).astype(np.uint8)


def to_gray(im: Image.Image) -> Image.Image:
    """Any PIL image -> mode ``L`` by the rule above."""
    if im.mode == "L":
        return im
    if im.mode in WIDE_MODES:
        return Image.fromarray(stretch_to_8bit(np.asarray(im)), mode="L")
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBA", "RGBX", "RGBa"):
        im = im.convert("RGB")  # palette -> colours, CMYK -> RGB, alpha dropped
    return im.convert("L")


def read_gray(source: Union[str, bytes], name: str = "") -> Image.Image:
    """A path or encoded bytes (PNG, JPEG, BMP, GIF or DICOM) -> a loaded mode-``L`` image;
    raises FileNotFoundError or :class:`ImageError` naming ``name`` (default: the path)."""
    from tfreport.data import dicom
    name = name or (source if isinstance(source, str) else "image")
    if isinstance(source, str) and fileio.is_remote(source):  # gs://, ram://: via tf.io.gfile
        by_name = source.lower().endswith(dicom.DICOM_EXTENSIONS)
        source = _remote_bytes(source, name)
        as_dicom = by_name or dicom.is_dicom(source)
    else:
        as_dicom = dicom.is_dicom(source)
    gray = dicom.read_dicom(source, name) if as_dicom else _read_pil(source, name)
    w, h = gray.size
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{name}: image is {w}x{h} pixels; a side under {MIN_SIDE} is not a "
                         "usable X-ray", "image_too_small")
    return gray


def _remote_bytes(path: str, name: str) -> bytes:
    """A remote image file's bytes; a missing one is FileNotFoundError naming it."""
    try:
        return fileio.read_bytes(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: image file not found") from None
    except OSError as e:
        raise ImageError(f"{name}: unreadable image ({e.strerror or e})") from None


def _read_pil(source: Union[str, bytes], name: str) -> Image.Image:
    try:
        with Image.open(source if isinstance(source, str) else io.BytesIO(source)) as im:
            im.load()
            return to_gray(im)
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: image file not found") from None
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: image too large to read safely ({e})",
                         "image_too_large") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ImageError(f"{name}: unreadable image ({e}); tfreport reads PNG, JPEG, BMP, "
                         "GIF and DICOM") from None


def encode_image(source: Union[str, bytes], short_side: int = DEFAULT_STORE_SIZE,
                 name: str = "") -> bytes:
    """An image -> the stored JPEG bytes: grayscale by the rule above, short side shrunk to
    ``short_side`` (never enlarged)."""
    im = read_gray(source, name)
    w, h = im.size
    scale = short_side / min(w, h)
    if scale < 1:
        im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))),
                       Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def model_input(source: Union[str, bytes], size: int, name: str = "") -> np.ndarray:
    """An image file -> the [size, size, 1] float32 (0..255) a model gets for it, exactly as
    training gets it from a record written by ingest: stored JPEG, then decoded."""
    from tfreport.data.pipeline import decode_image
    encoded = encode_image(source, max(DEFAULT_STORE_SIZE, size), name)
    return decode_image(encoded, size).numpy()


def decode_upload(encoded, size: int, short_side: int = DEFAULT_STORE_SIZE):
    """The same rule in TF ops, for the SavedModel: PNG/JPEG/BMP/GIF bytes -> [size, size, 1]
    float32; an empty string gives zeros (no lateral view). A 16-bit grayscale PNG is
    stretched min..max as in :func:`stretch_to_8bit`; colour and CMYK become luma."""
    import tensorflow as tf
    from tfreport.data.pipeline import decode_image

    short_side = max(short_side, size)

    def gray(img):
        channels = tf.shape(img)[-1]
        img = tf.cond(channels >= 3, lambda: tf.image.rgb_to_grayscale(img[..., :3]),
                      lambda: img[..., :1])
        return tf.ensure_shape(img, [None, None, 1])

    def wide():  # PNG, bit depth 16, colour type 0 (grayscale)
        img = tf.cast(gray(tf.io.decode_png(encoded, dtype=tf.uint16)), tf.float32)
        lo, hi = tf.reduce_min(img), tf.reduce_max(img)
        return tf.cast(255.0 * (img - lo) / tf.maximum(1.0, hi - lo), tf.uint8)

    def narrow():
        img = tf.io.decode_image(encoded, expand_animations=False)
        return tf.cast(tf.round(gray(tf.cast(img, tf.float32))), tf.uint8)

    def stored():
        is_wide_png = tf.logical_and(
            tf.equal(tf.strings.substr(encoded, 0, 8), b"\x89PNG\r\n\x1a\n"),
            tf.equal(tf.strings.substr(encoded, 24, 2), b"\x10\x00"))
        img = tf.cond(is_wide_png, wide, narrow)
        hw = tf.cast(tf.shape(img)[:2], tf.float32)
        scale = tf.minimum(1.0, short_side / tf.reduce_min(hw))
        new = tf.maximum(1, tf.cast(tf.round(hw * scale), tf.int32))
        small = tf.image.resize(img, new, method="lanczos3", antialias=True)
        small = tf.cast(tf.clip_by_value(tf.round(small), 0, 255), tf.uint8)
        small = tf.cond(scale < 1.0, lambda: small, lambda: img)
        return tf.io.encode_jpeg(small, quality=JPEG_QUALITY)

    return tf.cond(tf.strings.length(encoded) > 0,
                   lambda: decode_image(stored(), size),
                   lambda: tf.zeros([size, size, 1], tf.float32))
