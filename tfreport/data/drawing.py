"""Drawing primitives for synthetic chest X-rays (the demo and the rendered IU X-Ray set).

Coordinates are normalised to the image (0..1, y down); every shape is soft-edged so that
resizing never turns it into a single telltale pixel.
"""
from __future__ import annotations

import numpy as np


def ellipse(xx, yy, cx, cy, rx, ry):
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2


def soft(d, edge=0.08):
    """Soft ellipse mask from a normalised squared distance (1 inside, 0 outside)."""
    return np.clip((1.0 - d) / edge, 0.0, 1.0)


def blob(img, xx, yy, cx, cy, r, value, rng, lobes=3):
    """An irregular soft opacity made of a few overlapping discs."""
    m = np.zeros_like(img)
    for _ in range(lobes):
        ox, oy = rng.normal(0, r * 0.35, size=2)
        rr = r * rng.uniform(0.6, 1.0)
        m = np.maximum(m, soft(ellipse(xx, yy, cx + ox, cy + oy, rr, rr * rng.uniform(0.7, 1.3)),
                                edge=0.6))
    return img + value * m


def line(img, xx, yy, p0, p1, width, value):
    """Adds a straight line segment from p0 to p1 (normalised coordinates)."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0, 1)
    d = np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))
    return img + value * np.clip(1.0 - d / width, 0, 1)


def lung_boxes(cx, cy, s):
    """Frontal lung fields: (cx, cy, rx, ry) for the patient's right (image left) and left lung."""
    return {"right": (cx - 0.17 * s, cy - 0.04 * s, 0.14 * s, 0.28 * s),
            "left": (cx + 0.17 * s, cy - 0.04 * s, 0.14 * s, 0.28 * s)}


def finish(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Global contrast jitter and noise, so no fixed pixel gives a finding away."""
    img = img * rng.uniform(0.85, 1.15) + rng.uniform(-12, 12)
    img += rng.normal(0, rng.uniform(3, 9), size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
