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


def response_timeline(spans: list[tuple[str, float, float | None]], deadlines: list[tuple[str, float]], now: float,
                      title: str, fmt: str) -> str:  # fmt: skip
    """Horizontal bars from start to end in minutes since detection (still open: grey and hatched up to `now`)
    against red deadline lines. Symmetric-log x axis, so the 3-minute contact and the 24-hour report both show."""
    horizon = max([now, 1.0] + [d for _, d in deadlines] + [e for _, _, e in spans if e is not None])
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(spans) + 1.1))
    for row, (_, start, end) in enumerate(reversed(spans)):
        done = end is not None
        stop = end if end is not None else now
        ax.barh(row, max(stop - start, 0.05), left=start, height=0.55,
                color="#1976d2" if done else "#b0bec5", hatch=None if done else "//")  # fmt: skip
    ax.set_yticks(range(len(spans)), [label for label, _, _ in reversed(spans)], fontsize=8)
    for label, minute in deadlines:
        ax.axvline(minute, color="#d32f2f", linestyle="--", linewidth=1)
        ax.text(minute, 1.01, label, transform=ax.get_xaxis_transform(), fontsize=7, color="#d32f2f", ha="center")
    ax.set_xscale("symlog", linthresh=10)
    ticks = [t for t in (0, 3, 10, 60, 360, 1440, 10080) if t <= horizon * 1.5]
    ax.set_xticks(ticks, [_minutes_label(t) for t in ticks], fontsize=8)
    ax.set_xlim(0, horizon * 1.3)
    ax.set_ylim(-0.6, len(spans) - 0.4)
    ax.set_title(title, fontsize=10, pad=14)
    ax.grid(axis="x", alpha=0.3)
    return _encode(fig, fmt)


def _minutes_label(minutes: float) -> str:
    if minutes >= 1440:
        return f"{minutes / 60:g}h" if minutes == 1440 else f"{minutes / 1440:g}d"
    return f"{minutes / 60:g}h" if minutes >= 60 else f"{minutes:g}m"
