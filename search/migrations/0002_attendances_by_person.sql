-- A signed-in volunteer lists their own attendances (GET /v1/me/attendances),
-- and deleting a person removes theirs.
CREATE INDEX search_attendances_person ON search_attendances (person_id, id);
