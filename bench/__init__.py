"""Benchmarks of the platform. Each runs with `python -m bench.<name>`; results go to bench/results/ (not tracked)."""
