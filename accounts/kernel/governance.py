"""Governed configuration: control settings change by maker-checker (双人复核).

Posting rules, fee rules, review rules, account types and paying banks
decide how money moves, so a finance auditor asks first who may change
them, whether a second person looked, and what they were before. Here:

* every change is a ``SettingChange`` row: the whole setting before and as
  proposed, the proposer, the decider, the version the approval made;
* ``setting_change_propose`` validates the proposed values (the model's own
  ``clean`` plus the setting's extra checks, e.g. a posting rule's balance)
  and stores them; nothing changes yet;
* ``setting_change_approve``, by another user holding
  ``kernel.approve_settingchange``, validates again against the setting as
  it is now, writes it in the same transaction, raises its version and
  records when it took effect; ``setting_change_reject`` closes it.

Effective-from. A proposal may name a time its values take effect (empty: at
approval). Approved before that time, the change is *scheduled*: checked
now, written by ``setting_changes_apply_due`` (Celery beat, every
``SETTING_CHANGE_APPLY_SECONDS``) once its time has come, with the version
raised then. The setting's row always holds the version in force, so the
posting path and fee pricing read one row as before and record the version
they read: nothing is added to them. The price is that a scheduled version
takes effect at the first run of the job after its time (seconds late, each
change says when in ``applied_at``), not to the microsecond; a lookup of
"the latest version whose effective-from has passed" on every posting would
be exact, but would add a read to every posting and keep every setting in
two shapes. While a change of a setting is scheduled, no other change of it
is proposed or approved: the scheduled one's "before" must still be true
when it is written.

The kernel knows no app: each app describes its settings with a
``GovernedSetting`` and registers it when ready (``register``). The admin
side (``accounts.kernel.admin.GovernedAdminMixin``) turns a save of such a
form into a proposal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from .errors import LedgerError, LedgerValidationError, NotAllowed
from .models import SettingChange, SettingChangeStatus
from .permissions import require_permission

APPROVE = "kernel.approve_settingchange"
log = logging.getLogger(__name__)


class SettingRefused(LedgerValidationError):
    code = "setting_refused"
    default_message = "The setting is not valid."


class SettingChangeNotOpen(LedgerError):
    code = "setting_change_not_open"
    http_status = 409
    default_message = "This change has already been decided."


class SettingChangeScheduled(LedgerError):
    code = "setting_change_scheduled"
    http_status = 409
    default_message = "Another change of this setting is approved and waits for its effective time."


class SettingChangedMeanwhile(LedgerError):
    code = "setting_changed_meanwhile"
    http_status = 409
    default_message = "The setting changed since this was proposed; propose the change again."


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def refusal_from(error: ValidationError) -> SettingRefused:
    """A model's ``ValidationError`` as one finance sentence per problem."""
    if hasattr(error, "error_dict"):
        parts = [
            " ".join(str(m) for m in messages)
            if name == "__all__"
            else f"{name.replace('_', ' ')}: {' '.join(str(m) for m in messages)}"
            for name, messages in error.message_dict.items()
        ]
        return SettingRefused(
            " ".join(parts), **{name: " ".join(map(str, m)) for name, m in error.message_dict.items()}
        )
    return SettingRefused(" ".join(error.messages))


def _decimal_text(value: Decimal) -> str:
    """1234.5000 -> 1,234.50; 0.0125 -> 0.0125: cents always, more places only when used."""
    if value == value.quantize(Decimal("0.01")):
        return f"{value:,.2f}"
    return f"{value.normalize():,f}"


class GovernedSetting:
    """How one model's rows are proposed, checked, shown and written.

    ``fields`` are the settings a proposal carries (foreign keys by id);
    subclasses add related rows (a rule's legs) by overriding ``values``,
    ``check``, ``save`` and ``display``."""

    model: type[models.Model]
    fields: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def _field(self, name: str) -> models.Field:
        return self.model._meta.get_field(name)

    def values(self, instance: models.Model) -> dict[str, Any]:
        """The settings of ``instance`` (saved or only built by a form), as
        JSON; decimals at their column's places, so 3 and 3.0000 are one value."""
        values = {}
        for name in self.fields:
            field = self._field(name)
            value = getattr(instance, field.attname)
            if isinstance(field, models.DecimalField) and value is not None:
                value = field.to_python(value).quantize(Decimal(1).scaleb(-field.decimal_places))
            values[name] = value
        return _json(values)

    def build(self, instance: models.Model | None, values: Mapping[str, Any]) -> models.Model:
        instance = instance if instance is not None else self.model()
        for name in self.fields:
            if name in values:
                field = self._field(name)
                setattr(instance, field.attname, field.to_python(values[name]))
        return instance

    def derive(self, old: Mapping[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        """Fill in what follows from the other settings (a derived name)."""
        return new

    def check(self, instance: models.Model, values: Mapping[str, Any]) -> None:
        """Raise ``SettingRefused`` unless ``values`` make a valid setting."""
        try:
            instance.full_clean()
        except ValidationError as exc:
            raise refusal_from(exc) from None

    def save(self, instance: models.Model, values: Mapping[str, Any]) -> None:
        instance.save()

    def display(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Field label -> the value as finance reads it (choices' labels, related rows' names)."""
        shown = {}
        for name in self.fields:
            if name not in values:
                continue
            field, value = self._field(name), values[name]
            if value is None or value == "":
                text = "—"
            elif field.is_relation:
                related = field.related_model._default_manager.filter(pk=value).first()
                text = str(related) if related is not None else f"#{value}"
            elif isinstance(field, models.DecimalField):
                text = _decimal_text(Decimal(value))
            elif field.choices:
                text = str(dict(field.flatchoices).get(value, value))
            else:
                text = str(value)
            shown[str(field.verbose_name)] = text
        return shown


_SETTINGS: dict[str, GovernedSetting] = {}


def register(setting: GovernedSetting) -> GovernedSetting:
    _SETTINGS[setting.label] = setting
    return setting


def governed(model: type[models.Model] | str) -> GovernedSetting:
    label = model if isinstance(model, str) else model._meta.label_lower
    return _SETTINGS[label]


def is_governed(model: type[models.Model]) -> bool:
    return model._meta.label_lower in _SETTINGS


def _locked(setting: GovernedSetting, object_id: str) -> models.Model:
    return setting.model._default_manager.select_for_update(no_key=True).get(pk=object_id)


def setting_change_propose(
    *,
    acting_user,
    model: type[models.Model] | str,
    object_id: Any = None,
    values: Mapping[str, Any],
    reason: str = "",
    effective_from: datetime | None = None,
) -> SettingChange:
    """Propose new ``values`` for a setting (``object_id`` None: a new one),
    to take effect at approval or, if later, at ``effective_from``.
    Validated now and again on approval; nothing changes until then."""
    setting = governed(model)
    opts = setting.model._meta
    doing = "add" if object_id is None else "change"
    require_permission(
        acting_user, f"{opts.app_label}.{doing}_{opts.model_name}", doing=f"propose a change of a {opts.verbose_name}"
    )
    if effective_from is not None and effective_from <= timezone.now():
        raise SettingRefused(
            f"The effective-from time {_when(effective_from)} has passed; leave it empty to take effect at approval.",
            effective_from="past",
        )
    with transaction.atomic():
        if object_id is not None:
            _refuse_if_scheduled(setting.label, str(object_id))
        current = setting.model._default_manager.get(pk=object_id) if object_id is not None else None
        old = setting.values(current) if current is not None else {}
        new = setting.derive(old, _json(dict(values)))
        if new == old:
            raise SettingRefused("The proposal changes nothing.")
        candidate = setting.build(setting.model._default_manager.get(pk=object_id) if current else None, new)
        setting.check(candidate, new)
        return SettingChange.objects.create(
            model=setting.label,
            object_id="" if object_id is None else str(object_id),
            object_repr=str(current) if current is not None else f"new {opts.verbose_name}",
            old_values=old,
            new_values=new,
            reason=reason[:255],
            proposed_by=acting_user,
            effective_from=effective_from,
        )


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def _refuse_if_scheduled(label: str, object_id: str, *, but: int | None = None) -> None:
    scheduled = (
        SettingChange.objects.filter(model=label, object_id=object_id, status=SettingChangeStatus.SCHEDULED)
        .exclude(pk=but)
        .first()
    )
    if scheduled is not None:
        raise SettingChangeScheduled(
            f"Change C{scheduled.pk} of {scheduled.object_repr} is approved and takes effect at "
            f"{_when(scheduled.effective_from)}; propose the next change once it is in force.",
            change=scheduled.pk,
        )


def _open_change(change_id: int, acting_user, doing: str) -> SettingChange:
    require_permission(acting_user, APPROVE, doing=doing)
    change = SettingChange.objects.select_for_update(no_key=True).get(pk=change_id)
    if change.status != SettingChangeStatus.PROPOSED:
        raise SettingChangeNotOpen(f"Change C{change.pk} is already {change.status}.", change=change.pk)
    if change.proposed_by_id == acting_user.pk:
        raise NotAllowed(
            "A change is approved or rejected by another ledger admin than the one who proposed it (maker-checker).",
            change=change.pk,
        )
    return change


def setting_change_approve(*, acting_user, change_id: int, note: str = "") -> SettingChange:
    """Approve a proposed change: checked again against the setting as it is
    now and written with its version raised, in one transaction; or, when
    its effective-from time is still to come, checked now and scheduled
    (``setting_changes_apply_due`` writes it then)."""
    with transaction.atomic():
        change = _open_change(change_id, acting_user, "approve a change of a control setting")
        setting = governed(change.model)
        now = timezone.now()
        decision = {"decided_by": acting_user, "decided_at": now, "decision_note": note[:255]}
        if change.effective_from is not None and change.effective_from > now:
            _checked(change, setting)
            SettingChange.objects.filter(pk=change.pk).update(status=SettingChangeStatus.SCHEDULED, **decision)
        else:
            _apply(change, setting, now, effective_from=now, **decision)
        change.refresh_from_db()
        return change


def _checked(change: SettingChange, setting: GovernedSetting) -> models.Model:
    """The setting (row-locked) with the change's values, unsaved, refused
    unless no other change of it is scheduled, its values are still the
    change's "before" and the new ones are valid."""
    if change.object_id:
        instance = _locked(setting, change.object_id)
        # After the lock: two approvals of one setting at once see each other here.
        _refuse_if_scheduled(change.model, change.object_id, but=change.pk)
        if setting.values(instance) != change.old_values:
            raise SettingChangedMeanwhile(
                f"{instance} changed since change C{change.pk} was proposed; propose it again.", change=change.pk
            )
    else:
        instance = None
    instance = setting.build(instance, change.new_values)
    setting.check(instance, change.new_values)
    return instance


def _apply(change: SettingChange, setting: GovernedSetting, applied: datetime, **row) -> None:
    """Write the change's values into the setting, raise its version and
    record both on the change (``row``: the decision, or nothing more when
    a scheduled change comes due). In the caller's transaction."""
    instance = _checked(change, setting)
    if not change.object_id:
        version = 1
    elif hasattr(instance, "version"):
        version = instance.version + 1
    else:
        last = (
            SettingChange.objects.filter(
                model=change.model, object_id=change.object_id, status=SettingChangeStatus.APPROVED
            )
            .exclude(version=None)
            .first()
        )
        version = (last.version if last else 1) + 1
    if hasattr(instance, "version"):
        instance.version = version
    # Who a setting's own history names for this write (e.g. the posting
    # mode history of an account type's accounts): the approver, and whose change.
    decider = row.get("decided_by") or change.decided_by
    instance.changed_by = f"{decider.get_username()} (C{change.pk} by {change.proposed_by.get_username()})"[:150]
    setting.save(instance, change.new_values)
    row.setdefault("effective_from", change.effective_from or applied)
    SettingChange.objects.filter(pk=change.pk).update(
        status=SettingChangeStatus.APPROVED,
        applied_at=applied,
        version=version,
        object_id=str(instance.pk),
        object_repr=str(instance)[:255],
        **row,
    )


def setting_changes_apply_due(*, limit: int = 100) -> list[int]:
    """Write the scheduled changes whose effective-from time has come, oldest
    first, each in its own transaction (one that can no longer be written is
    logged and left scheduled, the others go on). Safe to run twice at once:
    a change is taken under a row lock that the other run skips. Returns the
    changes written."""
    applied = []
    for change_id in (
        SettingChange.objects.filter(status=SettingChangeStatus.SCHEDULED, effective_from__lte=timezone.now())
        .order_by("effective_from", "id")
        .values_list("pk", flat=True)[:limit]
    ):
        try:
            with transaction.atomic():
                change = (
                    SettingChange.objects.select_for_update(no_key=True, skip_locked=True)
                    .filter(pk=change_id, status=SettingChangeStatus.SCHEDULED)
                    .first()
                )
                if change is None:
                    continue
                _apply(change, governed(change.model), timezone.now())
        except LedgerError as exc:
            log.error("scheduled setting change C%s not applied: %s", change_id, exc.message)
            continue
        applied.append(change_id)
    return applied


def setting_change_reject(*, acting_user, change_id: int, note: str = "") -> SettingChange:
    with transaction.atomic():
        change = _open_change(change_id, acting_user, "reject a change of a control setting")
        SettingChange.objects.filter(pk=change.pk).update(
            status=SettingChangeStatus.REJECTED,
            decided_by=acting_user,
            decided_at=timezone.now(),
            decision_note=note[:255],
        )
        change.refresh_from_db()
        return change


def setting_change_rows(change: SettingChange) -> list[tuple[str, str, str, bool]]:
    """(field, old, new, changed) for every field of the change, as the auditor reads it."""
    setting = governed(change.model)
    old, new = setting.display(change.old_values), setting.display(change.new_values)
    return [
        (name, old.get(name, "—"), new.get(name, "—"), old.get(name) != new.get(name))
        for name in dict.fromkeys([*old, *new])
    ]
