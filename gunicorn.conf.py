"""gunicorn's settings for the ledger, read by `gunicorn config.wsgi` when
started from the project directory (gunicorn reads ./gunicorn.conf.py; or
pass `-c gunicorn.conf.py`). Command-line options override these.

A header longer than gunicorn's limit is refused by gunicorn itself with a
bare 431 (or 400) and no JSON. The default limit, 8,190 bytes, is under
what a mistaken client may send as an API key (a whole token file, a JWT
pasted twice); 32 KB lets such a request reach Django, where the API
answers it in its own error shape (401 unauthenticated, config/api/auth.py).
Past 32 KB gunicorn still refuses the request on its own.
"""

limit_request_field_size = 32 * 1024
