"""FaceDesk: face search for investigators. Candidates and possible leads, never identifications."""

__version__ = "0.1.0"
