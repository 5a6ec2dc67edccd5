"""台账: the ledger of a region's allocations for a year, as an .xlsx workbook (CONTRACT §5)."""
