"""Ingestion benchmark: our pipeline end to end into LanceDB, the embedding model alone, and a naive baseline.

Run it with `make bench-ingest` or `.venv/bin/python -m bench.ingest --help`.
"""
