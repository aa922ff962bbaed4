"""The gallery store: one SQLite file per gallery (sqlite-utils); every SQL statement lives
here. Imports only facedesk.domain and facedesk.errors."""

from facedesk.store.gallery import (
    EncodingMatrix,
    FaceRecord,
    Gallery,
    PhotoRecord,
    Problem,
    RunCounts,
)

__all__ = ["EncodingMatrix", "FaceRecord", "Gallery", "PhotoRecord", "Problem", "RunCounts"]
