-- 0002_onestop: the one-stop-shop core: procedures, the calendar, dossiers and
-- their steps and files, payments, the notification outbox and ratings.

CREATE TABLE procedures (
	code TEXT PRIMARY KEY,            -- national procedure code (e.g. 1.001193)
	name TEXT NOT NULL,
	name_en TEXT,
	name_fold TEXT NOT NULL,          -- folded name for accent-insensitive search
	field TEXT NOT NULL,              -- lĩnh vực
	field_en TEXT,
	levels TEXT NOT NULL,             -- ',commune,district,' : the levels that handle it
	handled_by TEXT NOT NULL,         -- commune_ubnd | district_ubnd | province_ubnd | department:<code>
	online TEXT NOT NULL,             -- full | partial | none
	processing_days INTEGER NOT NULL,
	doc TEXT NOT NULL,                -- the whole procedure as JSON (documents, fees, fields, workflow ...)
	active INTEGER NOT NULL DEFAULT 1,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX procedures_field ON procedures(field);

CREATE TABLE calendar_days (
	day INTEGER PRIMARY KEY,          -- days since 1970-01-01
	kind TEXT NOT NULL,               -- holiday | workday (a compensatory working day)
	name_vi TEXT NOT NULL,
	name_en TEXT NOT NULL,
	announced INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE dossier_seq (
	agency_code TEXT NOT NULL,
	day TEXT NOT NULL,                -- yyMMdd
	last INTEGER NOT NULL,
	PRIMARY KEY (agency_code, day)
);

CREATE TABLE dossiers (
	code TEXT PRIMARY KEY,            -- <agency code>-<yyMMdd>-<4-digit sequence>
	procedure_code TEXT NOT NULL REFERENCES procedures(code),
	agency_code TEXT NOT NULL REFERENCES agencies(code),   -- receiving agency
	current_agency TEXT NOT NULL REFERENCES agencies(code), -- where it is being processed now
	channel TEXT NOT NULL,            -- online | direct | postal
	status INTEGER NOT NULL,          -- 1..10 as the national portal numbers them
	outcome TEXT,                     -- approved | rejected (status 9, 10)
	step INTEGER NOT NULL DEFAULT 0,  -- index into the procedure's workflow
	applicant_user_id BIGINT REFERENCES users(id),
	applicant_name TEXT NOT NULL,
	applicant_name_fold TEXT NOT NULL,
	applicant_id_number TEXT,
	applicant_phone TEXT,
	applicant_email TEXT,
	applicant_address TEXT,
	form TEXT NOT NULL,               -- the form fields as JSON
	assignee_user_id BIGINT REFERENCES users(id),
	submitted_at BIGINT NOT NULL,
	received_at BIGINT,
	due_at BIGINT,                    -- appointment for the result (working time)
	step_started_at BIGINT,
	step_due_at BIGINT,
	paused_at BIGINT,                 -- waiting on the applicant since
	paused_remaining_us BIGINT,       -- office time left on the clock when paused
	resume_status INTEGER,            -- status to return to after the wait
	resolved_at BIGINT,
	returned_at BIGINT,
	fee_total BIGINT NOT NULL DEFAULT 0,
	fee_paid BIGINT NOT NULL DEFAULT 0,
	due_soon_notified INTEGER NOT NULL DEFAULT 0,
	overdue_notified INTEGER NOT NULL DEFAULT 0,
	version INTEGER NOT NULL DEFAULT 1,
	created_by BIGINT,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX dossiers_status ON dossiers(status);
CREATE INDEX dossiers_agency ON dossiers(agency_code);
CREATE INDEX dossiers_current ON dossiers(current_agency);
CREATE INDEX dossiers_applicant ON dossiers(applicant_user_id);
CREATE INDEX dossiers_due ON dossiers(due_at);

-- every agency a dossier passed through: its officials may see it
CREATE TABLE dossier_agencies (
	dossier_code TEXT NOT NULL REFERENCES dossiers(code),
	agency_code TEXT NOT NULL REFERENCES agencies(code),
	PRIMARY KEY (dossier_code, agency_code)
);
CREATE INDEX dossier_agencies_agency ON dossier_agencies(agency_code);

CREATE TABLE dossier_steps (
	id {{id}},
	dossier_code TEXT NOT NULL REFERENCES dossiers(code),
	action TEXT NOT NULL,
	title TEXT NOT NULL,              -- what happened, Vietnamese
	title_en TEXT NOT NULL,
	actor_user_id BIGINT,
	actor_name TEXT NOT NULL,
	actor_title TEXT,
	agency_code TEXT,                 -- the actor's department
	at BIGINT NOT NULL,
	note TEXT,
	status_from INTEGER,
	status_to INTEGER NOT NULL,
	step_started_at BIGINT,
	step_due_at BIGINT,
	detail TEXT                       -- JSON: reason, new date, forwarded to ...
);
CREATE INDEX dossier_steps_dossier ON dossier_steps(dossier_code);

CREATE TABLE dossier_files (
	id {{id}},
	dossier_code TEXT NOT NULL REFERENCES dossiers(code),
	kind TEXT NOT NULL,               -- document | supplement | result
	doc_name TEXT NOT NULL,           -- which required document (or result) it is
	filename TEXT NOT NULL,           -- as uploaded (display only)
	stored_name TEXT NOT NULL UNIQUE, -- server-made name under DATA/files
	content_type TEXT NOT NULL,
	size BIGINT NOT NULL,
	sha256 TEXT NOT NULL,
	uploaded_by BIGINT,
	created_at BIGINT NOT NULL
);
CREATE INDEX dossier_files_dossier ON dossier_files(dossier_code);

CREATE TABLE idempotency (
	user_id BIGINT NOT NULL,
	key TEXT NOT NULL,
	dossier_code TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (user_id, key)
);

CREATE TABLE payments (
	id {{id}},
	dossier_code TEXT NOT NULL REFERENCES dossiers(code),
	amount BIGINT NOT NULL,
	description TEXT NOT NULL,
	status TEXT NOT NULL,             -- requested | pending | paid | failed | cancelled
	gateway_ref TEXT UNIQUE,          -- the gateway's transaction id
	receipt_no TEXT UNIQUE,
	requested_at BIGINT NOT NULL,
	paid_at BIGINT,
	updated_at BIGINT NOT NULL
);
CREATE INDEX payments_dossier ON payments(dossier_code);

-- work to do outside the database, written in the same transaction as the change
CREATE TABLE outbox (
	id {{id}},
	kind TEXT NOT NULL,               -- notify | sync
	channel TEXT NOT NULL,            -- email | sms | file | dvcqg ...
	dedupe TEXT NOT NULL UNIQUE,      -- event id + channel: each event once per channel
	payload TEXT NOT NULL,            -- JSON
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at BIGINT NOT NULL,
	claimed_until BIGINT NOT NULL DEFAULT 0,
	done_at BIGINT,
	last_error TEXT,
	created_at BIGINT NOT NULL
);
CREATE INDEX outbox_pending ON outbox(done_at, next_at);

CREATE TABLE ratings (
	dossier_code TEXT PRIMARY KEY REFERENCES dossiers(code),
	agency_code TEXT NOT NULL,
	official_user_id BIGINT,
	scores TEXT NOT NULL,             -- JSON: the nine criteria of Circular 01/2018, 0..2 each
	total INTEGER NOT NULL,
	overall TEXT NOT NULL,            -- very_satisfied | satisfied | not_satisfied
	comment TEXT,
	created_at BIGINT NOT NULL
);
CREATE INDEX ratings_agency ON ratings(agency_code);
