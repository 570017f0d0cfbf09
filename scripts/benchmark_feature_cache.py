"""Feature-cache cost at MIMIC-CXR scale: bytes per study, build and read rates, per backbone

The legacy-compatible entry point of ``tfreport/commands/benchmark_feature_cache.py`` (``pip install -e .`` first).
"""
from tfreport.cli import run_main
from tfreport.commands.benchmark_feature_cache import main

if __name__ == "__main__":
    run_main(main)
