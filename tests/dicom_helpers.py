"""Synthetic DICOM files for the tests, written with pydicom."""
import numpy as np


def new_dataset():
    """An empty Secondary Capture dataset with its file meta, uncompressed."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    return ds


def write_dicom(path, stored: np.ndarray, slope: float = 1.0, intercept: float = 0.0,
                center=None, width=None, function=None, photometric: str = "MONOCHROME2",
                frames: int = 1, pixels: bool = True) -> str:
    """A single-frame (or ``frames``-frame) 16-bit grayscale DICOM file at ``path``."""
    ds = new_dataset()
    ds.Modality = "DX"
    ds.PatientID = "synthetic"
    stored = np.asarray(stored, np.uint16)
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = str(slope), str(intercept)
    if center is not None:
        ds.WindowCenter, ds.WindowWidth = str(center), str(width)
    if function is not None:
        ds.VOILUTFunction = function
    if frames > 1:
        ds.NumberOfFrames = frames
        stored = np.stack([stored] * frames)
    if pixels:
        ds.PixelData = stored.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return str(path)


def dicom_of_png(png_path, out_path, photometric: str = "MONOCHROME2") -> str:
    """A 12-bit DICOM whose rescale and LINEAR_EXACT window give back the PNG's 8-bit
    pixels exactly: stored s = 16 p + 15 (at most 4095, 12 bits), value 2 s - 1000 = 32 p - 970,
    window -970..7190."""
    from PIL import Image
    p = np.asarray(Image.open(png_path).convert("L"), np.int64)
    if photometric == "MONOCHROME1":
        p = 255 - p
    return write_dicom(out_path, 16 * p + 15, slope=2, intercept=-1000, center=3110,
                       width=8160, function="LINEAR_EXACT", photometric=photometric)
