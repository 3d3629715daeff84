"""``{{ code|status_label }}``: a withdrawal status as people read it,
"in manual review (人工审核)", where a page has only the stored code (a
history row's from and to)."""

from django import template

from withdrawals.models import Status

register = template.Library()


@register.filter
def status_label(code):
    try:
        return Status(code).label
    except ValueError:
        return code
