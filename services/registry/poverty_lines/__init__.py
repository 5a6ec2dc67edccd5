"""Poverty lines (贫困线) per year: the income an exit must exceed."""
