"""Payment channels as governed settings (``accounts.kernel.governance``),
like paying banks: a channel's clearing accounts and statement layout decide
which ledger records its statement is matched against and how a file is
read, so a change is proposed by one ledger admin and approved by another.
A proposal carries the clearing accounts (by id) with the other settings."""

from __future__ import annotations

from accounts.kernel.governance import GovernedSetting, SettingRefused, register
from accounts.models import Account

from .channel.models import Channel

CHANNEL_FIELDS = tuple(
    f.name for f in Channel._meta.concrete_fields if f.editable and not f.primary_key and not f.many_to_many
)


class ChannelSetting(GovernedSetting):
    model = Channel
    fields = CHANNEL_FIELDS

    def values(self, instance):
        values = super().values(instance)
        accounts = getattr(instance, "proposed_clearing_accounts", None)
        if accounts is None:
            accounts = list(instance.clearing_accounts.values_list("pk", flat=True)) if instance.pk else []
        values["clearing_accounts"] = sorted(accounts)
        return values

    def build(self, instance, values):
        instance = super().build(instance, values)
        instance.proposed_clearing_accounts = list(values.get("clearing_accounts", []))
        return instance

    def check(self, instance, values):
        super().check(instance, values)
        wanted = values.get("clearing_accounts", [])
        known = set(Account.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        if set(wanted) - known:
            raise SettingRefused("A clearing account of the proposal no longer exists.", clearing_accounts="unknown")
        # A clearing account belongs to one channel: its entries are that
        # channel's records, matched (or a difference) once.
        taken = (
            Channel.clearing_accounts.through.objects.filter(account_id__in=wanted)
            .exclude(channel_id=instance.pk)
            .select_related("account", "channel")
        )
        if taken:
            raise SettingRefused(
                "; ".join(
                    f"{link.account.account_no} is already the clearing account of {link.channel.code}"
                    for link in taken
                ),
                clearing_accounts="taken",
            )

    def save(self, instance, values):
        instance.save()
        instance.clearing_accounts.set(values.get("clearing_accounts", []))

    def display(self, values):
        shown = super().display(values)
        ids = values.get("clearing_accounts")
        if ids is not None:
            numbers = dict(Account.objects.filter(pk__in=ids).values_list("pk", "account_no"))
            shown["clearing accounts"] = ", ".join(numbers.get(pk, f"#{pk}") for pk in ids) or "—"
        return shown


def register_settings() -> None:
    register(ChannelSetting())
