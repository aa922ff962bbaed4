"""Which engine to use, named so that worker processes can build their own copy."""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from facedesk.core.faces import FaceEngine

REAL_ENGINE = "facedesk.core.engine:DlibEngine"


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


def engine_id(identity: dict[str, Any]) -> str:
    """Short stable id of an engine identity (first 16 hex digits of its SHA-256)."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def describe_identity(identity: dict[str, Any] | None) -> str:
    if not identity:
        return "an unknown engine"
    models = ", ".join(f"{k} {str(v)[:12]}" for k, v in sorted(identity.get("models", {}).items()))
    return f"{identity.get('engine', '?')} {identity.get('dlib', '?')} (models: {models})"
