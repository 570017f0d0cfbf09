import os

import tensorflow_datasets as tfds

import tfreport.data.tfds_iu_xray  # noqa: F401  (registers iu_xray)


def test_tfds_load_with_manual_dir(tiny_raw, tmp_path):
    config = tfds.download.DownloadConfig(manual_dir=tiny_raw)
    ds, info = tfds.load("iu_xray", split="train", data_dir=str(tmp_path), with_info=True,
                         download_and_prepare_kwargs={"download_config": config})
    n = sum(info.splits[s].num_examples for s in info.splits)
    assert n == 64
    ex = next(iter(ds))
    assert ex["frontal"].shape[-1] == 1 and ex["frontal"].shape[0] == 64
    assert ex["id"].numpy().decode().startswith("CXR")
    assert len(ex["sentences"]) >= 2
    assert os.path.isdir(os.path.join(str(tmp_path), "iu_xray"))
