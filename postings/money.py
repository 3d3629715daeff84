"""Moved to the shared kernel: ``accounts.kernel.money``.

Kept as a name only so that branches of issue 17 written against the old
path still import while they are merged; import from the kernel.
"""

from accounts.kernel.money import *  # noqa: F403
from accounts.kernel.money import AMOUNT_DECIMAL_PLACES, AMOUNT_MAX_DIGITS  # noqa: F401
