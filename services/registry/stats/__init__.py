"""Statistics per region subtree, computed in SQL."""
