"""Handlers of functions whose code package holds no Python: Lambda imports them from the layer (/opt/python)."""
