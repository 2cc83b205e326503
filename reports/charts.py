"""Charts with matplotlib (headless): SVG for HTML, PNG for PDF (WeasyPrint's SVG support is partial)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402

# CJK fonts first so zh-CN labels render (scripts/setup.sh installs one); DejaVu as the fallback.
plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]
plt.rcParams["svg.fonttype"] = "none"  # text stays text in SVG (smaller, selectable)

SEVERITY_COLOURS = {"critical": "#7b1fa2", "high": "#d32f2f", "medium": "#f57c00", "low": "#fbc02d",
                    "informational": "#90a4ae"}  # fmt: skip


def _encode(fig: plt.Figure, fmt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    if fmt == "svg":
        return buffer.getvalue().decode()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def hourly_volume(hourly: dict[str, list[int]], title: str, fmt: str) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 2.1))
    for category, values in sorted(hourly.items()):
        ax.plot(range(len(values)), values, marker="o", markersize=3, label=category)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlim(0, 23)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if hourly:
        ax.legend(fontsize=8)
    return _encode(fig, fmt)


def bars(labels: list[str], values: list[float], title: str, fmt: str, percent: bool = False) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 2.0))
    colours = [SEVERITY_COLOURS.get(label, "#1976d2") for label in labels]
    ax.bar(labels, [v * 100 for v in values] if percent else values, color=colours)
    if percent:
        ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _encode(fig, fmt)
