/* gateway.h: the HTTP adapter to the payment gateway (libcurl). One call:
 * create an order and learn where the payer pays it. The gateway's later
 * callback is received by payment_api.c and checked by payment.c.
 *
 * Protocol: POST {base}/gateway/orders with JSON {order_id, amount,
 * description, return_url, notify_url, expire_at (RFC 3339)} answers 2xx
 * {gateway_ref, pay_url}. base is cfg->payment_url, or else cfg->sim_url
 * (tinhso-sim's simulated gateway). */
#ifndef TINHSO_GATEWAY_H
#define TINHSO_GATEWAY_H

#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"

enum {
	GATEWAY_CONNECT_TIMEOUT_MS = 3000,
	GATEWAY_TIMEOUT_MS = 10000,
	GATEWAY_MAX_RESPONSE = 64 * 1024,
};

struct gateway_order {
	const char *order_id; /* [A-Za-z0-9._-], unique per attempt */
	int64_t amount;	      /* VND */
	const char *description;
	const char *return_url; /* where the payer's browser goes afterwards */
	const char *notify_url; /* where the gateway POSTs its signed callback */
	int64_t expire_at;	/* unix microseconds; 0 = none */
};

struct gateway_order_result {
	char *gateway_ref; /* the gateway's transaction id: [A-Za-z0-9._-]{1,64} */
	char *pay_url;	   /* http(s) URL to send the payer to */
};

/* Creates the order. Strings of *out in a. Blocks up to GATEWAY_TIMEOUT_MS.
 * ERR_UNAVAILABLE "no payment gateway configured" when neither payment_url
 * nor sim_url is set; ERR_GATEWAY_TIMEOUT when it does not answer in time;
 * ERR_BAD_GATEWAY when it cannot be reached, answers non-2xx, or answers
 * something that is not {gateway_ref, pay_url} (the message says which). */
int gateway_create_order(const struct config *cfg, const struct gateway_order *o, struct arena *a,
			 struct gateway_order_result *out, struct err *e);

/* The base URL in use (no trailing slash), or NULL when none is configured. In a. */
char *gateway_base(const struct config *cfg, struct arena *a);

/* Posts a JSON body to url (used by the simulated gateway for callbacks):
 * returns the HTTP status (> 0), or a negative error as above. The response
 * body (at most GATEWAY_MAX_RESPONSE bytes) goes to *body in a when body is not NULL. */
int gateway_post_json(const char *url, const char *json, size_t n, struct arena *a, char **body, struct err *e);

#endif
