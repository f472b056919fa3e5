/* cmd_admin.c: init, demo, version, backup and audit verify. */
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <string.h>
#include <sys/stat.h>

#include "agency/agency.h"
#include "audit/audit.h"
#include "calendar/calendar_store.h"
#include "procedure/procedure.h"
#include "cli/cli.h"
#include "identity/identity.h"

int cmd_version(struct cli *cl)
{
	(void)cl;
	printf("tinhso %s (%s, libmicrohttpd %s, jansson %s)\n", TINHSO_VERSION, store_versions(),
	       MHD_get_version(), jansson_version_str());
	return 0;
}

int cmd_init(struct cli *cl)
{
	if (mkdir(cl->cfg.data, 0750) != 0 && errno != EEXIST)
		return err_set(&cl->e, ERR_CONFIG, "data: cannot create '%s': %s", cl->cfg.data, strerror(errno));
	int made = keys_create(cl->cfg.data, &cl->e);
	if (made < 0)
		return made;
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	printf("keys: %s/keys/server.key (%s, key id %s)\n", cl->cfg.data, made ? "created" : "kept",
	       cl->app.keys.key_id);
	printf("database: %s (schema up to date)\n", strncmp(cl->cfg.db, "sqlite:", 7) == 0 ? cl->cfg.db : "postgres");
	return 0;
}

/* The demo accounts: one shared password, printed by `tinhso demo`. The
 * admin's TOTP secret is fixed so the README can tell it; never use the demo
 * accounts on a real deployment. */
#define DEMO_PASSWORD "HaiDuong@2021"
#define DEMO_ADMIN_TOTP "TINHSODEMOADMIN2TINHSODEMOADMIN2"

static const struct demo_user {
	const char *username, *role, *agency, *full_name, *title, *id_number, *phone;
} demo_users[] = {
	{"admin", "admin", NULL, "Quản trị hệ thống", "Quản trị viên", NULL, NULL},
	{"canbo.ttphc", "official", "000.00.30.H23", "Trần Thị Mai", "Chuyên viên tiếp nhận", NULL, NULL},
	{"lanhdao.ttphc", "leader", "000.00.30.H23", "Phạm Văn Hùng", "Giám đốc Trung tâm", NULL, NULL},
	{"canbo.tuphap", "official", "000.00.03.H23", "Vũ Thị Lan", "Chuyên viên Sở Tư pháp", NULL, NULL},
	{"canbo.tphd", "official", "000.00.31.H23", "Lê Văn Nam", "Chuyên viên Văn phòng HĐND-UBND", NULL, NULL},
	{"lanhdao.tphd", "leader", "000.00.31.H23", "Nguyễn Đức Thắng", "Phó Chủ tịch UBND thành phố", NULL, NULL},
	{"canbo.thd", "official", "000.08.31.H23", "Đỗ Thị Hằng", "Công chức Tư pháp - Hộ tịch", NULL, NULL},
	{"lanhdao.thd", "leader", "000.08.31.H23", "Hoàng Văn Quyết", "Chủ tịch UBND phường", NULL, NULL},
	{"030095001234", "citizen", NULL, "Nguyễn Văn An", NULL, "030095001234", "0912345678"},
};

int cli_load_demo(struct cli *cl, bool quiet)
{
	struct ctx c;
	cli_ctx(cl, &c);
	int added = agency_load_demo(&c, &cl->e);
	if (added < 0)
		return added;
	int procs = procedure_load_demo(&c, &cl->e);
	if (procs < 0)
		return procs;
	int days = calendar_load_demo(&c, &cl->e);
	if (days < 0)
		return days;
	int users = 0;
	for (size_t i = 0; i < sizeof demo_users / sizeof demo_users[0]; i++) {
		const struct demo_user *d = &demo_users[i];
		struct user_new u = {0};
		u.username = d->username;
		role_parse(d->role, &u.role);
		u.agency_code = d->agency;
		u.full_name = d->full_name;
		u.title = d->title;
		u.id_number = d->id_number;
		u.phone = d->phone;
		u.password = DEMO_PASSWORD;
		if (d->agency) {
			struct agency g;
			struct err ignore = {0};
			if (agency_get(&c, d->agency, &g, &ignore) < 0)
				continue; /* not in this configuration (e.g. no districts since 2025) */
		}
		int64_t id;
		struct err e = {0};
		int rc = identity_user_create(&c, &u, &id, &e);
		if (rc == ERR_CONFLICT)
			continue;
		if (rc < 0) {
			cl->e = e;
			return rc;
		}
		users++;
		if (u.role == ROLE_ADMIN && (rc = identity_totp_set(&c, d->username, DEMO_ADMIN_TOTP, &cl->e)) < 0)
			return rc;
	}
	if (!quiet || added || users || procs || days) {
		printf("demo province: %d agencies, %d procedures, %d calendar days and %d accounts added\n", added, procs,
		       days, users);
		printf("demo accounts (password %s):\n", DEMO_PASSWORD);
		for (size_t i = 0; i < sizeof demo_users / sizeof demo_users[0]; i++)
			printf("  %-14s %-8s %s%s\n", demo_users[i].username, demo_users[i].role,
			       demo_users[i].agency ? demo_users[i].agency : "",
			       strcmp(demo_users[i].role, "admin") == 0 ? " (TOTP secret " DEMO_ADMIN_TOTP ")" : "");
	}
	return 0;
}

int cmd_demo(struct cli *cl)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	return cli_load_demo(cl, false);
}

int cmd_backup(struct cli *cl)
{
	int rc = cli_open_app(cl, false);
	if (rc < 0)
		return rc;
	rc = store_backup(cl->app.db, cl->pos[0], &cl->e);
	if (rc < 0)
		return rc;
	printf("backup written to %s (integrity_check ok)\n", cl->pos[0]);
	return 0;
}

int cmd_audit_verify(struct cli *cl)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	struct audit_verify_result res;
	rc = audit_verify(&cl->app, &res, &cl->e);
	if (rc == ERR_CONFLICT) {
		printf("audit chain BROKEN at entry %lld of %lld: %s\n", (long long)res.first_bad,
		       (long long)res.entries, res.problem);
		return err_set(&cl->e, ERR_CONFLICT, "audit chain broken at entry %lld", (long long)res.first_bad);
	}
	if (rc < 0)
		return rc;
	printf("audit chain intact: %lld entries, every hash and signature verified (key %s)\n",
	       (long long)res.entries, cl->app.keys.key_id);
	return 0;
}
