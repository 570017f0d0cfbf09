"""DICOM -> the 8-bit grayscale picture a radiologist would be shown (issue #19).

A hospital's chest X-ray is a DICOM file: stored values (often 12 bits in 16), a modality
transform to physical values, a display window, and a photometric interpretation. Read in
that order (DICOM PS3.3 C.11):

1. **Modality LUT**: ``RescaleSlope`` and ``RescaleIntercept`` (or a Modality LUT Sequence)
   turn stored values into the modality's values (pydicom's ``apply_modality_lut``).
2. **VOI**: the first ``WindowCenter`` / ``WindowWidth`` with the ``VOILUTFunction``
   (LINEAR, the default; LINEAR_EXACT; SIGMOID) maps them onto 0..255; a VOI LUT Sequence is
   applied by pydicom and then stretched; with neither, the values are stretched from their
   own minimum to their maximum, as a 16-bit PNG is (``images.stretch_to_8bit``).
3. **MONOCHROME1** (white is low) is inverted, so bone is bright as in every other input.

Colour DICOM (RGB, YBR) becomes luma like any colour image. A multi-frame file, a file
without pixel data, or compressed pixel data that no installed decoder reads raises
:class:`~tfreport.data.images.ImageError` naming the file.
"""
from __future__ import annotations

import io
from typing import Optional, Union

import numpy as np

from tfreport import fileio

DICOM_EXTENSIONS = (".dcm", ".dicom")


def is_dicom(source: Union[str, bytes]) -> bool:
    """By the extension, or by the "DICM" magic after the 128-byte preamble."""
    if isinstance(source, str):
        if source.lower().endswith(DICOM_EXTENSIONS):
            return True
        try:
            with fileio.open(source, "rb") as f:
                head = f.read(132)
        except OSError:
            return False
    else:
        head = source[:132]
    return len(head) >= 132 and head[128:132] == b"DICM"


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The VOI window onto 0..255 (float), as DICOM PS3.3 C.11.2.1.2 defines it."""
    x = values.astype(np.float64)
    function = (function or "LINEAR").upper()
    if function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError(f"window width {width} must be positive")
        y = (x - center) / width + 0.5
    elif function == "SIGMOID":
        if width <= 0:
            raise ValueError(f"window width {width} must be positive")
        return 255.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    else:  # LINEAR
        if width < 1:
            raise ValueError(f"window width {width} must be at least 1")
        if width == 1:
            return np.where(x <= center - 0.5, 0.0, 255.0)
        y = (x - (center - 0.5)) / (width - 1) + 0.5
    return 255.0 * np.clip(y, 0.0, 1.0)


def _first(value) -> Optional[float]:
    """A DICOM value that may be multi-valued: its first number; None when it is empty."""
    if value is None or value == "":
        return None
    try:
        return float(value[0])
    except TypeError:
        return float(value)
    except IndexError:  # an empty multi-value
        return None


def to_8bit(ds, name: str = "image") -> np.ndarray:
    """A pydicom dataset -> [H, W] uint8 by the steps above."""
    import pydicom.pixels as px
    from tfreport.data.images import ImageError, stretch_to_8bit
    if "PixelData" not in ds:
        raise ImageError(f"{name}: DICOM file has no pixel data (a report or a "
                         "presentation state, not an image)")
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageError(f"{name}: DICOM file has {frames} frames; a chest X-ray view is one "
                         "frame (export the frame you want)")
    try:
        arr = ds.pixel_array
    except Exception as e:  # missing decoder for a compressed transfer syntax, bad data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        raise ImageError(f"{name}: cannot decode the DICOM pixel data (transfer syntax "
                         f"{getattr(syntax, 'name', syntax)}: {e}); compressed DICOM needs "
                         "pylibjpeg or GDCM installed, or convert it to PNG") from None
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if arr.ndim == 3:  # colour (pydicom gives YBR as RGB already): luma, as for any colour image
        rgb = arr.astype(np.float64)
        gray = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
        return np.clip(np.round(gray), 0, 255).astype(np.uint8) if arr.dtype == np.uint8 \
            else stretch_to_8bit(gray)
    values = px.apply_modality_lut(arr, ds)
    try:  # an empty window is no window
        center = _first(ds.get("WindowCenter"))
        width = _first(ds.get("WindowWidth"))
    except ValueError as e:
        raise ImageError(f"{name}: bad DICOM window ({e})") from None
    if center is not None and width is not None:
        try:
            shown = window(values, center, width, str(getattr(ds, "VOILUTFunction", "LINEAR")))
        except ValueError as e:
            raise ImageError(f"{name}: bad DICOM window ({e})") from None
        out = np.clip(np.round(shown), 0, 255).astype(np.uint8)
    elif "VOILUTSequence" in ds:
        out = stretch_to_8bit(px.apply_voi_lut(values, ds))
    else:
        out = stretch_to_8bit(values)
    if photometric == "MONOCHROME1":
        out = 255 - out
    return out


def read_dicom(source: Union[str, bytes], name: str = ""):
    """A DICOM path or bytes -> a mode-``L`` PIL image; errors name ``name``."""
    import pydicom
    from PIL import Image
    from pydicom.errors import InvalidDicomError
    from tfreport.data.images import ImageError
    name = name or (source if isinstance(source, str) else "image")
    try:
        ds = pydicom.dcmread(source if isinstance(source, str) else io.BytesIO(source))
    except FileNotFoundError:
        raise FileNotFoundError(f"{name}: image file not found") from None
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError) as e:
        raise ImageError(f"{name}: unreadable DICOM file ({e})") from None
    return Image.fromarray(to_8bit(ds, name), mode="L")
