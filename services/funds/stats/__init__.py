"""Funds statistics per purpose of a region subtree (the dashboard\x27s funds panel)."""
