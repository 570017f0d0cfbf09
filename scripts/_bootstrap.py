"""Lets the scripts run from a plain checkout: puts the repository root on sys.path and
quietens TensorFlow's start-up logging."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
