"""Embedding models that run inside the function itself (no endpoint to pay for)."""
