"""The business-day calendar (工作日历) of an entity: Monday to Friday,
except the days ``BusinessDayOverride`` says otherwise (holidays, and
weekend days worked in exchange, 调休)."""

from __future__ import annotations

from datetime import date, timedelta

from .models import BusinessDayOverride

# Settlement looks no further than this for N business days (30 at most, plus holidays).
_HORIZON = timedelta(days=120)


class BusinessDays:
    """An entity's business days around ``around`` (its overrides read once)."""

    def __init__(self, *, entity_id: int, around: date):
        self.overrides = dict(
            BusinessDayOverride.objects.filter(
                entity_id=entity_id, date__range=(around - _HORIZON, around + _HORIZON)
            ).values_list("date", "business_day")
        )

    def is_business_day(self, day: date) -> bool:
        return self.overrides.get(day, day.weekday() < 5)

    def after(self, day: date, n: int) -> date:
        """The ``n``-th business day after ``day`` (T+n): funds of a Friday
        at T+1 are available on Monday, of a Saturday on Monday too."""
        for _ in range(n):
            day += timedelta(days=1)
            while not self.is_business_day(day):
                day += timedelta(days=1)
        return day

    def funds_due_through(self, today: date, n: int) -> date:
        """The latest accounting date whose funds are available by ``today`` at T+n."""
        day = today - timedelta(days=n)
        while self.after(day, n) > today:
            day -= timedelta(days=1)
        return day


def business_day_after(*, entity_id: int, day: date, n: int) -> date:
    return BusinessDays(entity_id=entity_id, around=day).after(day, n)
