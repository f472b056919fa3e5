/* sim.h: the simulated systems of tinhso-sim, one file each, and the state
 * they share. Each file contributes a route table and, when it needs one, a
 * setup function called with the command-line options before serving. */
#ifndef TINHSO_SIM_H
#define TINHSO_SIM_H

#include <stddef.h>

#include "http/http.h"

struct sim_options {
	const char *payment_secret; /* HMAC-SHA512 key for payment callbacks */
};

extern const struct route sim_payment_routes[];
extern const size_t sim_payment_nroutes;
void sim_payment_setup(const struct sim_options *o);

extern const struct route sim_sms_routes[];
extern const size_t sim_sms_nroutes;

/* national databases: population, business, land, insurance, judicial */
extern const struct route sim_national_routes[];
extern const size_t sim_national_nroutes;

/* the National Public Service Portal's dossier sync API */
extern const struct route sim_dvcqg_routes[];
extern const size_t sim_dvcqg_nroutes;

#endif
