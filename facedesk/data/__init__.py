"""Data files FaceDesk ships (loaded with importlib.resources)."""
