-- 0004_web: the portal's server-side drafts of online applications, so that a
-- step-by-step form (one group of questions per page, then the files, then
-- "check your answers") works with plain HTML forms and loses nothing between
-- pages. A draft belongs to the citizen who started it; its files wait under
-- DATA/drafts/<id>/ until the dossier is submitted (then they move into the
-- file store) or the draft expires.

CREATE TABLE web_drafts (
	id TEXT PRIMARY KEY,             -- random, in the page URLs
	user_id BIGINT NOT NULL REFERENCES users(id),
	procedure_code TEXT NOT NULL,
	agency_code TEXT,                -- the receiving agency, once chosen
	answers TEXT NOT NULL,           -- JSON: what was typed, by input name, as typed
	files TEXT NOT NULL,             -- JSON: [{doc, filename, stored, size, sha256}]
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX web_drafts_user ON web_drafts(user_id, updated_at);
CREATE INDEX web_drafts_updated ON web_drafts(updated_at);
