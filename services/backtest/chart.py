"""Equity and drawdown charts: a PNG from a tiny numpy rasterizer (zlib), and HTML with inline SVG.

No plotting dependency: two stacked panels (equity line; drawdown area), light grid, min/max
labels drawn with a 3x5 pixel digit font.
"""

from __future__ import annotations

import html
import struct
import zlib

import numpy as np

from services.backtest.report import drawdown

W, H = 1000, 520
_FONT = {  # 3x5 glyphs, rows top to bottom, 3 bits each
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010", "-": "000000111000000",
    "%": "101001010100101", ",": "000000000010100", " ": "000000000000000",
}  # fmt: skip


def _downsample(y: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel column: min and max of the points it covers (so no spike is lost)."""
    n = len(y)
    edges = np.linspace(0, n, width + 1).astype(np.int64)
    edges[1:] = np.maximum(edges[1:], edges[:-1] + 1)
    edges = np.minimum(edges, n)
    starts = np.minimum(edges[:-1], n - 1)
    return np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)


def _text(img: np.ndarray, x: int, y: int, s: str, color: tuple[int, int, int], scale: int = 2) -> None:
    for ch in s:
        bits = _FONT.get(ch, _FONT[" "])
        for r in range(5):
            for c in range(3):
                if bits[r * 3 + c] == "1":
                    y0, x0 = y + r * scale, x + c * scale
                    img[y0 : y0 + scale, x0 : x0 + scale] = color
        x += 4 * scale


def _panel(img: np.ndarray, y: np.ndarray, top: int, height: int, color: tuple[int, int, int], fill: bool,
           label: str) -> None:  # fmt: skip
    left, width = 70, W - 90
    img[top : top + height, left - 1] = (160, 160, 160)
    img[top + height, left - 1 : left + width] = (160, 160, 160)
    for g in range(1, 4):
        img[top + g * height // 4, left : left + width : 4] = (220, 220, 220)
    lo, hi = float(np.min(y)), float(np.max(y))
    span = hi - lo or 1.0
    mins, maxs = _downsample(y, width)

    def row(v: np.ndarray) -> np.ndarray:
        return top + (height - 1) - np.round((v - lo) / span * (height - 1)).astype(np.int64)

    r_min, r_max = row(mins), row(maxs)
    zero = int(row(np.array([min(max(0.0, lo), hi)]))[0])
    prev = None
    for i in range(width):
        a, b = int(r_max[i]), int(r_min[i])
        if prev is not None:
            a, b = min(a, prev[0]), max(b, prev[1])
        if fill:
            img[min(a, zero) : max(b, zero) + 1, left + i] = color
        else:
            img[a : b + 1, left + i] = color
        prev = (int(r_max[i]), int(r_min[i]))
    _text(img, 4, top, f"{hi:.6g}"[:8], (60, 60, 60))
    _text(img, 4, top + height - 10, f"{lo:.6g}"[:8], (60, 60, 60))
    _text(img, left + 8, top + 6, label, (60, 60, 60))


def render_png(equity: np.ndarray) -> bytes:
    """A PNG (RGB, W x H) of equity (top) and drawdown % (bottom)."""
    img = np.full((H, W, 3), 255, dtype=np.uint8)
    if len(equity) >= 2:
        _panel(img, np.asarray(equity, dtype=float), 20, 320, (30, 90, 200), False, "")
        _panel(img, 100 * drawdown(np.asarray(equity, dtype=float)), 370, 130, (210, 60, 60), True, "")
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(H))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _svg_path(y: np.ndarray, top: float, height: float, width: float, left: float) -> str:
    mins, maxs = _downsample(y, int(width))
    lo, hi = float(np.min(y)), float(np.max(y))
    span = hi - lo or 1.0
    pts = []
    for i in range(len(mins)):
        for v in (maxs[i], mins[i]):
            pts.append(f"{left + i:.0f},{top + height - (float(v) - lo) / span * height:.1f}")
    return "M" + " L".join(pts)


def render_html(equity: np.ndarray, title: str, summary_text: str) -> str:
    """A standalone page: the summary and the same two panels as inline SVG."""
    eq = np.asarray(equity, dtype=float)
    body = ""
    if len(eq) >= 2:
        dd = 100 * drawdown(eq)
        body = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" style="background:#fff">'
            f'<text x="4" y="16" font-size="12">equity {eq.min():.2f} .. {eq.max():.2f}</text>'
            f'<path d="{_svg_path(eq, 24, 300, W - 90, 70)}" stroke="#1e5ac8" fill="none"/>'
            f'<text x="4" y="366" font-size="12">drawdown % (min {dd.min():.2f})</text>'
            f'<path d="{_svg_path(dd, 374, 130, W - 90, 70)}" stroke="#d23c3c" fill="none"/>'
            "</svg>"
        )
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(summary_text)}</pre>{body}"
    )
