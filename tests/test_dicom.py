"""DICOM input (tfreport/data/dicom.py through images.read_gray): the modality LUT, the VOI
window, MONOCHROME1 and clear errors, on synthetic files written with pydicom."""
import numpy as np
import pytest

from dicom_helpers import dicom_of_png, write_dicom
from tfreport.data import dicom, images


def test_window_known_values():
    # LINEAR, center 100, width 100 (PS3.3 C.11.2.1.2): ymin where x <= c - 0.5 - (w-1)/2
    # = 50, ymax where x > c - 0.5 + (w-1)/2 = 149, the middle x = 99.5 half way
    got = dicom.window(np.array([0.0, 50.0, 50.5, 99.5, 149.0, 149.5, 200.0]), 100, 100)
    assert list(got[[0, 1]]) == [0, 0] and 0 < got[2] < 2
    assert got[3] == pytest.approx(127.5) and list(got[4:]) == [255, 255, 255]
    # width 1: a threshold at c - 0.5, that value itself dark
    assert list(dicom.window(np.array([99.5, 99.51]), 100, 1)) == [0, 255]
    assert dicom.window(np.array([100.0]), 100, 100, "LINEAR_EXACT")[0] == pytest.approx(127.5)
    assert dicom.window(np.array([100.0]), 100, 50, "SIGMOID")[0] == pytest.approx(127.5)
    with pytest.raises(ValueError):
        dicom.window(np.array([1.0]), 100, 0)


def test_a_dicom_reads_as_the_png_it_was_made_from(tiny_raw, tmp_path):
    png = f"{tiny_raw}/images/1_IM-0001-1001.dcm.png"
    want = np.asarray(images.read_gray(png))
    for photometric in ("MONOCHROME2", "MONOCHROME1"):
        path = dicom_of_png(png, tmp_path / f"{photometric}.dcm", photometric)
        assert dicom.is_dicom(path)
        got = np.asarray(images.read_gray(path))
        assert got.shape == want.shape and (got == want).all(), photometric
    # by its magic bytes too, whatever the name
    data = open(tmp_path / "MONOCHROME2.dcm", "rb").read()
    assert dicom.is_dicom(data) and (np.asarray(images.read_gray(data, "upload")) == want).all()


def test_rescale_and_window_are_applied_in_order(tmp_path):
    stored = np.tile(np.arange(64, dtype=np.uint16) * 64, (64, 1))  # 0 .. 4032
    # value = 0.5 s - 100; LINEAR window center 500, width 401 shows 300 .. 700
    path = write_dicom(tmp_path / "w.dcm", stored, slope=0.5, intercept=-100, center=500, width=401)
    got = np.asarray(images.read_gray(path)).astype(float)
    value = 0.5 * stored - 100
    want = np.round(255 * np.clip((value - 499.5) / 400 + 0.5, 0, 1))
    assert (got == want).all()
    assert got.min() == 0 and got.max() == 255  # below and above the window
    # no window: the values stretched min..max, as a 16-bit PNG
    plain = write_dicom(tmp_path / "p.dcm", stored, slope=0.5, intercept=-100)
    assert (np.asarray(images.read_gray(plain)) == images.stretch_to_8bit(value)).all()


def test_colour_dicom_becomes_luma(tmp_path):
    """A YBR_FULL file (pydicom hands it over as RGB) gives the luma of its RGB pixels."""
    from dicom_helpers import new_dataset
    from pydicom.pixels import convert_color_space
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 60, 30  # luma 0.299*200+0.587*60+0.114*30 = 98.5
    ds = new_dataset()
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = convert_color_space(rgb, "RGB", "YBR_FULL").tobytes()
    path = str(tmp_path / "colour.dcm")
    ds.save_as(path, enforce_file_format=True)
    got = np.asarray(images.read_gray(path)).astype(int)
    assert abs(got - 98.5).max() <= 2


def test_bad_dicom_files_are_named(tmp_path):
    good = write_dicom(tmp_path / "good.dcm", np.full((64, 64), 500))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(open(good, "rb").read()[:300])
    cases = {
        str(cut): "",
        write_dicom(tmp_path / "nopix.dcm", np.zeros((64, 64)), pixels=False): "no pixel data",
        write_dicom(tmp_path / "multi.dcm", np.zeros((64, 64)), frames=3): "3 frames",
        write_dicom(tmp_path / "small.dcm", np.zeros((16, 16))): "16x16 pixels",
        write_dicom(tmp_path / "zero.dcm", np.zeros((64, 64)), center=1, width=0): "bad DICOM window",
    }
    # an empty window is no window: the values stretched
    empty = write_dicom(tmp_path / "empty.dcm", np.tile(np.arange(64) * 10, (64, 1)), center="",
                        width="")
    assert np.asarray(images.read_gray(empty))[0, -1] == 255
    (tmp_path / "text.dcm").write_text("not a dicom")
    cases[str(tmp_path / "text.dcm")] = "unreadable DICOM file"
    for path, words in cases.items():
        with pytest.raises(images.ImageError) as e:
            images.read_gray(path)
        assert path in str(e.value) and words in str(e.value), str(e.value)
    assert images.read_gray(good).size == (64, 64)
