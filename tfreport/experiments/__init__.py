"""Experiment tooling on top of the library: the benchmark and its tables, the image-free
text floors and the most-frequent-report baseline, FLOPs counting, GPU wall-time estimates and the published reference rows.

Nothing in the core (data, layers, models, training, decoding, metrics, inference) imports
from here.
"""
