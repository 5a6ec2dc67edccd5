"""Status lifecycle (识别 → 在册 → 脱贫 → 返贫, 清退) with the 公示 round trip through funds."""
