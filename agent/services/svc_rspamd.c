/*
 * svc_rspamd.c - the rspamd service: rspamd's action, mapped to ours.
 *
 * Keys: address (unix:/path or host:port of the normal worker), max_size
 * (default 20M: larger messages are not scanned), on_unscannable (what such
 * a message gets, as for spamd: default pass, traced as unscannable),
 * add_headers (default no: tagged mail also gets an X-Spamd-Result field with
 * the score and the symbols), and one key per rspamd action naming what
 * opesd does with it: on_no_action (pass), on_greylist (pass), on_add_header
 * (tag), on_rewrite_subject (tag), on_soft_reject (tempfail), on_reject (the
 * service's action, quarantine unless configured). The words are those of
 * rspamd_verdict_words; a new action of ours is one more row there. The score,
 * the required score and the symbols go into the reason, and so into the
 * trace records; as many symbols as a log line holds (1.5 KB) into the log.
 * Bypassable in every way and opt-out by default.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "opes/config.h"
#include "opes/endpoint.h"
#include "opes/log.h"
#include "opes/rspamd.h"
#include "opes/service.h"

/* what opesd may do with one of rspamd's actions */
static const struct config_word rspamd_verdict_words[] = {
    {"pass", SVC_PASS},     {"tag", SVC_TAG},           {"quarantine", SVC_QUARANTINE},
    {"reject", SVC_REJECT}, {"tempfail", SVC_TEMPFAIL}, {NULL, 0}};

struct rspamd_map {
    bool set; /* false: the service's action (on_reject only) */
    enum svc_verdict verdict;
};

struct rspamd_conf {
    struct endpoint ep;
    bool have_ep;
    uint64_t max_size;
    enum svc_verdict on_unscannable;
    bool add_headers;
    struct rspamd_map map[RSPAMD_N_ACTIONS]; /* by enum rspamd_action */
};

/* rspamd_address - the address key: unix:/path or host:port (field: the conf) */
static int rspamd_address(void *field, const char *value, const char **reason)
{
    struct rspamd_conf *c = field;

    c->have_ep = endpoint_parse(value, &c->ep, reason) == 0;
    return c->have_ep ? 0 : -1;
}

/* rspamd_map_parse - one on_ACTION key (field: its struct rspamd_map) */
static int rspamd_map_parse(void *field, const char *value, const char **reason)
{
    struct rspamd_map *m = field;
    int v = config_word_value(rspamd_verdict_words, value);

    if (v < 0) {
        *reason = "expected pass, tag, quarantine, reject or tempfail";
        return -1;
    }
    m->set = true;
    m->verdict = (enum svc_verdict)v;
    return 0;
}

#define OFF(f) .offset = offsetof(struct rspamd_conf, f)
static const struct config_key rspamd_keys[] = {
    {"rspamd", "address", CONFIG_PARSE, NULL, 0, 0, .offset = 0, .parse = rspamd_address},
    {"rspamd", "max_size", CONFIG_SIZE, "20M", 0, UINT64_MAX, OFF(max_size),
     .why = "expected a size such as 20M"},
    {"rspamd", "on_unscannable", CONFIG_ENUM, "pass", 0, 0, OFF(on_unscannable),
     .words = svc_unscannable_words},
    {"rspamd", "add_headers", CONFIG_BOOL, "no", 0, 0, OFF(add_headers)},
    {"rspamd", "on_no_action", CONFIG_PARSE, "pass", 0, 0, OFF(map[RSPAMD_NO_ACTION]),
     .parse = rspamd_map_parse},
    {"rspamd", "on_greylist", CONFIG_PARSE, "pass", 0, 0, OFF(map[RSPAMD_GREYLIST]),
     .parse = rspamd_map_parse},
    {"rspamd", "on_add_header", CONFIG_PARSE, "tag", 0, 0, OFF(map[RSPAMD_ADD_HEADER]),
     .parse = rspamd_map_parse},
    {"rspamd", "on_rewrite_subject", CONFIG_PARSE, "tag", 0, 0, OFF(map[RSPAMD_REWRITE_SUBJECT]),
     .parse = rspamd_map_parse},
    {"rspamd", "on_soft_reject", CONFIG_PARSE, "tempfail", 0, 0, OFF(map[RSPAMD_SOFT_REJECT]),
     .parse = rspamd_map_parse},
    {"rspamd", "on_reject", CONFIG_PARSE, NULL, 0, 0, OFF(map[RSPAMD_REJECT]),
     .parse = rspamd_map_parse},
};

static int rspamd_check_conf(struct svc *svc, const char **reason)
{
    struct rspamd_conf *c = svc->priv;

    if (!c->have_ep) {
        *reason = "rspamd needs address = host:port or unix:/path";
        return -1;
    }
    for (size_t i = 0; i < RSPAMD_N_ACTIONS; i++)
        if (!c->map[i].set)
            c->map[i] = (struct rspamd_map){true, svc->action};
    return 0;
}

/* rspamd_reason - "reject, score 15.00 / 15.00: SYM(1.00) ..." cut at a whole symbol. */
static void rspamd_reason(const struct rspamd_result *rr, char *buf, size_t size)
{
    size_t o, listed = 0;
    const char *s = rr->symbols;

    o = (size_t)snprintf(buf, size, "%s, score %.2f / %.2f%s", rspamd_action_name(rr->action),
                         rr->score, rr->required_score, rr->n_symbols > 0 ? ":" : "");
    while (*s != '\0' && o < size) {
        size_t n = strcspn(s, " ");
        /* room for " (+NNNN more)" after the symbols that fit */
        if (o + 1 + n + 16 >= size)
            break;
        buf[o++] = ' ';
        memcpy(buf + o, s, n);
        o += n;
        buf[o] = '\0';
        s += n + (s[n] == ' ');
        listed++;
    }
    if (listed < rr->n_symbols && o < size)
        snprintf(buf + o, size - o, " (+%zu more)", rr->n_symbols - listed);
}

/*
 * rspamd_result_field - X-Spamd-Result as rspamd's milter_headers writes it:
 * "default: True [score / required];" then the symbols, folded, whole ones only.
 */
static void rspamd_result_field(const struct rspamd_result *rr, char *buf, size_t size)
{
    size_t o, line;
    const char *s = rr->symbols;

    o = (size_t)snprintf(buf, size, "X-Spamd-Result: default: %s [%.2f / %.2f]",
                         rr->action >= RSPAMD_ADD_HEADER ? "True" : "False", rr->score,
                         rr->required_score);
    line = o;
    while (*s != '\0' && o < size) {
        size_t n = strcspn(s, " ");
        /* ";" and a fold or a space before it, CRLF after the field */
        if (line + n + 2 > 76) {
            if (o + n + 5 >= size || n + 2 > 76)
                break;
            memcpy(buf + o, ";\r\n\t", 4);
            o += 4;
            line = 1;
        } else {
            if (o + n + 4 >= size)
                break;
            memcpy(buf + o, "; ", 2);
            o += 2;
            line += 2;
        }
        memcpy(buf + o, s, n);
        o += n;
        line += n;
        s += n + (s[n] == ' ');
    }
    if (o + 3 <= size)
        memcpy(buf + o, "\r\n", 3);
    else
        buf[0] = '\0';
}

static void rspamd_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct rspamd_conf *c = svc->priv;
    const struct rspamd_request req = {.from = m->sender,
                                       .rcpts = m->rcpts,
                                       .nrcpts = m->nrcpts,
                                       .ip = m->client_addr,
                                       .helo = m->helo,
                                       .hostname = m->client_name,
                                       .queue_id = m->trace_id};
    struct rspamd_result rr;
    const char *error = "";
    char more[32] = "";
    size_t o = 0;

    if (svc_too_big(svc, m, r, c->max_size, c->on_unscannable))
        return;
    if (rspamd_check(&c->ep, (int)svc->timeout_s * 1000, m->spool, &req, &rr, &error) < 0) {
        r->failed = true;
        snprintf(r->reason, sizeof(r->reason), "%s", error);
        return;
    }
    if (rr.n_listed < rr.n_symbols)
        snprintf(more, sizeof(more), " more=%zu", rr.n_symbols - rr.n_listed);
    log_info("service=%s action=\"%s\" score=%.2f required=%.2f symbols=\"%s\"%s", svc->name,
             rspamd_action_name(rr.action), rr.score, rr.required_score, rr.symbols, more);
    rspamd_reason(&rr, r->reason, sizeof(r->reason));
    r->verdict = c->map[rr.action].verdict;
    if (r->verdict == SVC_PASS)
        return;
    svc_words_spam(r, rr.score, rr.required_score);
    o = (size_t)snprintf(r->headers, sizeof(r->headers), "X-Spam: Yes\r\n");
    if (c->add_headers)
        rspamd_result_field(&rr, r->headers + o, sizeof(r->headers) - o);
}

const struct svc_type svc_type_rspamd = {
    .name = "rspamd",
    .keys = rspamd_keys,
    .n_keys = sizeof(rspamd_keys) / sizeof(rspamd_keys[0]),
    .priv_size = sizeof(struct rspamd_conf),
    .check = rspamd_check_conf,
    .run = rspamd_run,
};
