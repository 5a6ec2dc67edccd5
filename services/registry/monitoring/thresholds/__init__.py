"""监测标准: the per-capita net income a year below which a household is watched; the most specific region wins."""
