"""The gallery store: one SQLite file per gallery (sqlite-utils); every SQL statement lives
here. Imports only facedesk.domain and facedesk.errors."""

from facedesk.store.encodings import EncodingMatrix
from facedesk.store.gallery import Gallery, GallerySummary
from facedesk.store.imports import ImportRun, Problem, RunCounts
from facedesk.store.meta import EngineUse
from facedesk.store.photos import (
    FaceDetails,
    FaceRecord,
    Person,
    PhotoFile,
    PhotoRecord,
    StoredQuality,
)

__all__ = ["EncodingMatrix", "EngineUse", "FaceDetails", "FaceRecord", "Gallery",
           "GallerySummary", "ImportRun", "Person", "PhotoFile", "PhotoRecord", "Problem",
           "RunCounts", "StoredQuality"]
