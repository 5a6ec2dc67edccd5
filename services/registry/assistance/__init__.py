"""帮扶: incomes, 两不愁三保障 assurances, helper assignment, 五个一批 measures and visits."""
