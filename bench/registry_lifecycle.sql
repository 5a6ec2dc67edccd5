-- The imported county's lifecycle for the statistics bench (bench/registry_import.py runs it after the import).
-- statuses: 5% pending, 55% registered, 25% exited, 10% returned, 5% removed
UPDATE household SET status = CASE WHEN id % 20 = 0 THEN 'pending' WHEN id % 20 < 12 THEN 'registered'
  WHEN id % 20 < 17 THEN 'exited' WHEN id % 20 < 19 THEN 'returned' ELSE 'removed' END,
  registered_year = 2016 + (id % 4), helper_user_id = CASE WHEN id % 3 <> 0 THEN 'helper-' || (id % 500) END;
INSERT INTO status_change (household_id, village_code, persons, action, from_status, to_status, year, actor)
SELECT id, village_code, member_count, 'propose_registration', 'pending', 'registered', 2016 + (id % 4), 'bench' FROM household
WHERE status <> 'pending';
INSERT INTO status_change (household_id, village_code, persons, action, from_status, to_status, year, actor)
SELECT id, village_code, member_count, 'propose_exit', 'registered', 'exited', 2018 + (id % 3), 'bench' FROM household
WHERE status IN ('exited', 'returned');
INSERT INTO status_change (household_id, village_code, persons, action, from_status, to_status, year, actor)
SELECT id, village_code, member_count, 'mark_returned', 'exited', 'returned', 2020, 'bench' FROM household WHERE status = 'returned';
INSERT INTO status_change (household_id, village_code, persons, action, from_status, to_status, year, actor)
SELECT id, village_code, member_count, 'remove', 'registered', 'removed', 2019 + (id % 2), 'bench' FROM household WHERE status = 'removed';
INSERT INTO measure (household_id, village_code, batch, kind, year, created_by)
SELECT id, village_code, (ARRAY['production','relocation','ecology','education','social_security'])[1 + (id + k) % 5],
  '措施', 2016 + ((id + k) % 5), 'bench'
FROM household, generate_series(1, 2) AS k WHERE status <> 'pending';
