"""The shared kernel: what every floor of the ledger builds on.

It sits on the ground floor (inside ``accounts``, which imports nothing above
it) and imports no app of the project itself:

- ``money``: Decimal amounts, currency places, and the one amount parser
  (plain decimal digits only) used by the API, forms, the GL import and
  statement parsing;
- ``errors``: ``LedgerError`` (a stable code, a message, the offending fields
  and an HTTP status) and the generic errors every app raises;
- ``permissions``: the one permission check and the one ``NotAllowed``;
- ``transitions``: the one status-change mechanism (a ``Transitions`` table
  and ``transition``, which writes the status and its history row) used by
  withdrawals, differences, account status and holds;
- ``tasks``: work that must follow a commit, enqueued by task name, so a
  service never imports the module of its tasks;
- ``admin``: the admin helpers every app's admin shares.
"""
