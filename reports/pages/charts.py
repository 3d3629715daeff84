"""Charts as inline SVG, drawn on the server: no JavaScript, no CDN (the
machines are offline). Amounts stay Decimal; only pixel positions are
rounded, to a tenth of a pixel. Every mark carries a <title> with the exact
figure, and the pages print the same figures in a table."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .selectors import Series

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 96, 16, 16, 34
PALETTE = [
    "#2f6fb0",
    "#1f7a4d",
    "#a86400",
    "#8a1c1c",
    "#6b3fa0",
    "#0f766e",
    "#b45309",
    "#4b5563",
    "#be185d",
    "#15803d",
    "#1d4ed8",
    "#92400e",
]
CATEGORY_COLOURS = {"asset": "#2f6fb0", "liability": "#1f7a4d", "internal": "#a86400"}
TENTH = Decimal("0.1")


def _px(value: Decimal) -> str:
    return str(value.quantize(TENTH, rounding=ROUND_HALF_UP))


def nice_step(span: Decimal, ticks: int = 5) -> Decimal:
    """A tick step of 1, 2 or 5 times a power of ten covering ``span`` in about ``ticks`` steps."""
    if span <= 0:
        return Decimal(1)
    raw = span / ticks
    power = Decimal(1).scaleb(raw.adjusted())
    for m in (1, 2, 5, 10):
        if power * m >= raw:
            return power * m
    return power * 10


def _label(amount: Decimal) -> str:
    whole = amount.quantize(Decimal(1)) if amount == amount.to_integral_value() else amount.normalize()
    return f"{whole:,}"


def _scale(values: list[Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    lo = min([Decimal(0), *values])
    hi = max([Decimal(0), *values])
    step = nice_step(hi - lo)
    lo = (lo / step).to_integral_value(rounding="ROUND_FLOOR") * step
    hi = (hi / step).to_integral_value(rounding="ROUND_CEILING") * step
    if hi == lo:
        hi = lo + step
    return lo, hi, step


class _Frame:
    def __init__(self, days: list[date], lo: Decimal, hi: Decimal):
        self.days, self.lo, self.hi = days, lo, hi
        self.plot_w = Decimal(WIDTH - LEFT - RIGHT)
        self.plot_h = Decimal(HEIGHT - TOP - BOTTOM)
        self.index = {d: i for i, d in enumerate(days)}

    def x(self, day: date) -> Decimal:
        n = max(len(self.days) - 1, 1)
        return LEFT + self.plot_w * self.index[day] / n

    def slot(self) -> Decimal:
        return self.plot_w / max(len(self.days), 1)

    def y(self, value: Decimal) -> Decimal:
        return TOP + self.plot_h - (value - self.lo) / (self.hi - self.lo) * self.plot_h


def _axes(frame: _Frame, step: Decimal, *, bar_slots: bool = False) -> list[str]:
    parts = []
    v = frame.lo
    while v <= frame.hi:
        y = _px(frame.y(v))
        colour = "#9aa5b1" if v == 0 else "#e4e7eb"
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="{colour}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y}" dy="4" text-anchor="end" class="tick">{escape(_label(v))}</text>')
        v += step
    days = frame.days
    every = max(len(days) // 6, 1)
    for i, day in enumerate(days):
        if i % every and i != len(days) - 1:
            continue
        x = frame.x(day) if not bar_slots else LEFT + frame.slot() * i + frame.slot() / 2
        parts.append(f'<text x="{_px(x)}" y="{HEIGHT - 12}" text-anchor="middle" class="tick">{day:%m-%d}</text>')
    return parts


def _svg(parts: list[str], title: str) -> SafeString:
    body = "".join(parts)
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" class="chart"><style>.tick{{font:11px system-ui,sans-serif;fill:#616e7c}}'
        f"</style>{body}</svg>"
    )


NO_DATA = "no data"


def _no_data() -> str:
    """Said across an empty chart, so empty axes are not read as zeros."""
    return (
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="no-data" '
        f'style="font:600 18px system-ui,sans-serif;fill:#9aa5b1">{NO_DATA}</text>'
    )


def line_chart(series: list[Series], days: list[date], *, title: str, colours: dict[str, str]) -> SafeString:
    values = [v for s in series for _, v in s.points]
    lo, hi, step = _scale(values)
    frame = _Frame(days, lo, hi)
    parts = _axes(frame, step)
    if not values:
        parts.append(_no_data())
    for s in series:
        if not s.points:
            continue
        colour = colours.get(s.name, "#4b5563")
        points = " ".join(f"{_px(frame.x(d))},{_px(frame.y(v))}" for d, v in s.points)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}" '
            f'data-series="{escape(s.name)}"/>'
        )
        for d, v in s.points:
            parts.append(
                f'<circle cx="{_px(frame.x(d))}" cy="{_px(frame.y(v))}" r="2.5" fill="{colour}">'
                f"<title>{escape(s.name)} {d:%Y-%m-%d}: {escape(_label(v))}</title></circle>"
            )
    return _svg(parts, title)


def stacked_bar_chart(series: list[Series], days: list[date], *, title: str, colours: dict[str, str]) -> SafeString:
    totals: dict[date, Decimal] = {}
    for s in series:
        for d, v in s.points:
            totals[d] = totals.get(d, Decimal(0)) + v
    lo, hi, step = _scale(list(totals.values()))
    frame = _Frame(days, lo, hi)
    parts = _axes(frame, step, bar_slots=True)
    if not totals:
        parts.append(_no_data())
    width = frame.slot() * Decimal("0.8")
    base: dict[date, Decimal] = {}
    for s in series:
        colour = colours.get(s.name, "#4b5563")
        for d, v in s.points:
            below = base.get(d, Decimal(0))
            top, bottom = frame.y(below + v), frame.y(below)
            x = LEFT + frame.slot() * frame.index[d] + frame.slot() * Decimal("0.1")
            parts.append(
                f'<rect x="{_px(x)}" y="{_px(min(top, bottom))}" width="{_px(width)}" '
                f'height="{_px(abs(bottom - top))}" fill="{colour}" data-series="{escape(s.name)}">'
                f"<title>{escape(s.name)} {d:%Y-%m-%d}: {escape(_label(v))}</title></rect>"
            )
            base[d] = below + v
    return _svg(parts, title)


def colours_for(names: list[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
