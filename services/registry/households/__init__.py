"""Households and members (建档立卡户): the registry's core, with PII encrypted at rest and scoped reads."""
