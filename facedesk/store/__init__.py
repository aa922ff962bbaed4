"""The gallery store: one SQLite file per gallery (sqlite-utils). Imports neither
`facedesk.core` nor the GUI."""

from facedesk.store.gallery import (
    EncodingMatrix,
    FaceRecord,
    Gallery,
    PhotoRecord,
    Problem,
    RunCounts,
)

__all__ = ["EncodingMatrix", "FaceRecord", "Gallery", "PhotoRecord", "Problem", "RunCounts"]
