"""The engine rule: a gallery's encodings are compared only with encodings of the same
engine (the one place that refuses a search, an import or an evaluation across engines)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from facedesk.engine.spec import describe_identity, engine_id
from facedesk.errors import EngineMismatch
from facedesk.store import Gallery


def require_engine(gallery: Gallery, identity: dict[str, Any],
                   engine_ids: Iterable[str] | None = None) -> None:
    """Refuse (EngineMismatch) when `gallery` holds encodings of an engine other than the
    one of `identity`. `engine_ids`: the engines of the encodings to be compared (default:
    every engine the gallery registered)."""
    own = engine_id(identity)
    foreign = sorted(set(gallery.engine_ids() if engine_ids is None else engine_ids) - {own})
    if foreign:
        raise EngineMismatch(
            f"{gallery.location}: this gallery was encoded with "
            f"{describe_identity(gallery.engine_identity(foreign[0]))}; this installation has "
            f"{describe_identity(identity)}. Encodings of two engines cannot be compared "
            "(their distances would be meaningless): install the engine the gallery was "
            "made with, or import the photos into a new gallery")
