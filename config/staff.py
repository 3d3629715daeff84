"""Moved to the shared kernel: ``accounts.kernel.pages`` (the apps' pages
use it, and the apps sit below ``config``). Kept as a name only while the
branches of issue 17 are merged; import from the kernel."""

from accounts.kernel.pages import paginate, querystring_without, staff_page

__all__ = ["paginate", "querystring_without", "staff_page"]
