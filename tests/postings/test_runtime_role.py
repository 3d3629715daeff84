"""The runtime role reads and writes rows and can do nothing else (issue 18,
section 1): what would switch off a money trigger needs the owner."""

import psycopg
import pytest

OWNER_ONLY = [
    "ALTER TABLE postings_entry DISABLE TRIGGER ALL",
    "SET LOCAL session_replication_role = replica",
    "TRUNCATE postings_entry CASCADE",
    "CREATE OR REPLACE FUNCTION ledger_leg_refusal() RETURNS text LANGUAGE sql AS $$ SELECT NULL::text $$",
    "CREATE TABLE rogue (id int)",
]


@pytest.mark.parametrize("statement", OWNER_ONLY)
def test_the_runtime_role_cannot_touch_what_guards_the_money(runtime_sql, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        runtime_sql(statement)


def test_the_runtime_role_cannot_drop_a_trigger(runtime_sql):
    (name,) = runtime_sql(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'postings_entry'::regclass AND NOT tgisinternal LIMIT 1"
    )[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        runtime_sql(f'DROP TRIGGER "{name}" ON postings_entry')


def test_the_runtime_role_reads_and_writes_rows(runtime_sql, ledger):
    account = ledger.cash()
    assert runtime_sql("SELECT account_no FROM accounts_account WHERE id = %s", [account.id]) == [(account.account_no,)]
    runtime_sql("UPDATE accounts_account SET name = 'renamed' WHERE id = %s", [account.id])
    assert ledger.fresh(account).name == "renamed"


def test_the_command_refuses_a_superuser_as_runtime_role(db):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="superuser"):
        call_command("ledger_runtime_role", "postgres")
