"""防返贫动态监测 (CONTRACT §11): thresholds, cases, self-reports, department screenings and their warnings."""
