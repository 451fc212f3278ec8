"""Adapters: the ports implemented for AWS (aws/), for local mode (local/) and for in-process models (embedding/)."""
