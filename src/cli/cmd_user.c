/* cmd_user.c: `tinhso user add|list|passwd|disable|enable|totp`. */
#include <string.h>

#include "cli/cli.h"
#include "crypto/crypto.h"
#include "identity/identity.h"

int cmd_user_add(struct cli *cl)
{
	struct user_new u = {0};
	u.username = cli_get(cl, "username");
	const char *role = cli_get(cl, "role");
	if (!u.username || !role)
		return err_set(&cl->e, ERR_USAGE, "--username and --role are required");
	if (role_parse(role, &u.role) < 0)
		return err_set(&cl->e, ERR_USAGE, "--role must be citizen, official, leader or admin");
	if (!cli_get(cl, "password-stdin"))
		return err_set(&cl->e, ERR_USAGE, "--password-stdin is required (passwords never go on the command line)");
	u.agency_code = cli_get(cl, "agency");
	u.full_name = cli_get(cl, "full-name") ? cli_get(cl, "full-name") : u.username;
	u.title = cli_get(cl, "title");
	u.id_number = cli_get(cl, "id-number");
	u.phone = cli_get(cl, "phone");
	u.email = cli_get(cl, "email");
	char *pw;
	int rc = cli_read_stdin_line(cl, &pw);
	if (rc < 0)
		return rc;
	u.password = pw;
	if (u.role == ROLE_CITIZEN && !u.id_number)
		u.id_number = u.username;
	if ((rc = cli_open_app(cl, true)) < 0)
		return rc;
	struct ctx c;
	cli_ctx(cl, &c);
	int64_t id;
	rc = identity_user_create(&c, &u, &id, &cl->e);
	if (rc < 0)
		return rc;
	printf("user %s created (id %lld, role %s)\n", u.username, (long long)id, role_name(u.role));
	if (u.role == ROLE_ADMIN && cl->cfg.totp_required_admin)
		printf("admins log in with a TOTP code: run `tinhso user totp %s` to enrol\n", u.username);
	return 0;
}

int cmd_user_list(struct cli *cl)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	struct ctx c;
	cli_ctx(cl, &c);
	int page = 1;
	printf("%-6s %-20s %-9s %-15s %-8s %s\n", "id", "username", "role", "agency", "status", "name");
	for (;;) {
		struct user *users;
		int n;
		int64_t total;
		rc = identity_user_list(&c, cli_get(cl, "role"), cli_get(cl, "agency"), page, 200, &users, &n, &total,
					&cl->e);
		if (rc < 0)
			return rc;
		for (int i = 0; i < n; i++)
			printf("%-6lld %-20s %-9s %-15s %-8s %s\n", (long long)users[i].id, users[i].username,
			       role_name(users[i].role), users[i].agency_code ? users[i].agency_code : "-",
			       users[i].disabled ? "disabled" : "active", users[i].full_name);
		if ((int64_t)page * 200 >= total)
			break;
		page++;
	}
	return 0;
}

int cmd_user_passwd(struct cli *cl)
{
	if (!cli_get(cl, "password-stdin"))
		return err_set(&cl->e, ERR_USAGE, "--password-stdin is required (passwords never go on the command line)");
	char *pw;
	int rc = cli_read_stdin_line(cl, &pw);
	if (rc < 0 || (rc = cli_open_app(cl, true)) < 0)
		return rc;
	struct ctx c;
	cli_ctx(cl, &c);
	rc = identity_password_set(&c, cl->pos[0], NULL, pw, &cl->e);
	if (rc < 0)
		return rc;
	printf("password of %s changed; their sessions were ended\n", cl->pos[0]);
	return 0;
}

static int set_disabled(struct cli *cl, bool disabled)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	struct ctx c;
	cli_ctx(cl, &c);
	rc = identity_user_disable(&c, cl->pos[0], disabled, &cl->e);
	if (rc < 0)
		return rc;
	printf("user %s %s\n", cl->pos[0], disabled ? "disabled; their sessions were ended" : "enabled");
	return 0;
}

int cmd_user_disable(struct cli *cl) { return set_disabled(cl, true); }
int cmd_user_enable(struct cli *cl) { return set_disabled(cl, false); }

int cmd_user_totp(struct cli *cl)
{
	int rc = cli_open_app(cl, true);
	if (rc < 0)
		return rc;
	struct ctx c;
	cli_ctx(cl, &c);
	char secret[33];
	const char *given = cli_get(cl, "secret");
	if (given) {
		if (!str_copy(secret, sizeof secret, given))
			return err_set(&cl->e, ERR_USAGE, "--secret is too long (32 base32 characters at most)");
	} else {
		totp_new_secret(secret);
	}
	rc = identity_totp_set(&c, cl->pos[0], secret, &cl->e);
	if (rc < 0)
		return rc;
	printf("TOTP enrolled for %s\nsecret: %s\nuri: otpauth://totp/tinhso:%s?secret=%s&issuer=tinhso\n",
	       cl->pos[0], secret, cl->pos[0], secret);
	return 0;
}
