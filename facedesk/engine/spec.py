"""Which engine to use, named so that worker processes can build their own copy."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from facedesk.domain.faces import FaceEngine, describe_identity, engine_id

__all__ = ["REAL_ENGINE", "EngineSpec", "describe_identity", "engine_id"]

REAL_ENGINE = "facedesk.engine.dlib_engine:DlibEngine"


@dataclass(frozen=True)
class EngineSpec:
    """`module:Class` of a FaceEngine and its keyword arguments (picklable)."""

    factory: str = REAL_ENGINE
    options: dict[str, Any] = field(default_factory=dict)

    def create(self) -> FaceEngine:
        module, _, name = self.factory.partition(":")
        cls = getattr(importlib.import_module(module), name)
        engine: FaceEngine = cls(**self.options)
        return engine
