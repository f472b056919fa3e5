-- 0006_national: the connections to the national systems: each dossier's
-- synchronisation with the National Public Service Portal (DVCQG), whose work
-- items are outbox rows of kind 'sync' (dedupe '<dossier code>:<step id>'),
-- and the e-copies fetched from national databases for a dossier's documents.

CREATE TABLE dossier_sync (
	dossier_code TEXT PRIMARY KEY REFERENCES dossiers(code),
	queued INTEGER NOT NULL DEFAULT 0,        -- steps queued for the portal
	pushed INTEGER NOT NULL DEFAULT 0,        -- steps the portal accepted
	failed INTEGER NOT NULL DEFAULT 0,        -- steps given up (refused, or too many attempts)
	queued_step_id BIGINT NOT NULL DEFAULT 0, -- the last step queued
	pushed_step_id BIGINT NOT NULL DEFAULT 0, -- the last step the portal accepted
	status TEXT NOT NULL,                     -- pending | ok | failed
	attempts INTEGER NOT NULL DEFAULT 0,      -- pushes tried, retries included
	last_error TEXT,                          -- of the last failed attempt, until a success
	last_attempt_at BIGINT,
	synced_at BIGINT,                         -- the last accepted push
	updated_at BIGINT NOT NULL
);
CREATE INDEX dossier_sync_status ON dossier_sync(status);

CREATE TABLE dossier_ecopies (
	id {{id}},
	dossier_code TEXT NOT NULL REFERENCES dossiers(code),
	doc_index INTEGER NOT NULL,               -- which document of the procedure it replaces
	doc_name TEXT NOT NULL,
	source TEXT NOT NULL,                     -- population | business | land | insurance | judicial
	record_key TEXT NOT NULL,                 -- what was looked up: CCCD, tax code, parcel ...
	outcome TEXT NOT NULL,                    -- found | not_found | error
	summary TEXT,                             -- one line, Vietnamese
	message_id TEXT,                          -- the LGSP message id when fetched through it
	fetched_by BIGINT,
	fetched_at BIGINT NOT NULL
);
CREATE INDEX dossier_ecopies_dossier ON dossier_ecopies(dossier_code);
