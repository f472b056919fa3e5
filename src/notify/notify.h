/* notify.h: telling applicants and officials what happened, reliably.
 *
 * A domain change that deserves a message calls notify_dossier_event inside
 * its write transaction: the event becomes one outbox row per channel (e-mail
 * when an address is known, SMS when a phone is known, and the file sink), in
 * the same transaction as the change, so a committed change always has its
 * messages queued and a rolled-back one never does. Worker threads deliver the
 * rows (SMTP through libcurl, an HTTP SMS gateway, a JSON-lines file), retry
 * with exponential backoff, and mark them done; the dedupe key (event id +
 * channel) makes each event go out once per channel across crashes and
 * restarts (receivers get the event id to drop a redelivery). Templates are in
 * Vietnamese and English (web/i18n catalogs). */
#ifndef TINHSO_NOTIFY_H
#define TINHSO_NOTIFY_H

#include <stdint.h>

#include "app/app.h"
#include "store/store.h"

enum notify_event {
	NE_SUBMITTED,		/* to the applicant: we have your dossier (online) */
	NE_RECEIVED,		/* to the applicant: received, appointment date */
	NE_REFUSED,		/* to the applicant: not received, reason */
	NE_SUPPLEMENT_REQUESTED, /* to the applicant: what to add */
	NE_PAYMENT_REQUESTED,	/* to the applicant: amount to pay */
	NE_PAYMENT_RECEIVED,	/* to the applicant: receipt number */
	NE_EXTENDED,		/* to the applicant: apology and new date */
	NE_RESOLVED,		/* to the applicant: decided (approved or rejected) */
	NE_RESULT_READY,	/* to the applicant: come and collect / download */
	NE_RETURNED,		/* to the applicant: result handed over */
	NE_STOPPED,		/* to the applicant: processing stopped (withdrawn) */
	NE_DUE_SOON,		/* to the officials of the current agency: due within due_soon_minutes */
	NE_OVERDUE,		/* to the officials of the current agency */
	NE_COUNT
};
const char *notify_event_name(enum notify_event ev); /* "received", ... */

struct notify_dossier {
	const char *code;
	const char *procedure_name;
	const char *agency_code;   /* the agency concerned (current agency for official events) */
	const char *agency_name;
	const char *applicant_name;
	const char *email;	   /* applicant's, may be NULL */
	const char *phone;	   /* applicant's, may be NULL */
	const char *lang;	   /* "vi" (default) or "en" */
	int64_t due_at;		   /* appointment / deadline, 0 if none */
	int64_t amount;		   /* VND, payment events */
	const char *note;	   /* reason, what to add, receipt number ... */
	int64_t step_id;	   /* the dossier step that caused the event: with code and event, the event id */
};

/* Queues the event's messages in the caller's write transaction. Officials'
 * events go to every active official and leader of d->agency_code.
 *
 * The event id is "<code>:<event name>:<step_id>"; the rows (table outbox,
 * kind 'notify') are, per recipient: 'email' when the address is usable and
 * cfg->smtp_url is set, 'sms' when a phone is known and there is a gateway
 * (cfg->sms_url, else cfg->sim_url + "/sms/send"), 'file' when
 * cfg->notify_file is set. Each row's dedupe key is "<event id>:<channel>"
 * (officials' rows add ":user:<id>"), inserted with ON CONFLICT DO NOTHING:
 * queueing the same event twice queues nothing more, and nothing here fails
 * the caller's transaction on a repeat. Payload (JSON): {event, event_id,
 * channel, recipient ("applicant" | "user:<id>" | "agency:<code>"), to (e-mail
 * address, phone, or the name for the file sink), subject (not for SMS),
 * text, dossier, lang}. Errors: ERR_INTERNAL for an unknown event or a missing
 * code (a bug in the caller), or the store's error. */
int notify_dossier_event(struct store_tx *tx, const struct ctx *c, enum notify_event ev,
			 const struct notify_dossier *d, struct err *e);

/* Starts cfg->notify_workers delivery threads and the deadline scanner
 * (due-soon and overdue events, once per dossier and deadline: every 60 s and
 * once at start, on calendar_current's calendar, so load the calendar first).
 * Call it once, after app_open; notify_stop before app_close. */
int notify_start(struct app *app, struct err *e);
/* Stops and joins the threads promptly (an HTTP or SMTP delivery in flight is
 * aborted and its row released, not counted as an attempt), then frees the
 * state. Safe without notify_start, and twice. */
void notify_stop(struct app *app);

/* ---- single passes, for tests and tools (the threads above loop on these) ---- */

/* Claims up to 16 due 'notify' rows (next_at <= now_us, not claimed by another
 * worker), delivers them outside any transaction and records the outcome:
 * done, or attempts+1 with next_at = now_us + min(2^attempts s, 1 h) minus up
 * to 20% jitter, given up (done_at set, last_error kept) after
 * cfg->outbox_max_attempts attempts or on a permanent refusal (HTTP 4xx other
 * than 408/429, SMTP 5xx). Returns the number of rows claimed (0..16). */
int notify_deliver_batch(struct app *app, int64_t now_us, struct err *e);

/* One pass of the deadline scanner at now_us on cal: received or processing,
 * unpaused dossiers past due_at get NE_OVERDUE (overdue_notified set), those
 * with at most cfg->due_soon_minutes of office time left get NE_DUE_SOON
 * (due_soon_notified set), each in one transaction with its flag; the event's
 * step_id is due_at, so a moved deadline is a new event. Returns the number of
 * events queued. */
struct calendar;
int notify_scan_deadlines(struct app *app, const struct calendar *cal, int64_t now_us, struct err *e);

#endif
