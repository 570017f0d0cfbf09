"""A synthetic MIMIC-CXR-JPG tree in the exact public layout, at any size, for measuring the
build at scale without credentialed data (no real MIMIC content: made-up ids and text)."""
from __future__ import annotations

import csv
import os
import random
from typing import Optional

import numpy as np
from PIL import Image

from tfreport import fileio
from tfreport.labels import CHEXPERT_OBSERVATIONS
from tfreport.progress import progress

METADATA_HEADER = ["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription",
                   "ViewPosition", "Rows", "Columns", "StudyDate", "StudyTime",
                   "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
                   "PatientOrientationCodeSequence_CodeMeaning"]
FINDINGS = ["The lungs are clear.", "Heart size is normal.", "There is a small left pleural "
            "effusion.", "Mild cardiomegaly is present.", "No pneumothorax is seen.",
            "Patchy opacity at the right base may reflect atelectasis.",
            "A right internal jugular catheter terminates in the SVC.",
            "There is mild pulmonary vascular congestion."]
REPORT = (" FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n INDICATION:  ___ year old with "
          "cough.\n \n FINDINGS: \n \n {f}\n \n IMPRESSION: \n \n {i}\n")


def _image(rng: np.random.Generator, size: int) -> Image.Image:
    """A smooth chest-like gradient with noise: compresses like a radiograph, not like noise."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = 120 + 80 * np.exp(-((x - 0.5) ** 2) / 0.05) * (1 - y) + rng.normal(0, 8, (size, size))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def write_tree(root: str, studies: int, image_size: int = 256, seed: int = 0,
               frontal_only: float = 0.2, quiet: bool = False,
               reports_root: Optional[str] = None) -> str:
    """Writes ``studies`` studies (about 1.8 images each) under ``root``."""
    rng, py = np.random.default_rng(seed), random.Random(seed)
    reports_root = reports_root or root
    fileio.makedirs(root)
    files = {n: fileio.open(os.path.join(root, f"mimic-cxr-2.0.0-{n}.csv.gz"), "wt", newline="")
             for n in ("metadata", "split", "chexpert")}
    writers = {n: csv.writer(f) for n, f in files.items()}
    writers["metadata"].writerow(METADATA_HEADER)
    writers["split"].writerow(["dicom_id", "study_id", "subject_id", "split"])
    writers["chexpert"].writerow(["subject_id", "study_id"] + list(CHEXPERT_OBSERVATIONS))
    base = _image(rng, image_size)
    try:
        for i in progress(range(studies), desc="synthetic MIMIC tree", disable=quiet,
                          unit="study"):
            subject, study = f"1{i // 3:07d}", f"5{i:07d}"
            split = "test" if i % 50 == 0 else "validate" if i % 50 == 1 else "train"
            folder = os.path.join(root, "files", f"p{subject[:2]}", f"p{subject}", f"s{study}")
            fileio.makedirs(folder)
            views = ["PA"] if py.random() < frontal_only else ["PA", "LATERAL"]
            for j, view in enumerate(views):
                dicom = f"{i:08x}-{j:08x}-00000000-00000000-00000000"
                shifted = np.roll(np.asarray(base), py.randint(-8, 8), axis=1)
                with fileio.open(os.path.join(folder, dicom + ".jpg"), "wb") as f:
                    Image.fromarray(shifted).save(f, format="JPEG", quality=90)
                writers["metadata"].writerow([dicom, subject, study, "CHEST (PA AND LAT)", view,
                                              image_size, image_size, 21800101, "101500.000",
                                              "CHEST (PA AND LAT)", "", "Erect"])
                writers["split"].writerow([dicom, study, subject, split])
            chosen = py.sample(FINDINGS, py.randint(2, 4))
            rdir = os.path.join(reports_root, "files", f"p{subject[:2]}", f"p{subject}")
            fileio.makedirs(rdir)
            with fileio.open(os.path.join(rdir, f"s{study}.txt"), "w") as f:
                f.write(REPORT.format(f=" ".join(chosen), i=chosen[0]))
            normal = chosen[0] == "The lungs are clear."
            labels = ["1.0" if (o == "No Finding" and normal) else "" for o in CHEXPERT_OBSERVATIONS]
            writers["chexpert"].writerow([subject, study] + labels)
    finally:
        for f in files.values():
            f.close()
    return root
