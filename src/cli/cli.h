/* cli.h: the command table and what each command receives. Commands are named
 * by one or two words ("serve", "user add"); after the name come options
 * (--name value or --name=value) and positional arguments. Every command
 * accepts the global settings of config.h; each may declare its own options. */
#ifndef TINHSO_CLI_H
#define TINHSO_CLI_H

#include <stdbool.h>

#include "app/app.h"
#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"

struct cli;

struct cli_opt {
	const char *name;
	bool has_arg;
	const char *help;
};

struct cli_cmd {
	const char *name;  /* "serve", "user add" */
	const char *usage; /* argument synopsis after the name */
	const char *summary;
	int (*run)(struct cli *cl);
	const struct cli_opt *opts; /* NULL-name terminated, or NULL */
	int min_pos, max_pos;	    /* positional argument counts */
};

enum { CLI_MAX_KV = 32 };

struct cli {
	struct config cfg;
	struct app app;
	bool app_open;
	struct arena arena;
	struct err e;
	const struct cli_cmd *cmd;
	int npos;
	char **pos;
	int nkv;
	struct {
		const char *name, *value;
	} kv[CLI_MAX_KV];
};

int cli_main(int argc, char **argv);

/* A command option's value (NULL when absent; "" for a flag without value). */
const char *cli_get(struct cli *cl, const char *name);
/* Opens the app (database, migrations, keys). */
int cli_open_app(struct cli *cl, bool need_keys);
/* The call context of the command line: the trusted operator principal. */
void cli_ctx(struct cli *cl, struct ctx *c);
/* Reads one line (a password) from standard input without its newline into a (max 1024 bytes). */
int cli_read_stdin_line(struct cli *cl, char **out);

/* Commands (cmd_*.c). */
int cmd_serve(struct cli *cl);
int cmd_init(struct cli *cl);
int cmd_demo(struct cli *cl);
int cmd_version(struct cli *cl);
int cmd_backup(struct cli *cl);
int cmd_audit_verify(struct cli *cl);
int cmd_user_add(struct cli *cl);
int cmd_user_list(struct cli *cl);
int cmd_user_passwd(struct cli *cl);
int cmd_user_disable(struct cli *cl);
int cmd_user_enable(struct cli *cl);
int cmd_user_totp(struct cli *cl);
int cmd_procedure_import(struct cli *cl);
int cmd_procedure_export(struct cli *cl);
int cmd_exchange_member_add(struct cli *cl);
int cmd_exchange_member_list(struct cli *cl);
int cmd_exchange_subsystem_add(struct cli *cl);
int cmd_exchange_subsystem_list(struct cli *cl);
int cmd_exchange_service_add(struct cli *cl);
int cmd_exchange_service_list(struct cli *cl);
int cmd_exchange_access_add(struct cli *cl);
int cmd_exchange_access_remove(struct cli *cl);
int cmd_exchange_access_list(struct cli *cl);
int cmd_exchange_verify_log(struct cli *cl);
int cmd_exchange_export_log(struct cli *cl);
int cmd_exchange_verify_export(struct cli *cl);

/* Loads the demo province and its demo accounts (shared by `demo` and `serve --demo`). */
int cli_load_demo(struct cli *cl, bool quiet);

#endif
