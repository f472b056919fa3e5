/* identity.h: users, roles, sessions and authentication.
 *
 * Roles: citizen, official (scoped to an agency and its sub-units), leader
 * (an official who approves and signs), admin. Passwords are Argon2id hashes
 * (8 to 128 characters, common passwords refused). Sessions are opaque random
 * tokens held server-side (only their SHA-256 is stored) with idle and absolute
 * timeouts, ended by logout and by a password change. TOTP (RFC 6238) is
 * required for admins (configurable) and optional for others. Failed logins are
 * slowed per account and refused per IP for a while (never a long lock-out). */
#ifndef TINHSO_IDENTITY_H
#define TINHSO_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/err.h"
#include "base/json.h"

enum role { ROLE_CITIZEN, ROLE_OFFICIAL, ROLE_LEADER, ROLE_ADMIN };

const char *role_name(enum role r);		/* "citizen", ... */
int role_parse(const char *s, enum role *out);	/* -1 when unknown */

struct principal {
	int64_t user_id;	  /* 0 for the CLI's trusted operator */
	const char *username;
	enum role role;
	const char *agency_code;  /* NULL for citizens and unscoped admins */
	const char *agency_path;  /* the agency's path ('/root/.../code/'): prefix = in scope */
	const char *full_name;
	const char *title;
	const char *id_number;	  /* citizens: CCCD */
	const char *session_hash; /* NULL when not from a session */
	const char *csrf;	  /* the session's CSRF token */
	bool via_cookie;	  /* authenticated by cookie: unsafe methods need the CSRF token */
};

/* The trusted operator of the command line: an admin with user_id 0. */
extern const struct principal principal_cli;

/* True when an agency with the given path is within p's scope: admins see
 * everything; officials and leaders their agency's subtree; citizens nothing. */
bool identity_in_scope(const struct principal *p, const char *agency_path);

struct user {
	int64_t id;
	char *username, *full_name, *title, *agency_code, *id_number, *phone, *email;
	enum role role;
	bool disabled, totp_enabled;
	int64_t created_at, updated_at;
};

struct user_new {
	const char *username;
	enum role role;
	const char *agency_code; /* required for official and leader */
	const char *full_name;
	const char *title;
	const char *id_number;	 /* 12-digit CCCD; required for citizens */
	const char *phone;
	const char *email;
	const char *password;
};

/* Validation shared by the API and the CLI: ERR_INVALID with every bad field.
 * A password is 8 to 128 bytes of valid UTF-8 and not one of the embedded
 * common passwords (compared ignoring ASCII case). The _for variant also
 * refuses the account's own user name and CCCD (either may be NULL). Both add
 * their problems to e under the name field and return err_fields_done(e). */
int identity_validate_password(const char *password, const char *field, struct err *e);
int identity_validate_password_for(const char *password, const char *username, const char *id_number,
				   const char *field, struct err *e);
bool identity_cccd_valid(const char *s);  /* 12 digits, province code 001..096 */
/* Vietnamese mobile: 0 + 9 digits, or +84 + 9 digits, the first of the nine
 * being a mobile prefix (3, 5, 7, 8, 9). Stored normalised as 0 + 9 digits. */
bool identity_phone_valid(const char *s);
bool identity_email_valid(const char *s); /* ASCII local@domain.tld, at most 254 bytes */
/* 3 to 64 of [a-z0-9._-], starting with a letter (citizens: their 12-digit CCCD instead). */
bool identity_username_valid(const char *s);

/* Creates a user of any role: admins (c->who) only; audited. */
int identity_user_create(const struct ctx *c, const struct user_new *u, int64_t *id, struct err *e);
/* Citizen self-registration (anonymous callers); username = the CCCD; audited. */
int identity_citizen_register(const struct ctx *c, const struct user_new *u, int64_t *id, struct err *e);
/* The same two, reading the new user back into *out (strings in c->a): what
 * the API answers with (an anonymous registrant may not identity_user_get). */
int identity_user_create_read(const struct ctx *c, const struct user_new *u, struct user *out, struct err *e);
int identity_citizen_register_read(const struct ctx *c, const struct user_new *u, struct user *out, struct err *e);
int identity_user_get(const struct ctx *c, const char *username, struct user *out, struct err *e);
/* Admins: every user; others ERR_FORBIDDEN. Filter by role/agency (NULL = any). */
int identity_user_list(const struct ctx *c, const char *role, const char *agency, int page, int per_page,
		       struct user **out, int *n, int64_t *total, struct err *e);
/* Sets a password: admins for anyone (old_password NULL), users for themselves
 * (old_password checked). Ends every session of that user. Audited. */
int identity_password_set(const struct ctx *c, const char *username, const char *old_password,
			  const char *new_password, struct err *e);
/* Disables (true) or enables a user; disabling ends their sessions. Admins only. Audited. */
int identity_user_disable(const struct ctx *c, const char *username, bool disabled, struct err *e);

struct login_result {
	char token[64];	 /* the session token: give it to the client once, never log it */
	char csrf[48];
	int64_t expires_at;
	struct user user;
};

/* Checks credentials (and TOTP when enrolled or required), throttled per
 * account and per client IP (ERR_RATE_LIMITED with e->retry_after). A wrong
 * user name and a wrong password give the same ERR_UNAUTHENTICATED. Audited
 * (success and failure). */
int identity_login(const struct ctx *c, const char *username, const char *password, const char *totp,
		   struct login_result *out, struct err *e);
/* Ends the caller's session. Audited. */
int identity_logout(const struct ctx *c, struct err *e);
/* Resolves a session token into a principal allocated in a. ERR_UNAUTHENTICATED
 * when unknown, expired (idle or absolute) or the user is disabled. */
int identity_authenticate(struct app *app, const char *token, struct arena *a, struct principal **out,
			  struct err *e);
/* TOTP enrolment for the caller: begin returns a new secret (not yet active);
 * confirm activates it when code matches. Audited. */
int identity_totp_begin(const struct ctx *c, char secret_out[33], struct err *e);
int identity_totp_confirm(const struct ctx *c, const char *code, struct err *e);
/* For the CLI (admins): sets a user's TOTP secret directly (enrolled, the
 * replay guard reset); NULL or "" removes the enrolment. Audited. */
int identity_totp_set(const struct ctx *c, const char *username, const char *secret, struct err *e);

/* Deletes every session past its idle or absolute timeout (housekeeping; not
 * audited: ending a dead session changes nothing anyone could use). */
int identity_sessions_purge(struct app *app, int64_t *deleted, struct err *e);

/* Writes a user as JSON (never the hash or the TOTP secret). */
void identity_user_json(struct jw *w, const struct user *u);

/* Allocates the throttle and session cache in app (no-op when already
 * there); frees them. The throttle and the cache are per process: several
 * nodes each slow down what they see, and a session ended on one node is
 * refused by the others within IDENTITY_CACHE_TTL_S seconds. */
void identity_app_init(struct app *app);
void identity_app_release(struct app *app);

enum {
	IDENTITY_CACHE_TTL_S = 10,     /* a cached session is re-checked against the database after this */
	IDENTITY_LAST_SEEN_EVERY_S = 60, /* sessions.last_seen is written at most this often */
	IDENTITY_MAX_DELAY_S = 60,     /* the longest per-account slow-down */
};

/* For tests: the clock identity uses for throttling, sessions and TOTP
 * (unix microseconds); NULL restores time_now_us. Call after identity_app_init. */
void identity_set_clock(struct app *app, int64_t (*now_us)(void));

#endif
