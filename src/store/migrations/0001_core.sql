-- 0001_core: agencies, users, sessions and the audit chain: what the foundation needs.

CREATE TABLE agencies (
	code TEXT PRIMARY KEY,           -- national agency code (Decision 20/2020), e.g. 000.00.00.H23
	name TEXT NOT NULL,
	name_en TEXT,
	name_fold TEXT NOT NULL,         -- name without diacritics, lowercase: for search
	level TEXT NOT NULL,             -- one of the configured administrative levels
	kind TEXT NOT NULL,              -- people_committee | department | service_center | office
	parent TEXT REFERENCES agencies(code),
	path TEXT NOT NULL,              -- '/code/child/.../' from the root: subtree = prefix match
	sample INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX agencies_parent ON agencies(parent);
CREATE INDEX agencies_level ON agencies(level);
CREATE INDEX agencies_path ON agencies(path);

CREATE TABLE users (
	id {{id}},
	username TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL,              -- citizen | official | leader | admin
	agency_code TEXT REFERENCES agencies(code),
	full_name TEXT NOT NULL,
	title TEXT,                      -- job title shown in dossier history
	id_number TEXT UNIQUE,           -- CCCD, 12 digits (citizens)
	phone TEXT,
	email TEXT,
	password_hash TEXT NOT NULL,
	totp_secret TEXT,                -- base32, NULL when not enrolled
	totp_enabled INTEGER NOT NULL DEFAULT 0,
	totp_last_step BIGINT NOT NULL DEFAULT 0, -- last accepted TOTP time step: no code is used twice
	disabled INTEGER NOT NULL DEFAULT 0,
	password_changed_at BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX users_agency ON users(agency_code);

CREATE TABLE sessions (
	id_hash TEXT PRIMARY KEY,        -- hex SHA-256 of the token: a database leak gives no usable token
	user_id BIGINT NOT NULL REFERENCES users(id),
	csrf TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,      -- absolute timeout
	ip TEXT,
	user_agent TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE audit_log (
	seq BIGINT PRIMARY KEY,          -- 1, 2, 3... without gaps
	at BIGINT NOT NULL,              -- unix microseconds
	actor TEXT NOT NULL,             -- 'user:<id>:<username>' or 'system' or 'cli:<os user>'
	action TEXT NOT NULL,            -- e.g. agency.create
	object TEXT NOT NULL,            -- e.g. agency:000.00.01.H23
	change_digest TEXT NOT NULL,     -- hex SHA-256 of the change document
	change TEXT NOT NULL,            -- the change document (JSON)
	request_id TEXT,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,              -- hex SHA-256 over prev_hash, seq, at, actor, action, object, change_digest
	key_id TEXT NOT NULL,            -- which server key signed it
	signature TEXT NOT NULL          -- hex Ed25519 signature of hash
);
CREATE INDEX audit_actor ON audit_log(actor);
CREATE INDEX audit_object ON audit_log(object);
CREATE INDEX audit_action ON audit_log(action);
CREATE INDEX audit_at ON audit_log(at);

-- The chain head: one row, locked (FOR UPDATE on PostgreSQL) by each append so
-- that concurrent transactions extend the chain one after the other.
CREATE TABLE audit_head (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	seq BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
