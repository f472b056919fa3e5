/* cli.c: the command table, option parsing and --help. */
#include "cli/cli.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "identity/identity.h"

static const struct cli_opt serve_opts[] = {
	{"check-config", false, "validate the settings and exit (0 when good, 78 when not)"},
	{NULL, false, NULL},
};
static const struct cli_opt user_add_opts[] = {
	{"username", true, "login name (citizens: the 12-digit CCCD)"},
	{"role", true, "citizen | official | leader | admin"},
	{"agency", true, "agency code the official or leader works for"},
	{"full-name", true, "full name"},
	{"title", true, "job title"},
	{"id-number", true, "CCCD (12 digits)"},
	{"phone", true, "phone number"},
	{"email", true, "e-mail address"},
	{"password-stdin", false, "read the password from the first line of standard input"},
	{NULL, false, NULL},
};
static const struct cli_opt user_list_opts[] = {
	{"role", true, "only this role"},
	{"agency", true, "only this agency"},
	{NULL, false, NULL},
};
static const struct cli_opt passwd_opts[] = {
	{"password-stdin", false, "read the new password from standard input (required)"},
	{NULL, false, NULL},
};
static const struct cli_opt totp_opts[] = {
	{"secret", true, "base32 secret to set (default: a new random one)"},
	{NULL, false, NULL},
};

static const struct cli_opt xmember_opts[] = {
	{"code", true, "member code (a provincial agency's code, or e.g. BCA)"},
	{"name", true, "name"},
	{"agency", true, "the provincial agency it is (default: the code, when it is an agency code)"},
	{"disabled", false, "registered but disabled"},
	{"update", false, "replace an existing entry instead of refusing"},
	{NULL, false, NULL},
};
static const struct cli_opt xsubsystem_opts[] = {
	{"member", true, "member code"},
	{"code", true, "subsystem code"},
	{"name", true, "name of the information system"},
	{"public-key", true, "its Ed25519 public key, 64 hex"},
	{"endpoint", true, "URL asynchronous messages are pushed to (default: pull inbox)"},
	{"disabled", false, "registered but disabled"},
	{"update", false, "replace an existing entry instead of refusing"},
	{NULL, false, NULL},
};
static const struct cli_opt xservice_opts[] = {
	{"member", true, "provider's member code"},
	{"subsystem", true, "provider's subsystem code"},
	{"code", true, "service code"},
	{"description", true, "what it provides"},
	{"backend-url", true, "where the gateway forwards (http[s]://host:port/base)"},
	{"methods", true, "allowed methods, e.g. GET,POST (default GET)"},
	{"openapi", true, "file with the service's OpenAPI document"},
	{"personal-data", false, "carries personal data: callers must state a purpose"},
	{"timeout-ms", true, "backend timeout (default: exchange_timeout_ms)"},
	{"disabled", false, "registered but disabled"},
	{"update", false, "replace an existing entry instead of refusing"},
	{NULL, false, NULL},
};
static const struct cli_opt xmember_filter_opts[] = {
	{"member", true, "only this member's"},
	{NULL, false, NULL},
};
static const struct cli_opt xaccess_opts[] = {
	{"service", true, "member/subsystem/service"},
	{"client", true, "member/subsystem"},
	{NULL, false, NULL},
};
static const struct cli_opt xexport_opts[] = {
	{"from", true, "first time (RFC 3339, YYYY-MM-DD or unix seconds)"},
	{"to", true, "end time, exclusive"},
	{NULL, false, NULL},
};
static const struct cli_opt xverify_export_opts[] = {
	{"public-key", true, "the platform's published Ed25519 key, 64 hex (default: the file's own)"},
	{NULL, false, NULL},
};

static const struct cli_cmd commands[] = {
	{"serve", "", "run the server (portal, back office, API)", cmd_serve, serve_opts, 0, 0},
	{"init", "", "create or migrate the database and make the server keys", cmd_init, NULL, 0, 0},
	{"demo", "", "load the demo province, Hải Dương 2021 (idempotent)", cmd_demo, NULL, 0, 0},
	{"user add", "", "create a user", cmd_user_add, user_add_opts, 0, 0},
	{"user list", "", "list users", cmd_user_list, user_list_opts, 0, 0},
	{"user passwd", "USERNAME", "set a user's password", cmd_user_passwd, passwd_opts, 1, 1},
	{"user disable", "USERNAME", "disable a user and end their sessions", cmd_user_disable, NULL, 1, 1},
	{"user enable", "USERNAME", "enable a disabled user", cmd_user_enable, NULL, 1, 1},
	{"user totp", "USERNAME", "enrol a user in TOTP and print the secret", cmd_user_totp, totp_opts, 1, 1},
	{"procedure import", "FILE", "import procedures from a JSON array (all or nothing)", cmd_procedure_import, NULL,
	 1, 1},
	{"procedure export", "", "write every procedure as a JSON array to standard output", cmd_procedure_export,
	 NULL, 0, 0},
	{"audit verify", "", "re-check the audit hash chain and every signature", cmd_audit_verify, NULL, 0, 0},
	{"backup", "FILE", "consistent online backup of the SQLite database", cmd_backup, NULL, 1, 1},
	{"version", "", "print the version", cmd_version, NULL, 0, 0},
	{"exchange member add", "", "LGSP: register a member", cmd_exchange_member_add, xmember_opts, 0, 0},
	{"exchange member list", "", "LGSP: list members", cmd_exchange_member_list, NULL, 0, 0},
	{"exchange subsystem add", "", "LGSP: register a subsystem and its key", cmd_exchange_subsystem_add,
	 xsubsystem_opts, 0, 0},
	{"exchange subsystem list", "", "LGSP: list subsystems", cmd_exchange_subsystem_list, xmember_filter_opts, 0, 0},
	{"exchange service add", "", "LGSP: register a service", cmd_exchange_service_add, xservice_opts, 0, 0},
	{"exchange service list", "", "LGSP: list services", cmd_exchange_service_list, xmember_filter_opts, 0, 0},
	{"exchange access add", "", "LGSP: grant a service to a client subsystem", cmd_exchange_access_add,
	 xaccess_opts, 0, 0},
	{"exchange access remove", "", "LGSP: withdraw an access right", cmd_exchange_access_remove, xaccess_opts, 0,
	 0},
	{"exchange access list", "", "LGSP: list access rights", cmd_exchange_access_list, xaccess_opts, 0, 0},
	{"exchange verify-log", "", "LGSP: re-check the message-log chain and signatures", cmd_exchange_verify_log,
	 NULL, 0, 0},
	{"exchange export-log", "FILE", "LGSP: export a time range of the message log", cmd_exchange_export_log,
	 xexport_opts, 1, 1},
	{"exchange verify-export", "FILE", "LGSP: verify an export with the published key alone",
	 cmd_exchange_verify_export, xverify_export_opts, 1, 1},
};
static const size_t ncommands = sizeof commands / sizeof commands[0];

static void usage_all(FILE *out)
{
	fprintf(out, "tinhso %s — provincial digital-government platform\n\nUsage: tinhso COMMAND [options]\n\n"
		     "Commands:\n",
		TINHSO_VERSION);
	for (size_t i = 0; i < ncommands; i++) {
		char synopsis[96];
		snprintf(synopsis, sizeof synopsis, "%s %s", commands[i].name, commands[i].usage);
		fprintf(out, "  %-32s %s\n", synopsis, commands[i].summary);
	}
	fprintf(out, "\n'tinhso COMMAND --help' shows a command's options.\n"
		     "Exit codes: 0 ok, 64 usage, 65 bad data, 69 unavailable, 75 try again, 77 not allowed, "
		     "78 configuration.\n");
}

static void usage_cmd(FILE *out, const struct cli_cmd *c)
{
	fprintf(out, "Usage: tinhso %s [options] %s\n\n%s\n\n", c->name, c->usage, c->summary);
	if (c->opts && c->opts[0].name) {
		fprintf(out, "Options:\n");
		for (const struct cli_opt *o = c->opts; o->name; o++)
			fprintf(out, "  --%-24s %s\n", o->has_arg ? o->name : o->name, o->help);
		fprintf(out, "\n");
	}
	config_usage(out);
}

const char *cli_get(struct cli *cl, const char *name)
{
	for (int i = 0; i < cl->nkv; i++)
		if (strcmp(cl->kv[i].name, name) == 0)
			return cl->kv[i].value;
	return NULL;
}

int cli_open_app(struct cli *cl, bool need_keys)
{
	int rc = app_open(&cl->app, &cl->cfg, need_keys, &cl->e);
	if (rc == 0)
		cl->app_open = true;
	return rc;
}

void cli_ctx(struct cli *cl, struct ctx *c)
{
	memset(c, 0, sizeof *c);
	c->app = &cl->app;
	c->a = &cl->arena;
	c->who = &principal_cli;
	struct passwd *pw = getpwuid(getuid());
	c->actor = arena_printf(&cl->arena, "cli:%s", pw ? pw->pw_name : "unknown");
}

int cli_read_stdin_line(struct cli *cl, char **out)
{
	char line[1100];
	if (!fgets(line, sizeof line, stdin))
		return err_set(&cl->e, ERR_USAGE, "expected a password on standard input");
	size_t n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[--n] = 0;
	if (n && line[n - 1] == '\r')
		line[--n] = 0;
	if (n > 1024)
		return err_set(&cl->e, ERR_BAD_REQUEST, "the password line is too long");
	*out = arena_strndup(&cl->arena, line, n);
	memset(line, 0, sizeof line);
	return 0;
}

static const struct cli_opt *cmd_opt(const struct cli_cmd *c, const char *name)
{
	if (!c->opts)
		return NULL;
	for (const struct cli_opt *o = c->opts; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static const struct cli_cmd *find_command(int argc, char **argv, int *consumed)
{
	if (argc >= 4) {
		char three[96];
		snprintf(three, sizeof three, "%s %s %s", argv[1], argv[2], argv[3]);
		for (size_t i = 0; i < ncommands; i++)
			if (strcmp(commands[i].name, three) == 0) {
				*consumed = 4;
				return &commands[i];
			}
	}
	if (argc >= 3) {
		char two[64];
		snprintf(two, sizeof two, "%s %s", argv[1], argv[2]);
		for (size_t i = 0; i < ncommands; i++)
			if (strcmp(commands[i].name, two) == 0) {
				*consumed = 3;
				return &commands[i];
			}
	}
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(commands[i].name, argv[1]) == 0) {
			*consumed = 2;
			return &commands[i];
		}
	return NULL;
}

static int parse_args(struct cli *cl, int argc, char **argv, int start, bool *help)
{
	struct config_kv {
		const char *name, *value;
	} settings[64];
	int nset = 0;
	const char *config_file = getenv("TINHSO_CONFIG_FILE");
	cl->pos = arena_alloc(&cl->arena, sizeof(char *) * (size_t)(argc + 1));
	for (int i = start; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			for (i++; i < argc; i++)
				cl->pos[cl->npos++] = argv[i];
			break;
		}
		if (strncmp(a, "--", 2) != 0) {
			cl->pos[cl->npos++] = argv[i];
			continue;
		}
		char name[64];
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof name)
			return err_set(&cl->e, ERR_USAGE, "unknown option '%s'", a);
		memcpy(name, a + 2, nl);
		name[nl] = 0;
		const char *value = eq ? eq + 1 : NULL;
		if (strcmp(name, "help") == 0) {
			*help = true;
			continue;
		}
		const struct cli_opt *co = cmd_opt(cl->cmd, name);
		const struct config_opt *so = co ? NULL : config_find(strcmp(name, "config") == 0 ? "config_file" : name);
		if (!co && !so)
			return err_set(&cl->e, ERR_USAGE, "unknown option '--%s' for '%s' (see --help)", name,
				       cl->cmd->name);
		bool takes = co ? co->has_arg : so->type != CT_BOOL;
		if (!value) {
			if (takes) {
				if (i + 1 >= argc)
					return err_set(&cl->e, ERR_USAGE, "option '--%s' needs a value", name);
				value = argv[++i];
			} else {
				value = co ? "" : "true";
			}
		} else if (co && !co->has_arg) {
			return err_set(&cl->e, ERR_USAGE, "option '--%s' takes no value", name);
		}
		if (co) {
			if (cl->nkv >= CLI_MAX_KV)
				return err_set(&cl->e, ERR_USAGE, "too many options");
			cl->kv[cl->nkv].name = co->name;
			cl->kv[cl->nkv].value = value;
			cl->nkv++;
		} else if (so == &config_opts[0]) {
			config_file = value;
		} else {
			if (nset >= 64)
				return err_set(&cl->e, ERR_USAGE, "too many options");
			settings[nset].name = so->name;
			settings[nset].value = value;
			nset++;
		}
	}
	if (*help)
		return 0;
	if (config_file && *config_file) {
		int rc = config_load_file(&cl->cfg, config_file, &cl->e);
		if (rc < 0)
			return rc;
	}
	int rc = config_load_env(&cl->cfg, &cl->e);
	if (rc < 0)
		return rc;
	for (int i = 0; i < nset; i++)
		if ((rc = config_set(&cl->cfg, settings[i].name, settings[i].value, &cl->e)) < 0)
			return rc;
	if (cl->npos < cl->cmd->min_pos || cl->npos > cl->cmd->max_pos)
		return err_set(&cl->e, ERR_USAGE, "usage: tinhso %s [options] %s", cl->cmd->name, cl->cmd->usage);
	return 0;
}

int cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage_all(stderr);
		return 64;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage_all(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		argv[1] = "version";
	int consumed = 0;
	const struct cli_cmd *cmd = find_command(argc, argv, &consumed);
	if (!cmd) {
		fprintf(stderr, "tinhso: unknown command '%s'\n\n", argv[1]);
		usage_all(stderr);
		return 64;
	}
	struct cli cl;
	memset(&cl, 0, sizeof cl);
	cl.cmd = cmd;
	config_defaults(&cl.cfg);
	bool help = false;
	int rc = parse_args(&cl, argc, argv, consumed, &help);
	if (help) {
		usage_cmd(stdout, cmd);
		rc = 0;
	} else if (rc == 0) {
		rc = cmd->run(&cl);
	}
	int code = 0;
	if (rc < 0) {
		fprintf(stderr, "tinhso %s: %s\n", cmd->name, cl.e.msg[0] ? cl.e.msg : err_name(rc));
		for (int i = 1; i < cl.e.nfields; i++)
			fprintf(stderr, "  %s: %s\n", cl.e.fields[i].name, cl.e.fields[i].msg);
		code = err_exit_code(rc);
	}
	if (cl.app_open)
		app_close(&cl.app);
	config_free(&cl.cfg);
	arena_free(&cl.arena);
	return code;
}
