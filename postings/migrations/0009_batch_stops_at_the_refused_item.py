"""ledger_post_batch() writes the items before the first one it does not take.

Migration 0008's function wrote all of a batch or, with any item not plainly
allowed, raised ``ledger_post_full_path`` and wrote none of it, and the whole
batch took the full path. Now it writes the longest run of items from the
start that are all plainly allowed, and returns their postings as before;
that they are fewer than the items given tells the caller which item it did
not take: the next one. An unknown account and whatever the per-leg rules
refuse stop the batch this way; an entity without a calendar still raises.
The service posts that item by the full path and the items after it in a
new call, or, when refusals come thick, the items left together by the full
path (postings.services, _batch_post): each item still sees what the items
before it left, and a rare refusal no longer sends a whole batch down the
slower path.

The function is 0008's with the edits below, applied to 0008's text and
checked to apply exactly once, so that the two stay one text.
"""

from importlib import import_module

from django.db import migrations

_BEFORE = import_module("postings.migrations.0008_ledger_post_batch_function")

EDITS = [
    ("    allowed boolean;\n", "    refused int;  -- the first item not taken, counting from 1\n"),
    # An account it does not know: the first item naming one is not taken.
    (
        """    IF wanted <> coalesce(cardinality(accts), 0) THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'unknown account';
    END IF;
""",
        """    IF wanted <> coalesce(cardinality(accts), 0) THEN
        SELECT min(l.item) INTO refused FROM unnest(p_leg_items, p_account_nos) AS l(item, account_no)
         WHERE l.account_no NOT IN (SELECT a.account_no FROM unnest(accts) AS a);
    END IF;
""",
    ),
    # The first item a leg of which the rules do not plainly allow (as
    # bool_and skipped a NULL, NOT NULL is not counted).
    ("    SELECT bool_and(\n", "    SELECT least(refused, min(r.item) FILTER (WHERE NOT (\n"),
    (
        "OR (r.posting_mode = 'buffered' AND (r.delta > 0 OR r.allow_negative)))),\n",
        "OR (r.posting_mode = 'buffered' AND (r.delta > 0 OR r.allow_negative)))))),\n",
    ),
    ("      INTO allowed, l_leg,", "      INTO refused, l_leg,"),
    # Only the items before it are written (their running balances do not
    # depend on any later item); none at all when it is the first.
    (
        """    IF NOT allowed THEN
        RAISE check_violation USING CONSTRAINT = 'ledger_post_full_path', MESSAGE = 'not plainly allowed';
    END IF;
""",
        """    IF refused IS NOT NULL THEN
        SELECT array_agg(l.leg), array_agg(l.item), array_agg(l.account), array_agg(l.seq), array_agg(l.before),
               array_agg(l.after), array_agg(l.frozen), array_agg(l.currency), array_agg(l.entity)
          INTO l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen, l_currency, l_entity
          FROM unnest(l_leg, l_item, l_account, l_seq, l_before, l_after, l_frozen, l_currency, l_entity)
               AS l(leg, item, account, seq, before, after, frozen, currency, entity)
         WHERE l.item < refused;
        IF l_leg IS NULL THEN
            RETURN;
        END IF;
    END IF;
""",
    ),
]


def _edited(function: str) -> str:
    for old, new in EDITS:
        if function.count(old) != 1:
            raise RuntimeError(f"0009: expected one {old!r} in ledger_post_batch")
        function = function.replace(old, new)
    return function


def forwards(apps, schema_editor):
    schema_editor.execute(_edited(_BEFORE.FUNCTION))


def backwards(apps, schema_editor):
    schema_editor.execute(_BEFORE.FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("postings", "0008_ledger_post_batch_function")]

    operations = [migrations.RunPython(forwards, backwards)]
