"""A face turned in the image plane, as the tilted-probe test and benchmark make it."""

from __future__ import annotations

import math

from facedesk.domain.faces import Box


def drawn_box(box: Box, degrees: float, width: int, height: int) -> Box:
    """The upright box as a person would draw it around the same face turned by `degrees`
    (counter-clockwise, as Pillow turns): the axis-aligned box of its turned corners."""
    cx, cy = width / 2, height / 2
    t = math.radians(-degrees)
    corners = [(box.left, box.top), (box.right, box.top), (box.right, box.bottom),
               (box.left, box.bottom)]
    pts = [(cx + (x - cx) * math.cos(t) - (y - cy) * math.sin(t),
            cy + (x - cx) * math.sin(t) + (y - cy) * math.cos(t)) for x, y in corners]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return Box(round(min(ys)), round(max(xs)), round(max(ys)), round(min(xs)))
