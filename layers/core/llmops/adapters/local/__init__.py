"""Adapters for local mode: an embedded vector store and a small language model on the CPU.

Their dependencies (lancedb, torch, transformers) are installed with the `local` extra, never into Lambda.
"""
