-- 0005_exchange: LGSP, the data-exchange platform: the registry (members,
-- subsystems, services, access rights), the hash-chained message log of the
-- gateway and the asynchronous document exchange between agencies.

CREATE TABLE exchange_members (
	code TEXT PRIMARY KEY,            -- agency code for provincial agencies, else e.g. 'BCA'
	name TEXT NOT NULL,
	agency TEXT REFERENCES agencies(code), -- the provincial agency it is, NULL for outside members
	disabled INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX exchange_members_agency ON exchange_members(agency);

CREATE TABLE exchange_subsystems (
	member TEXT NOT NULL REFERENCES exchange_members(code),
	code TEXT NOT NULL,
	name TEXT NOT NULL,
	public_key TEXT NOT NULL,         -- 64 hex, Ed25519
	endpoint TEXT,                    -- push URL for asynchronous messages, NULL = pull only
	disabled INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (member, code)
);

CREATE TABLE exchange_services (
	member TEXT NOT NULL,
	subsystem TEXT NOT NULL,
	code TEXT NOT NULL,
	description TEXT NOT NULL,
	backend_url TEXT NOT NULL,
	methods TEXT NOT NULL,            -- 'GET,POST'
	openapi TEXT,                     -- OpenAPI document, NULL if none
	personal_data INTEGER NOT NULL DEFAULT 0,
	timeout_ms INTEGER NOT NULL DEFAULT 0, -- 0 = the exchange_timeout_ms setting
	disabled INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (member, subsystem, code),
	FOREIGN KEY (member, subsystem) REFERENCES exchange_subsystems(member, code)
);

CREATE TABLE exchange_access (
	service TEXT NOT NULL,            -- 'member/subsystem/service'
	client TEXT NOT NULL,             -- 'member/subsystem'
	service_member TEXT NOT NULL,
	service_subsystem TEXT NOT NULL,
	service_code TEXT NOT NULL,
	client_member TEXT NOT NULL,
	client_subsystem TEXT NOT NULL,
	granted_by TEXT NOT NULL,
	granted_at BIGINT NOT NULL,
	PRIMARY KEY (service, client),
	FOREIGN KEY (service_member, service_subsystem, service_code) REFERENCES exchange_services(member, subsystem, code),
	FOREIGN KEY (client_member, client_subsystem) REFERENCES exchange_subsystems(member, code)
);
CREATE INDEX exchange_access_client ON exchange_access(client);

-- bumped by every registry change: gateways reload their cached copy when it moves
CREATE TABLE exchange_meta (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	registry_version BIGINT NOT NULL
);
INSERT INTO exchange_meta (id, registry_version) VALUES (1, 1);

-- The message log: one record per gateway exchange (answered or refused).
-- Record n's hash covers record n-1's hash and every field below up to
-- error. Records are committed in groups; the last record of each group is
-- signed with the server key, which covers the chain up to it (msglog.c).
CREATE TABLE exchange_log (
	seq BIGINT PRIMARY KEY,           -- 1, 2, 3... without gaps
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
-- few indexes: each costs a page write per record on the gateway's hot path
-- (ids are time-ordered, so their index grows at one end)
CREATE INDEX exchange_log_at ON exchange_log(at);
CREATE INDEX exchange_log_subject ON exchange_log(subject, at) WHERE subject IS NOT NULL;

CREATE TABLE exchange_log_head (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	seq BIGINT NOT NULL,
	hash TEXT NOT NULL
);
INSERT INTO exchange_log_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- asynchronous document exchange: per pair sequence numbers
CREATE TABLE exchange_pairs (
	sender TEXT NOT NULL,
	receiver TEXT NOT NULL,
	last_seq BIGINT NOT NULL,
	PRIMARY KEY (sender, receiver)
);

CREATE TABLE exchange_messages (
	id TEXT PRIMARY KEY,              -- 32 hex
	sender TEXT NOT NULL,             -- 'member/subsystem'
	receiver TEXT NOT NULL,
	seq BIGINT NOT NULL,              -- 1, 2, ... per (sender, receiver)
	ref TEXT NOT NULL,                -- the sender's idempotency key
	type TEXT,
	content_type TEXT NOT NULL,
	body TEXT NOT NULL,               -- base64 of the document
	body_digest TEXT NOT NULL,        -- hex SHA-256 of the document
	size BIGINT NOT NULL,
	status TEXT NOT NULL,             -- queued | delivered
	attempts INTEGER NOT NULL DEFAULT 0,
	next_at BIGINT NOT NULL,
	claimed_until BIGINT NOT NULL DEFAULT 0,
	claimed_by TEXT,                  -- 'host/pid' of the delivering process
	last_error TEXT,
	created_at BIGINT NOT NULL,
	delivered_at BIGINT,
	delivered_via TEXT,               -- push | pull
	UNIQUE (sender, ref),
	UNIQUE (sender, receiver, seq)
);
CREATE INDEX exchange_messages_queue ON exchange_messages(status, receiver, sender, seq);
