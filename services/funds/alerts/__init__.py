"""滞留滞拨 alerts: money that does not move and projects that do not advance (CONTRACT §5)."""
