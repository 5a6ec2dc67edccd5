"""监测对象 cases: from a report through 核实, 公示 and 审批 to 风险消除 (CONTRACT §11)."""
