"""一码申报: villagers\x27 self-reports for 防返贫监测, read and dismissed by the township\x27s officers."""
