"""Webhooks (issue 23, section 2): the outbox's events pushed to the HTTPS
endpoints API clients register, signed per the Standard Webhooks
specification; design and settings in docs/events/webhooks.md.

A Django app of its own (label ``webhooks``) inside ``events``: it builds
on the outbox (``events.models``, ``events.selectors``) and the outbox
knows nothing of it.
"""
