/* config.h: every setting of tinhso, declared once in a table (config.c) that
 * drives the INI file (libinih), the TINHSO_* environment variables, the
 * command-line flags and --help. Precedence: default < INI < environment < flag. */
#ifndef TINHSO_CONFIG_H
#define TINHSO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

struct config {
	char *config_file;
	char *db;
	char *data;
	char *listen;
	char *public_url;
	char *web_dir;
	char *log_level;
	char *levels;	/* comma-separated administrative levels, top first */
	char *tls_cert;
	char *tls_key;
	char *sim_url;	      /* tinhso-sim base URL (demo, tests): default for the adapters below */
	char *payment_url;    /* payment gateway base URL ("" = sim_url) */
	char *payment_secret; /* shared secret the gateway signs callbacks with */
	char *smtp_url;	      /* smtp://host:port ("" = no e-mail) */
	char *smtp_from;
	char *sms_url;	      /* HTTP SMS gateway ("" = sim_url; none when both empty) */
	char *notify_file;    /* JSON-lines sink under data ("" = off) */
	char *population_url; /* national systems' base URLs ("" = sim_url + "/<system>"): see national.h */
	char *business_url;
	char *land_url;
	char *insurance_url;
	char *judicial_url;
	char *dvcqg_url;      /* the National Public Service Portal's sync API */
	char *national_via;   /* direct | gateway (through the LGSP, as national_client) */
	char *national_client; /* "member/subsystem" the national calls are made as through the LGSP */
	int64_t threads;     /* HTTP event threads; 0 = number of cores */
	int64_t workers;     /* threads that run blocking (writing) handlers */
	int64_t max_body;    /* bytes of a JSON body */
	int64_t max_upload;  /* bytes of a multipart body */
	int64_t max_connections;
	int64_t max_per_ip;
	int64_t conn_timeout; /* seconds of inactivity */
	int64_t db_pool;
	int64_t batch_max;
	int64_t session_idle;	  /* seconds */
	int64_t session_absolute; /* seconds */
	int64_t argon2_ops;
	int64_t argon2_mem_kib;
	int64_t login_window;	   /* seconds over which failures count */
	int64_t login_free_failures; /* failures per account before slowing down */
	int64_t login_ip_failures;   /* failures per IP in a window before refusing */
	int64_t notify_workers;	     /* outbox delivery threads */
	int64_t outbox_max_attempts; /* deliveries tried before an outbox row is given up */
	int64_t due_soon_minutes;    /* office minutes before the deadline that count as due soon */
	int64_t lookup_per_minute;   /* public lookups per client IP per minute */
	int64_t national_timeout_ms; /* a national system's whole answer */
	int64_t exchange_timeout_ms;	     /* LGSP gateway: a backend's whole answer */
	int64_t exchange_connect_timeout_ms; /* LGSP gateway: connecting to a backend */
	int64_t exchange_max_response;	     /* LGSP gateway: bytes of a backend answer */
	int64_t exchange_workers;	     /* LGSP asynchronous delivery threads */
	int64_t exchange_nonce_cache;	     /* LGSP replay cache: nonces remembered at most */
	bool trust_proxy;
	bool demo;
	bool totp_required_admin;
};

enum config_type { CT_STR, CT_INT, CT_BOOL };

struct config_opt {
	const char *name; /* INI key and --flag (with '-' for '_'); env TINHSO_<NAME> */
	enum config_type type;
	size_t offset;
	const char *def;
	int64_t min, max; /* CT_INT bounds */
	const char *help;
};

extern const struct config_opt config_opts[];
extern const size_t config_nopts;

/* Sets every field to its default. */
void config_defaults(struct config *c);
/* Reads an INI file; an unknown key or a bad value is ERR_CONFIG naming it. */
int config_load_file(struct config *c, const char *path, struct err *e);
/* Applies TINHSO_* variables from the environment. */
int config_load_env(struct config *c, struct err *e);
/* Sets one option by name (flag form allowed: dashes); ERR_USAGE if unknown, ERR_CONFIG if bad. */
int config_set(struct config *c, const char *name, const char *value, struct err *e);
/* Finds an option by flag or key name; NULL if none. */
const struct config_opt *config_find(const char *name);
/* Deeper checks (listen address, levels, TLS files); ERR_CONFIG naming the setting. */
int config_check(const struct config *c, struct err *e);
/* Writes the options table for --help. */
void config_usage(FILE *out);
void config_free(struct config *c);

/* Parses "HOST:PORT" (IPv4 or [IPv6]); false if malformed. host must hold 64 bytes. */
bool config_parse_listen(const char *s, char *host, int *port);
/* Number of configured levels and the i-th (0 = top); copies into out. */
int config_levels(const struct config *c, char out[][32], int max);

#endif
