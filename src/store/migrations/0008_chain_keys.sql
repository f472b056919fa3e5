-- The two hash chains, the audit trail and the LGSP message log, keyed by
-- their sequence number itself: {{seq}} is INTEGER PRIMARY KEY on SQLite (the
-- rowid: one B-tree fewer to write per entry, and the newest entry is the
-- table's last row) and BIGINT PRIMARY KEY on PostgreSQL. An audit entry's
-- key_id and signature are NULL when a later entry's signature covers it: the
-- newest entry of every commit is signed (audit.c), as the message log's
-- newest record of every group always was.

CREATE TABLE audit_log_v2 (
	seq {{seq}},                     -- 1, 2, 3... without gaps
	at BIGINT NOT NULL,              -- unix microseconds
	actor TEXT NOT NULL,             -- 'user:<id>:<username>' or 'system' or 'cli:<os user>'
	action TEXT NOT NULL,            -- e.g. agency.create
	object TEXT NOT NULL,            -- e.g. agency:000.00.01.H23
	change_digest TEXT NOT NULL,     -- hex SHA-256 of the change document
	change TEXT NOT NULL,            -- the change document (JSON)
	request_id TEXT,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,              -- hex SHA-256 over prev_hash, seq, at, actor, action, object, change_digest
	key_id TEXT,                     -- which server key signed it (signed entries)
	signature TEXT                   -- hex Ed25519 signature of hash: the newest entry of each commit
);
INSERT INTO audit_log_v2 (seq, at, actor, action, object, change_digest, change, request_id, prev_hash, hash,
	key_id, signature)
	SELECT seq, at, actor, action, object, change_digest, change, request_id, prev_hash, hash,
	NULLIF(key_id, ''), NULLIF(signature, '') FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_v2 RENAME TO audit_log;
CREATE INDEX audit_actor ON audit_log(actor);
CREATE INDEX audit_object ON audit_log(object);
CREATE INDEX audit_action ON audit_log(action);
CREATE INDEX audit_at ON audit_log(at);

CREATE TABLE exchange_log_v2 (
	seq {{seq}},                      -- 1, 2, 3... without gaps
	id TEXT NOT NULL UNIQUE,          -- message id (32 hex: 12 of unix ms, 20 random), X-Road-Message-Id
	at BIGINT NOT NULL,               -- unix microseconds the request arrived
	client TEXT NOT NULL,             -- 'member/subsystem' as claimed ('' when none)
	service TEXT NOT NULL,            -- 'member/subsystem/service' as asked
	method TEXT NOT NULL,
	path TEXT NOT NULL,               -- the path after the service
	query TEXT NOT NULL,              -- canonical query
	purpose TEXT,
	subject TEXT,                     -- CCCD of the data subject, when named
	request_time TEXT,                -- X-Road-Time as sent
	nonce TEXT,
	request_digest TEXT NOT NULL,     -- hex SHA-256 of the request body
	request_signature TEXT,           -- the client's signature (non-repudiation)
	status INTEGER NOT NULL,          -- the HTTP status returned to the client
	response_digest TEXT NOT NULL,    -- hex SHA-256 of the body returned
	response_signature TEXT,          -- X-Road-Response-Signature
	error TEXT,                       -- exchange.* code when the gateway refused or failed
	duration_us BIGINT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	key_id TEXT,                      -- which server key signed it (signed records)
	signature TEXT                    -- hex Ed25519 of hash: the last record of each commit group
);
INSERT INTO exchange_log_v2 SELECT seq, id, at, client, service, method, path, query, purpose, subject,
	request_time, nonce, request_digest, request_signature, status, response_digest, response_signature, error,
	duration_us, prev_hash, hash, key_id, signature FROM exchange_log;
DROP TABLE exchange_log;
ALTER TABLE exchange_log_v2 RENAME TO exchange_log;
-- few indexes: each costs a page write per record on the gateway's hot path
-- (ids are time-ordered, so their index grows at one end)
CREATE INDEX exchange_log_at ON exchange_log(at);
CREATE INDEX exchange_log_subject ON exchange_log(subject, at) WHERE subject IS NOT NULL;
