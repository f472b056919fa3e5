/* sync.h: synchronising the one-stop dossiers with the National Public
 * Service Portal (DVCQG), reliably and in order.
 *
 * Every step recorded in a dossier's history is queued, in the transaction
 * that records it, as one outbox row (kind 'sync', channel 'dvcqg', dedupe
 * "<dossier code>:<step id>", which is also the sync id the portal dedupes
 * on). The row holds the dossier as it is after the step and the step itself,
 * already in the portal's fields (below). Worker threads push the rows of each
 * dossier strictly in order (a row waits while an earlier row of its dossier
 * is not done), each as two calls of the portal's API:
 *   POST {dvcqg}/api/dongbo {"service": "DongBoHoSoMC", "MaDongBo": sync id,
 *        "isUpdating": false for the dossier's first row, else true,
 *        "data": [dossier]}
 *   POST {dvcqg}/api/dongbo {"service": "CapNhatTienDoHoSoMC", "MaDongBo":
 *        sync id, "isUpdating": true, "data": [step]}
 * A row is done when both answered 2xx with error_code 0. Transport errors,
 * timeouts and 5xx/408/429 answers are retried with exponential backoff
 * (2^attempts s, at most 1 h, up to 20% earlier) until cfg->outbox_max_attempts;
 * any other refusal gives the row up at once (the dossier's sync is then
 * 'failed', later rows still go). A crash between a push and its record
 * pushes the row again: the portal answers it as a duplicate of the sync id
 * and keeps one copy.
 *
 * The dossier (DongBoHoSoMC) fields: MaHoSo, SoBienNhan (the code), MaTTHC,
 * TenTTHC, TenLinhVuc, MaDonVi (receiving agency code), TenDonVi, MaDonViXuLy
 * and DonViXuLy (where it is now), KenhThucHien (1 at the desk, 2 online, 3 by
 * post), ChuHoSo, LoaiDoiTuong (1 citizen), MaDoiTuong (CCCD or ""),
 * SoDienThoai, Email, DiaChi, TrichYeuHoSo, TrangThaiHoSo (1..10 as DESIGN.md
 * numbers them), KetQuaXuLy ("1" approved, "0" rejected, "" undecided),
 * NgayNopHoSo, NgayTiepNhan, NgayHenTra, NgayKetThucXuLy, NgayTra.
 * The step (CapNhatTienDoHoSoMC) fields: MaHoSo, NguoiXuLy, ChucDanh,
 * ThoiDiemXuLy, PhongBanXuLy, NoiDungXuLy (the history title, then ": " and
 * the note when there is one), TrangThai (the status after the step),
 * NgayBatDau, NgayKetThucTheoQuyDinh (the step's start and deadline).
 * Times are yyyyMMddHHmmss in Vietnam's time (+07:00); "" when there is none.
 *
 * Each dossier's sync state is the table dossier_sync (queued, pushed and
 * failed step counts, the last step queued and pushed, status pending | ok |
 * failed, attempts, the last error), shown with the rows' detail by
 * GET /api/v1/dossiers/{code}/sync to officials who may see the dossier. */
#ifndef TINHSO_SYNC_H
#define TINHSO_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "app/app.h"
#include "base/json.h"
#include "store/store.h"

/* Queues the dossier's state and step step_id for the portal in the caller's
 * write transaction (call it right after the step is recorded and the dossier
 * row saved). Queueing the same step again queues nothing (ON CONFLICT on the
 * dedupe key) and does not fail the transaction. ERR_NOT_FOUND when the
 * dossier or the step does not exist (a bug in the caller), or the store's error. */
int sync_dossier_tx(struct store_tx *tx, const struct ctx *c, const char *dossier_code, int64_t step_id,
		    struct err *e);

/* yyyyMMddHHmmss of unix_us in +07:00 into out (>= 15 bytes); "" for 0. */
void sync_time(int64_t unix_us, char *out, unsigned cap);

/* One dossier's sync state, for officials (strings in c->a). */
struct sync_item {
	int64_t step_id;
	char *sync_id, *action, *title;
	char *state; /* pushed | pending | failed */
	int attempts;
	char *last_error;
	int64_t step_at, next_attempt_at, pushed_at;
};
struct sync_state {
	char *dossier_code;
	char *status; /* pending | ok | failed | none (nothing queued yet) */
	int queued, pushed, failed, attempts;
	int64_t queued_step_id, pushed_step_id, last_attempt_at, synced_at, updated_at;
	char *last_error;
	bool portal_configured; /* dvcqg_url or sim_url is set: the workers push */
	struct sync_item *items; /* oldest first */
	int nitems;
};
/* ERR_NOT_FOUND when the caller may not see the dossier (dossier_visible_tx)
 * or it does not exist; ERR_FORBIDDEN for citizens (the sync is the officials'
 * concern); ERR_UNAUTHENTICATED without a principal. */
int sync_state_get(const struct ctx *c, const char *dossier_code, struct sync_state *out, struct err *e);
void sync_state_json(struct jw *w, const struct sync_state *s);

/* Puts the given-up rows of a dossier back in the queue (attempts reset), for
 * admins and for officials who may see the dossier, after the cause was fixed.
 * Returns the number of rows requeued; audited ("sync.retry"). */
int sync_retry(const struct ctx *c, const char *dossier_code, struct err *e);

/* ---- the workers (sync_worker.c) ---- */

/* Starts one push thread. Call once after app_open; sync_stop before app_close.
 * With national_via = gateway it first registers the national systems on the
 * LGSP (national_register; a failure is logged, the calls then fail clearly). */
int sync_start(struct app *app, struct err *e);
/* Stops and joins it promptly (a push in flight is cancelled and its row
 * released, not counted as an attempt). Safe without sync_start, and twice. */
void sync_stop(struct app *app);

/* One pass, for tests and tools: claims up to 16 due rows that are first in
 * their dossier's queue, pushes them, records the outcomes. Returns the
 * number of rows claimed; 0 without doing anything when no portal is
 * configured. */
int sync_push_batch(struct app *app, int64_t now_us, struct err *e);

#endif
