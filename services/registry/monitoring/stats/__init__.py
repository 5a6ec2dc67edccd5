"""防返贫监测 statistics per region subtree (CONTRACT §11)."""
