-- The balance sheet as users see it (BalanceSheetRow): for every built day
-- (reports_sheetday), each account of the entity whose latest stored row
-- (reports_dailybalance) on or before the day is of that day, or carries a
-- non-zero closing; a carried row opens and closes at that closing with no
-- turnover (on a sparse day only: another day's stored rows are its whole
-- sheet). One probe of the (account, date) index per account and day.
CREATE OR REPLACE VIEW reports_balancesheet AS
SELECT x.id, d.entity_id, d.accounting_date, a.id AS account_id, x.account_type_code, x.subject_code,
       x.category, x.currency,
       CASE WHEN x.accounting_date = d.accounting_date THEN x.opening ELSE x.closing END AS opening,
       CASE WHEN x.accounting_date = d.accounting_date THEN x.debit ELSE 0 END AS debit,
       CASE WHEN x.accounting_date = d.accounting_date THEN x.credit ELSE 0 END AS credit,
       x.closing,
       CASE WHEN x.accounting_date = d.accounting_date THEN x.entry_count ELSE 0 END AS entry_count
  FROM reports_sheetday d
  JOIN accounts_account a ON a.entity_id = d.entity_id
 CROSS JOIN LATERAL (
       SELECT b.* FROM reports_dailybalance b
        WHERE b.account_id = a.id AND b.accounting_date <= d.accounting_date
        ORDER BY b.accounting_date DESC LIMIT 1) x
 WHERE x.accounting_date = d.accounting_date OR (d.sparse AND x.closing <> 0);
