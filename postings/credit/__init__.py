"""The credit product (花呗-style): bills, daily interest and penalty, and
repayments allocated to what is owed (issue 21, section 2). See
``postings.credit.services`` for the design and docs/credit.md for the rules
with worked figures."""
