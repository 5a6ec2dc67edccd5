"""Funds domain codes with their Chinese labels."""

from enum import StrEnum


class FundLevel(StrEnum):
    central = "central"
    provincial = "provincial"
    municipal = "municipal"
    county = "county"
    social = "social"
    partner = "partner"


FUND_LEVEL_LABELS = {"central": "中央", "provincial": "省级", "municipal": "市级", "county": "县级",
                     "social": "社会帮扶", "partner": "东西部协作"}
