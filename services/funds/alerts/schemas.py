from datetime import datetime

from pydantic import BaseModel, Field

from services.funds.glossary import AlertKind


class AlertRead(BaseModel):
    kind: AlertKind
    kind_label: str = Field(description="资金滞留 / 项目滞拨 / 申报逾期未处理")
    entity: str = Field(description="allocation, project or monitoring_report")
    entity_id: int
    region_code: str = Field(description="the allocation's region, the project's or the report's village")
    since: datetime = Field(description="since when nothing moved: the last movement out of the allocation's "
                                        "available money (else its allocation), or the project's entry into its stage")
    days: int = Field(description="whole days since then (China Standard Time)")
    detail: str = Field(description="what is stuck, in plain Chinese")
