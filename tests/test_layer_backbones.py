"""The dual extractor fuses ResNet50's and DenseNet121's grids cell by cell."""
import pytest

from tfreport.layers.backbones import backbone_architecture


def test_dual_fuses_the_two_grids_channel_wise():
    net = backbone_architecture("dual", 64)
    assert tuple(net.output_shape[1:]) == (2, 2, 2048 + 1024)


def test_dual_refuses_a_size_where_the_grids_differ():
    # 75 px: ResNet50 rounds up to 3x3, DenseNet121 down to 2x2; a clear error, not Keras'
    with pytest.raises(ValueError, match=r"image_size 75 ResNet50's grid is 3x3 and "
                                         r"DenseNet121's 2x2.*multiple of 32"):
        backbone_architecture("dual", 75)
