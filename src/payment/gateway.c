/* gateway.c: the payment gateway's HTTP adapter over libcurl (see gateway.h). */
#include "payment/gateway.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "payment/payment.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	/* curl_global_init is not thread-safe in every libcurl build: once per process */
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

char *gateway_base(const struct config *cfg, struct arena *a)
{
	const char *b = cfg->payment_url && cfg->payment_url[0] ? cfg->payment_url : cfg->sim_url;
	if (!b || !b[0])
		return NULL;
	size_t n = strlen(b);
	while (n > 0 && b[n - 1] == '/')
		n--;
	return arena_strndup(a, b, n);
}

struct sink {
	struct buf b;
	bool over;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (s->b.len + n > GATEWAY_MAX_RESPONSE) {
		s->over = true;
		return 0; /* aborts the transfer */
	}
	buf_append(&s->b, p, n);
	return n;
}

/* Removes control characters from a peer's text before it goes into a message. */
static void clean_excerpt(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max)
		s[max] = '\0';
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

int gateway_post_json(const char *url, const char *json, size_t n, struct arena *a, char **body, struct err *e)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return err_set(e, ERR_INTERNAL, "libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
	if (body)
		*body = NULL;
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return err_set(e, ERR_BAD_GATEWAY, "the payment gateway URL '%s' is not http(s)", url);
	CURL *h = curl_easy_init();
	if (!h)
		return err_set(e, ERR_INTERNAL, "libcurl: cannot make a handle");
	struct sink s = {BUF_INIT, false};
	struct curl_slist *hs = NULL;
	hs = curl_slist_append(hs, "Content-Type: application/json");
	hs = curl_slist_append(hs, "Accept: application/json");
	hs = curl_slist_append(hs, "Expect:");
	char errbuf[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)GATEWAY_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)GATEWAY_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "tinhso/" TINHSO_VERSION);
	CURLcode cc = curl_easy_perform(h);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hs);
	curl_easy_cleanup(h);
	int rc;
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		rc = err_set(e, ERR_GATEWAY_TIMEOUT, "the payment gateway at %s did not answer within %d s", url,
			     GATEWAY_TIMEOUT_MS / 1000);
	} else if (cc == CURLE_WRITE_ERROR && s.over) {
		rc = err_set(e, ERR_BAD_GATEWAY, "the payment gateway at %s answered more than %d bytes", url,
			     GATEWAY_MAX_RESPONSE);
	} else if (cc != CURLE_OK) {
		rc = err_set(e, ERR_BAD_GATEWAY, "cannot reach the payment gateway at %s: %s", url,
			     errbuf[0] ? errbuf : curl_easy_strerror(cc));
	} else {
		rc = (int)status;
		if (body)
			*body = arena_strndup(a, buf_cstr(&s.b), s.b.len);
	}
	buf_free(&s.b);
	return rc;
}

int gateway_create_order(const struct config *cfg, const struct gateway_order *o, struct arena *a,
			 struct gateway_order_result *out, struct err *e)
{
	memset(out, 0, sizeof *out);
	char *base = gateway_base(cfg, a);
	if (!base)
		return err_set(e, ERR_UNAVAILABLE,
			       "no payment gateway configured: set payment_url (or sim_url for the simulated one)");
	char *url = arena_printf(a, "%s/gateway/orders", base);
	struct buf b = BUF_INIT;
	struct jw w;
	jw_init(&w, &b);
	jw_obj(&w);
	jw_kstr(&w, "order_id", o->order_id);
	jw_kint(&w, "amount", o->amount);
	jw_kstr(&w, "description", o->description);
	jw_kstr(&w, "return_url", o->return_url);
	jw_kstr(&w, "notify_url", o->notify_url);
	if (o->expire_at)
		jw_ktime(&w, "expire_at", o->expire_at);
	jw_obj_end(&w);
	char *body = NULL;
	int64_t t0 = time_mono_us();
	int status = gateway_post_json(url, b.ptr, b.len, a, &body, e);
	buf_free(&b);
	if (status < 0) {
		log_warn("payment gateway: create order %s failed: %s", o->order_id, e->msg);
		return status;
	}
	log_info("payment gateway: create order %s: HTTP %d in %lld ms", o->order_id, status,
		 (long long)((time_mono_us() - t0) / 1000));
	if (status < 200 || status > 299) {
		char *ex = arena_strdup(a, body ? body : "");
		clean_excerpt(ex, 200);
		return err_set(e, ERR_BAD_GATEWAY, "the payment gateway refused the order (HTTP %d): %s", status, ex);
	}
	json_t *j = NULL;
	struct err pe = {0};
	if (json_parse(body, strlen(body), &j, &pe) < 0 || !json_is_object(j)) {
		json_decref(j);
		return err_set(e, ERR_BAD_GATEWAY, "the payment gateway answered something that is not a JSON object");
	}
	json_t *ref = json_object_get(j, "gateway_ref"), *pay = json_object_get(j, "pay_url");
	int rc = 0;
	if (!json_is_string(ref) || !payment_ref_valid(json_string_value(ref)))
		rc = err_set(e, ERR_BAD_GATEWAY, "the payment gateway answered without a valid gateway_ref");
	else if (!json_is_string(pay) ||
		 (strncmp(json_string_value(pay), "http://", 7) != 0 &&
		  strncmp(json_string_value(pay), "https://", 8) != 0) ||
		 json_string_length(pay) > 2048)
		rc = err_set(e, ERR_BAD_GATEWAY, "the payment gateway answered without a valid pay_url");
	else {
		out->gateway_ref = arena_strdup(a, json_string_value(ref));
		out->pay_url = arena_strdup(a, json_string_value(pay));
	}
	json_decref(j);
	return rc;
}
