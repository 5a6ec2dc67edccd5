"""Bulk work on households: import (.xlsx / .csv, §9 columns) as a background job, export (户有卡、村有册)."""
