"""``{{ amount|money:currency }}``: an amount with its currency, as finance
reads it (CN¥1,234.50), for the Decimal columns that have no ``*_money``."""

from django import template

from accounts.kernel.money import as_money

register = template.Library()


@register.filter
def money(amount, currency):
    if amount is None or amount == "":
        return "-"
    return str(as_money(amount, currency))
