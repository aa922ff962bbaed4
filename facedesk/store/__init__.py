"""The gallery store: one SQLite file per gallery (sqlite-utils); every SQL statement lives
here. Imports only facedesk.domain and facedesk.errors."""

from facedesk.store.encodings import EncodingMatrix
from facedesk.store.gallery import (
    EngineUse,
    FaceDetails,
    FaceRecord,
    Gallery,
    GallerySummary,
    Person,
    PhotoFile,
    PhotoRecord,
    StoredQuality,
)
from facedesk.store.imports import ImportRun, Problem, RunCounts

__all__ = ["EncodingMatrix", "EngineUse", "FaceDetails", "FaceRecord", "Gallery",
           "GallerySummary", "ImportRun", "Person", "PhotoFile", "PhotoRecord", "Problem",
           "RunCounts", "StoredQuality"]
