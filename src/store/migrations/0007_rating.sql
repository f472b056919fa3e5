-- 0007_rating: satisfaction ratings (Circular 01/2018/TT-VPCP). One column per
-- criterion (c1..c9 in the circular's order, 0..2 each) so that the summaries
-- are plain SQL aggregates on both backends; who rated; indexes for the
-- summaries by time and by official. The JSON column scores stays the record
-- of what was sent.

ALTER TABLE ratings ADD COLUMN c1 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c3 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c4 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c5 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c6 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c7 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c8 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN c9 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ratings ADD COLUMN rated_by BIGINT;
CREATE INDEX ratings_created ON ratings(created_at);
CREATE INDEX ratings_official ON ratings(official_user_id);
