/* national.h: the adapters to the national systems, behind one interface: the
 * population database (a citizen by CCCD), the business registry (an
 * enterprise by tax code), the land database (a parcel), social insurance, the
 * judicial records, and the National Public Service Portal (DVCQG), whose
 * dossier synchronisation src/sync/ drives.
 *
 * Transport: HTTP with libcurl, JSON both ways, bounded by
 * cfg->national_timeout_ms (a slow system is ERR_GATEWAY_TIMEOUT, never a hung
 * request) and NATIONAL_MAX_RESPONSE bytes. Where a system lives:
 *   cfg-><system>_url when set (population_url, business_url, land_url,
 *   insurance_url, judicial_url, dvcqg_url), else cfg->sim_url + "/<system>"
 *   (tinhso-sim's simulation of it), else nowhere (ERR_UNAVAILABLE).
 * Paths below that base (the same for the real system, the simulation and the
 * LGSP service that fronts it):
 *   population  GET citizens/{id_number}
 *   business    GET enterprises/{tax_code}
 *   land        GET parcels/{commune}/{sheet}/{parcel}
 *   insurance   GET books/{insurance number or id_number}
 *   judicial    GET records/{id_number}
 *   dvcqg       POST api/dongbo  (see src/sync/sync.h for the payloads)
 * With cfg->national_via = "gateway" (the default), every call goes through
 * the LGSP (exchange_call: the calling subsystem cfg->national_client, the
 * national member's service listed in national_services[]), so that the
 * message log and the personal-data tracker record it; national_register()
 * puts those members, subsystems, services and access rights in the registry.
 * With "direct", libcurl calls the base URL itself.
 *
 * Errors (e->msg names the system and what happened):
 *   ERR_INVALID          a malformed key (field named), checked before any call
 *   ERR_NOT_FOUND        the system has no such record (its 404)
 *   ERR_UNAVAILABLE      the system is not configured
 *   ERR_BAD_GATEWAY      cannot connect, the connection dropped, an answer that
 *                        is not 2xx/404 (a 503 of the system included), not
 *                        JSON, or too large; or the LGSP refused the call
 *   ERR_GATEWAY_TIMEOUT  no answer within cfg->national_timeout_ms
 * Every call blocks: make it outside any store transaction. */
#ifndef TINHSO_NATIONAL_H
#define TINHSO_NATIONAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/app.h"
#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"

enum { NATIONAL_MAX_RESPONSE = 1024 * 1024 };

enum national_system {
	NATIONAL_POPULATION,
	NATIONAL_BUSINESS,
	NATIONAL_LAND,
	NATIONAL_INSURANCE,
	NATIONAL_JUDICIAL,
	NATIONAL_DVCQG,
	NATIONAL_COUNT
};

const char *national_system_name(enum national_system s);  /* "population", ... */
const char *national_system_title(enum national_system s); /* "Cơ sở dữ liệu quốc gia về dân cư", ... */
/* The system of a procedure document's ecopy_source ("population", ...); -1 when none. */
int national_system_parse(const char *name);

/* How each system is registered on the LGSP when reached through it. */
struct national_service {
	const char *member, *member_name;       /* "BCA", "Bộ Công an" */
	const char *subsystem, *subsystem_name; /* "CSDLQGDC", "Cơ sở dữ liệu quốc gia về dân cư" */
	const char *service, *description;      /* "population", what it answers */
	const char *methods;			/* "GET" */
	bool personal_data;
};
extern const struct national_service national_services[NATIONAL_COUNT];

/* The base URL of a system without a trailing '/', in a; NULL when none is
 * configured. */
char *national_base(const struct config *cfg, enum national_system s, struct arena *a);

/* ---- one call ---- */

struct national_request {
	const char *method;   /* "GET" (NULL) or "POST" */
	const char *path;     /* below the base, without the leading '/': "citizens/030095001234" */
	const char *body;     /* JSON for POST, else NULL */
	size_t body_len;
	const char *purpose;  /* why (personal data through the LGSP needs one); NULL = "" */
	const char *subject;  /* the CCCD of the person concerned, or NULL */
	const int *cancel;    /* optional: the call is aborted soon after *cancel becomes non-zero */
};

struct national_response {
	int status;	      /* HTTP status of the system's answer */
	char *body;	      /* NUL-terminated, in c->a */
	size_t body_len;
	char *message_id;     /* the LGSP message-log id when it went through the gateway, else NULL */
	int64_t duration_us;
};

/* Sends one request and returns the system's answer, whatever its status (0),
 * or a transport error: ERR_UNAVAILABLE (not configured), ERR_BAD_GATEWAY,
 * ERR_GATEWAY_TIMEOUT, ERR_INTERNAL ("cancelled" when *cancel was set). */
int national_call(const struct ctx *c, enum national_system s, const struct national_request *rq,
		  struct national_response *out, struct err *e);

/* ---- lookups (strings in c->a; json is the record exactly as the system gave it) ---- */

struct national_address {
	char *detail, *commune_code, *commune, *district, *province, *full;
};

struct national_citizen {
	char *id_number, *full_name, *birth_date /* YYYY-MM-DD */, *gender, *ethnicity, *religion, *nationality;
	char *hometown, *father_name, *mother_name, *spouse_name, *marital_status;
	struct national_address permanent, current;
	char *json;
	char *message_id; /* LGSP message id, or NULL */
};
/* A citizen by the 12-digit CCCD from the population database. */
int national_citizen_by_id(const struct ctx *c, const char *id_number, const char *purpose,
			   struct national_citizen *out, struct err *e);

struct national_enterprise {
	char *tax_code, *name, *type, *status, *registered_on;
	char *representative, *representative_id;
	struct national_address head_office;
	char *json;
	char *message_id;
};
/* An enterprise by tax code (10 digits, or 10-3 for a branch) from the business registry. */
int national_enterprise_by_tax_code(const struct ctx *c, const char *tax_code, const char *purpose,
				    struct national_enterprise *out, struct err *e);

/* The other systems: the record as JSON and a one-line Vietnamese summary. */
struct national_record {
	char *key;     /* what was looked up: "000.08.31.H23/12/345", "030095001234" */
	char *summary; /* "Thửa đất số 345, tờ bản đồ số 12: 85.5 m²; Nguyễn Văn An", ... */
	char *json;
	char *message_id;
};
/* A land parcel by commune agency code, map sheet (1..999) and parcel number (1..99999). */
int national_land_parcel(const struct ctx *c, const char *commune, int sheet, int parcel, const char *purpose,
			 struct national_record *out, struct err *e);
/* A social insurance book by its 10-digit number or the holder's 12-digit CCCD. */
int national_insurance(const struct ctx *c, const char *number, const char *purpose, struct national_record *out,
		       struct err *e);
/* The judicial record status of a citizen by CCCD. */
int national_judicial(const struct ctx *c, const char *id_number, const char *purpose, struct national_record *out,
		      struct err *e);

/* Puts on the LGSP registry what national_via = gateway needs: the client
 * subsystem cfg->national_client (its member an agency code), and for each
 * configured system its member, subsystem and service (backend = the base
 * URL above, timeout cfg->national_timeout_ms) with the client's access
 * right. What exists already is left as the administrators keep it (never
 * overwritten); subsystems created here carry the server's public key until
 * their owners register their own. Audited by the registry as
 * "system:national". Returns the number of entries created. */
int national_register(struct app *app, struct err *e);

/* Input checks shared with the API: 10 digits or 10-3. */
bool national_tax_code_valid(const char *s);

#endif
