"""Benchmarks against the peers, in one process, as ratios to baselines measured in the same run.

``python -m benchmarks [--quick] [--json PATH] [--plot PATH] [--check]``
"""
