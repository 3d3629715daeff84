"""The models of the ``reports`` app, one module per bounded context; this
module only gathers them so that Django finds them (app label ``reports``,
table names unchanged).

- ``reports.eod.models``: the end of day (日终) and what it leaves behind:
  runs and steps, the daily balance sheet, check results, vouchers.
- ``reports.exporting.models``: spreadsheets written by a worker, of every kind.
- ``reports.vouchers.models``: vouchers (会计凭证), their lines, exports and
  acknowledgements, and how they are grouped.
- ``reports.gl_recon.models``: GL trial balances uploaded for reconciliation.
- ``reports.opening.models``: opening-balance imports (期初建账).
- ``reports.channel.models``: channel reconciliation (渠道对账): channels,
  statements, matching runs, differences and their history.
- ``reports.periods.models``: accounting periods and their close (月结/年结).
- ``reports.certificates.models``: the day's close certificate (日结单).
- ``reports.settlement.models``: settlement (结算): merchants' T+N terms and
  moves, channel settlement batches, the entries they cover, the reserve-fund
  bank balances.
"""

from .certificates.models import CertificateStatus, CloseCertificate
from .channel.models import (
    AmountMode,
    Channel,
    Difference,
    DifferenceEvent,
    DifferenceProposal,
    DifferenceStatus,
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
)
from .exporting.models import Export, ExportStatus
from .gl_recon.models import GlImport, GlImportRow
from .opening.models import OpeningAccount, OpeningImport, OpeningPosting
from .periods.models import AccountingPeriod, PeriodClosingPosting, PeriodKind, PeriodStatus
from .settlement.models import (
    BusinessDayOverride,
    ChannelSettlement,
    ChannelSettlementSetup,
    MerchantSettlement,
    ReserveBalance,
    ReserveBankAccount,
    SettledEntry,
    SettlementTerm,
)
from .staging.models import StagedUpload
from .vouchers.models import (
    SubjectDimensions,
    Voucher,
    VoucherAckImport,
    VoucherExport,
    VoucherGrouping,
    VoucherLine,
    VoucherSequence,
)

__all__ = [
    "CertificateStatus",
    "CloseCertificate",
    "OpeningAccount",
    "OpeningImport",
    "OpeningPosting",
    "AccountingPeriod",
    "PeriodClosingPosting",
    "PeriodKind",
    "PeriodStatus",
    "BusinessDayOverride",
    "ChannelSettlement",
    "ChannelSettlementSetup",
    "MerchantSettlement",
    "ReserveBalance",
    "ReserveBankAccount",
    "SettledEntry",
    "SettlementTerm",
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
    "Export",
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
    "SubjectDimensions",
    "Voucher",
    "VoucherAckImport",
    "VoucherExport",
    "VoucherGrouping",
    "VoucherLine",
    "VoucherSequence",
]
