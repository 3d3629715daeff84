"""The models of the ``reports`` app, one module per bounded context; this
module only gathers them so that Django finds them (app label ``reports``,
table names unchanged).

- ``reports.eod.models``: the end of day (日终) and what it leaves behind:
  runs and steps, the daily balance sheet, check results, vouchers.
- ``reports.gl_recon.models``: GL trial balances uploaded for reconciliation.
- ``reports.channel.models``: channel reconciliation (渠道对账): channels,
  statements, matching runs, differences and their history.
"""

from .channel.models import (
    AmountMode,
    Channel,
    Difference,
    DifferenceEvent,
    DifferenceExport,
    DifferenceProposal,
    DifferenceStatus,
    ExportStatus,
    MoneyDirection,
    Outcome,
    ProposalStatus,
    ReconRun,
    Resolution,
    StatementEncoding,
    StatementImport,
    StatementLine,
    StatementVoid,
    VoidStatus,
)
from .eod.models import (
    EOD_STEPS,
    BalanceSheetRow,
    CheckResult,
    DailyBalance,
    DailyTotal,
    EodRun,
    EodStep,
    RunStatus,
    SheetDay,
    Voucher,
)
from .gl_recon.models import GlImport, GlImportRow
from .staging.models import StagedUpload

__all__ = [
    "EOD_STEPS",
    "AmountMode",
    "BalanceSheetRow",
    "DailyTotal",
    "SheetDay",
    "Channel",
    "CheckResult",
    "DailyBalance",
    "Difference",
    "DifferenceEvent",
    "DifferenceExport",
    "DifferenceProposal",
    "DifferenceStatus",
    "EodRun",
    "ExportStatus",
    "EodStep",
    "GlImport",
    "GlImportRow",
    "StagedUpload",
    "StatementVoid",
    "VoidStatus",
    "MoneyDirection",
    "Outcome",
    "ProposalStatus",
    "ReconRun",
    "Resolution",
    "RunStatus",
    "StatementEncoding",
    "StatementImport",
    "StatementLine",
    "Voucher",
]
