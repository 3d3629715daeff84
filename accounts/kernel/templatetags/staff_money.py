"""Amounts on the staff pages, all through ``money.amount_html``:

``{{ amount|amount:currency }}``  a table cell: ``-1,234.50`` (red if negative),
                                  the code said once in the column or row
``{{ amount|sheet:currency }}``   the same, zero as "—" (balance sheets, charts)
``{{ amount|money:currency }}``   standing alone: ``CNY 1,234.50``

A ``*_money`` attribute (an ``as_money`` value) prints as ``money`` does.
"""

from django import template

from accounts.kernel.money import amount_html

register = template.Library()

NO_DATA = "—"


@register.filter
def amount(value, currency):
    return amount_html(value, currency)


@register.filter
def sheet(value, currency):
    return amount_html(value, currency, zero=NO_DATA)


@register.filter
def money(value, currency):
    return amount_html(value, currency, code=True)
