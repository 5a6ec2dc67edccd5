from datetime import datetime

from pydantic import BaseModel, Field

from services.funds.glossary import AlertKind


class AlertRead(BaseModel):
    kind: AlertKind
    kind_label: str = Field(description="资金滞留 / 项目滞拨")
    entity: str = Field(description="allocation or project")
    entity_id: int
    region_code: str = Field(description="the allocation's region or the project's village")
    since: datetime = Field(description="since when nothing moved: the last movement out of the allocation's "
                                        "available money (else its allocation), or the project's entry into its stage")
    days: int = Field(description="whole days since then (China Standard Time)")
    detail: str = Field(description="what is stuck, in plain Chinese")
