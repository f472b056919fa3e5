/* payment.h: fees and payment (nghĩa vụ tài chính) through a payment gateway.
 *
 * An official's request_payment action creates a payment request in the same
 * transaction (payment_request_tx). The applicant starts paying
 * (payment_start: the adapter creates an order at the gateway over HTTP and
 * returns the URL to pay at); the gateway calls back
 * (POST /api/v1/payments/callback) with a signature (HMAC-SHA512 over the
 * canonical fields with the shared secret) that is verified, the amount and
 * dossier checked, and applied once: a replayed callback changes nothing.
 * A successful payment resumes the dossier (dossier_payment_received_tx) and
 * issues an e-receipt (PDF). The demo and tests use the gateway simulated by
 * tinhso-sim.
 *
 * A payment row is one request of the dossier; its statuses:
 *   requested --start--> pending --callback success--> paid
 *                           |  \--callback failed--> failed --start--> pending ...
 *                           \-- after PAYMENT_ORDER_TTL_S without a callback,
 *                               start may make a new order (the old one expired)
 * Each start makes a new gateway order (order_id "<payment id>-<nonce>") and
 * replaces gateway_ref; a callback for a replaced order is an unknown ref. A
 * success reported after a failure of the same order is accepted (the money
 * was taken); a failure after a success is refused (ERR_CONFLICT). */
#ifndef TINHSO_PAYMENT_H
#define TINHSO_PAYMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/buf.h"
#include "base/json.h"
#include "store/store.h"

/* The audit actor of everything the gateway's callbacks cause. */
#define PAYMENT_ACTOR "system:payment-gateway"
/* The secret the simulated gateway (tinhso-sim) signs with unless told otherwise. */
#define PAYMENT_SIM_DEFAULT_SECRET "demo-payment-secret"

/* 10^12 VND: any amount above is a mistake */
#define PAYMENT_MAX_AMOUNT INT64_C(1000000000000)

enum {
	PAYMENT_ORDER_TTL_S = 15 * 60, /* a gateway order expires after this (sent as expire_at) */
	PAYMENT_REF_MAX = 64,	       /* gateway_ref, order_id: [A-Za-z0-9._-], at most this many bytes */
};

struct payment {
	int64_t id;
	char *dossier_code, *description, *status, *gateway_ref, *receipt_no;
	int64_t amount, requested_at, paid_at, updated_at;
};

/* Inside the dossier's write transaction: records a payment request (status
 * 'requested') of amount VND (1..PAYMENT_MAX_AMOUNT; ERR_INVALID naming
 * "amount" otherwise) with a description ("Lệ phí ..."; NULL or "" gives
 * "Phí, lệ phí hồ sơ <code>"). Not audited here: the dossier action's entry
 * covers it. *id (may be NULL) receives the new row's id. */
int payment_request_tx(struct store_tx *tx, const struct ctx *c, const char *dossier_code, int64_t amount,
		       const char *description, int64_t *id, struct err *e);

/* The applicant starts paying the dossier's open request: status requested or
 * failed, or pending for longer than PAYMENT_ORDER_TTL_S. Creates an order at
 * the gateway (outside any transaction), then records gateway_ref and status
 * pending (audited "payment.start"). portal_url is where the gateway reaches
 * this server (callback) and sends the payer back to; NULL means
 * payment_portal_url(cfg, NULL). *pay_url (in c->a) is where to send the payer.
 * ERR_NOT_FOUND when the caller may not see the dossier; ERR_FORBIDDEN when
 * the caller is not its applicant; ERR_INVALID_TRANSITION when the dossier
 * does not wait on a payment or nothing is open to pay; ERR_CONFLICT when
 * another start won meanwhile; the gateway adapter's errors (ERR_UNAVAILABLE,
 * ERR_BAD_GATEWAY, ERR_GATEWAY_TIMEOUT) otherwise. */
int payment_start(const struct ctx *c, const char *dossier_code, const char *portal_url, struct payment *out,
		  char **pay_url, struct err *e);

/* Every payment of a dossier, oldest first, for its applicant and the
 * officials who may see it (ERR_NOT_FOUND for anyone else). Strings in c->a. */
int payment_list(const struct ctx *c, const char *dossier_code, struct payment **out, int *n, struct err *e);

/* One payment of a dossier; ERR_NOT_FOUND as payment_list, or when id is not one of its payments. */
int payment_get(const struct ctx *c, const char *dossier_code, int64_t id, struct payment *out, struct err *e);

/* The e-receipt (biên lai điện tử) of a paid payment as a PDF appended to out.
 * ERR_NOT_FOUND as payment_get; ERR_CONFLICT when the payment is not paid.
 * lang: "vi" (default) or "en" labels. */
int payment_receipt_pdf(const struct ctx *c, const char *dossier_code, int64_t id, const char *lang, struct buf *out,
			struct err *e);

/* ---- the gateway's callback ---- */

/* The fields of a callback as received; any may be NULL (missing). */
struct payment_cb {
	const char *gateway_ref, *order_id, *status, *paid_at, *signature;
	int64_t amount;
	bool has_amount;
};

/* The signed string: "amount=<n>&gateway_ref=<r>&order_id=<o>&paid_at=<t>&status=<s>"
 * (keys sorted, values as sent, missing values empty). Unambiguous for valid
 * callbacks, since no valid value contains '&' or '='. */
void payment_canonical(const struct payment_cb *cb, struct buf *out);
/* Lowercase hex HMAC-SHA512(secret, canonical string): 128 characters + NUL. */
void payment_sign_hex(const char *secret, const struct payment_cb *cb, char out[129]);
/* True when cb->signature is the right one (hex, either case), compared in constant time. */
bool payment_signature_ok(const char *secret, const struct payment_cb *cb);

/* The secret callbacks must be signed with: cfg->payment_secret; when empty
 * and the gateway is tinhso-sim (no payment_url, a sim_url), the sim's
 * default; otherwise NULL (no callback can be accepted). */
const char *payment_secret(const struct config *cfg);
/* Where the gateway reaches this server: cfg->public_url; else http://LISTEN
 * when its port is fixed (0.0.0.0 and [::] as loopback); else http://host
 * (the Host the request came with, when it is a plain host[:port]); else
 * http://LISTEN. No trailing slash. In a (arena). */
char *payment_portal_url(const struct config *cfg, const char *host, struct arena *a);

/* Applies a callback. c->actor should be PAYMENT_ACTOR; c->who is NULL.
 * Returns 0 when applied (out: the payment now), 1 when it was already
 * applied (a replay: nothing changed; out: the payment), or:
 *   ERR_UNAUTHENTICATED: signature missing or wrong, or no secret configured
 *     (audited "payment.callback_rejected" with the reason, in its own
 *     transaction; nothing else changes);
 *   ERR_INVALID: a field missing or malformed (named); or an amount or
 *     order_id that does not match the payment (named; audited as rejected);
 *   ERR_NOT_FOUND: no payment has this gateway_ref;
 *   ERR_CONFLICT: a failure reported for a paid payment, or a callback for a
 *     payment that is not waiting on the gateway.
 * Success, in one transaction: the payment paid (paid_at from the gateway,
 * receipt_no "BL-<yyyy>-<6 digits>", unique, numbered per year without gaps),
 * dossier_payment_received_tx, the NE_PAYMENT_RECEIVED notification and the
 * audit entry "payment.paid". Failure: the payment failed, audited
 * "payment.failed"; the applicant may start again. */
int payment_callback(const struct ctx *c, const struct payment_cb *cb, struct payment *out, struct err *e);

/* {"id", "dossier_code", "amount", "amount_text" ("50.000"), "description",
 *  "status", "gateway_ref", "receipt_no", "requested_at", "paid_at",
 *  "updated_at", "receipt_url" (paid only)} */
void payment_json(struct jw *w, const struct payment *p);

/* True when s is 1..PAYMENT_REF_MAX bytes of [A-Za-z0-9._-] (gateway_ref, order_id). */
bool payment_ref_valid(const char *s);

#endif
