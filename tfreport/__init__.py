"""tfreport: chest X-ray report generation with TensorFlow 2 / Keras 3."""

__version__ = "0.1.0"
