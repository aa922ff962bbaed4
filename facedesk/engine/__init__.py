"""The face engine seam: EngineSpec names an engine; only dlib_engine imports dlib."""
