-- 0003_procedure_lists: what the procedure lists show without parsing each
-- document: the range of the fee cases and whether the code is illustrative.

ALTER TABLE procedures ADD COLUMN fee_min BIGINT NOT NULL DEFAULT 0;
ALTER TABLE procedures ADD COLUMN fee_max BIGINT NOT NULL DEFAULT 0;
ALTER TABLE procedures ADD COLUMN sample INTEGER NOT NULL DEFAULT 0;
CREATE INDEX procedures_online ON procedures(online);
