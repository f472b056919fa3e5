-- The agencies' level index is dropped: the list query's optional filter
-- ((level IS NULL OR level = $1)) never used it, a province has a few hundred
-- agencies, and every agency insert paid for one more B-tree.
DROP INDEX IF EXISTS agencies_level;
