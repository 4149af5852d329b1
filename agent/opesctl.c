/*
 * opesctl.c - the administrator's command line on opesd's store.
 *
 * Reads the same configuration as opesd (-c FILE) and opens the same store.
 * It never talks to the MTA or the mailbox store: a release is a request row
 * that opesd carries out (--wait follows it to the end). Every change is
 * written to the audit log with the Unix user as actor and origin "cli".
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "opes/config.h"
#include "opes/digest.h"
#include "opes/i18n.h"
#include "opes/keys.h"
#include "opes/log.h"
#include "opes/schedule.h"
#include "opes/store.h"
#include "opes/token.h"
#include "opes/trace.h"

struct ctl {
    struct opes_config *cfg;
    struct store *st;
    char actor[64];
    bool json;
};

static int ctl_usage(void)
{
    fprintf(
        stderr,
        "usage: opesctl [-c FILE] COMMAND ...\n"
        "  check                                   configuration, key file and store integrity\n"
        "  quarantine list [--recipient R] [--status S] [--search TEXT] [--limit N] [--offset N] "
        "[--json]\n"
        "  quarantine show ID [--json]\n"
        "  quarantine add --from S --to R [--to R...] [--service NAME] [--reason TEXT] < MESSAGE\n"
        "  quarantine content ID                   the held message on stdout\n"
        "  quarantine release ID [--whitelist[=address|domain]] [--wait]\n"
        "  quarantine delete ID\n"
        "  list add white|block OWNER SENDER [--expires DAYS]\n"
        "  list remove ENTRY-ID\n"
        "  list show [OWNER] [--json]\n"
        "  user add ADDRESS [--admin] [--domain-admin DOMAIN ...]\n"
        "  user domains [ADDRESS]                  domain administrators and their domains\n"
        "  user domain-remove ADDRESS [DOMAIN]     no longer administrator of DOMAIN (or any)\n"
        "  user passwd ADDRESS                     password from the terminal (or one line of "
        "stdin)\n"
        "  user list [--json]\n"
        "  user consent ADDRESS SERVICE on|off      the recipient's choice for an opt-out/opt-in "
        "service\n"
        "  user spam ADDRESS [default|lenient|normal|strict|custom TAG JUNK QUARANTINE]\n"
        "                                          where the recipient's spam goes, and from "
        "which score\n"
        "  user notify ADDRESS default|immediate|digest|off [daily@HH|\"every Nh\"]\n"
        "                                          how the recipient hears of held mail\n"
        "  user set ADDRESS [--language LANG|default] [--timezone ZONE|default]\n"
        "                                          the language and time zone of their mail\n"
        "  delegate add|remove OWNER ADDRESS      ADDRESS sees and releases OWNER's held mail\n"
        "  delegate list [OWNER]\n"
        "  request list [--all] [--json]           release requests waiting for a decision\n"
        "  request approve|deny ID [--comment TEXT]\n"
        "  token issue --recipient R --service NAME[,NAME] [--sender S] [--days N|--seconds N]\n"
        "                                          a bypass token for R to hand to a sender\n"
        "  token verify TOKEN [--use]              check a link token (--use: spend it once)\n"
        "  token api ADDRESS [--name NAME] [--days N]\n"
        "                                          an API token for ADDRESS, shown once\n"
        "  token list ADDRESS                      ADDRESS's API tokens (never their secrets)\n"
        "  token revoke TOKEN-ID                   end an API token\n"
        "  digest run [ADDRESS]                    record digests now; opesd sends them\n"
        "  link ADDRESS [--seconds N] [--item ID --action ACTION]\n"
        "                                          a portal login link (or an action link: "
        "release,\n"
        "                                          release-whitelist, block, delete, not-spam) for "
        "ADDRESS\n"
        "  trace TRACE-ID [--json]\n"
        "  audit [--limit N] [--json]\n"
        "  purge                                   apply [store] retention_days and ledger_days "
        "now\n"
        "  key rotate                              add a new key generation\n"
        "  store copy --to CONNINFO                copy the store into an empty PostgreSQL one\n");
    return 2;
}

static int ctl_fail(const char *what, const char *error)
{
    fprintf(stderr, "opesctl: %s: %s\n", what, error);
    return 1;
}

static void ctl_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void ctl_json_print(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s != NULL)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

/* ------------------------------------------------------------ quarantine */

static json_t *ctl_qitem_json(const struct store_qitem *it)
{
    char c[32], u[32];
    ctl_time(it->created, c, sizeof(c));
    ctl_time(it->updated, u, sizeof(u));
    /* original: the address the message named when a rewrite mapped it to recipient */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "id", it->id, "trace", it->trace_id, "sender", it->sender, "from_name",
                     it->from_name, "recipient", it->recipient, "subject", it->subject, "date",
                     it->date, "size", (json_int_t)it->size, "service", it->service, "reason",
                     it->reason, "words", it->words, "status", store_qstatus_name(it->status),
                     "created", c, "updated", u, "original", it->original);
}

static void ctl_list_cb(const struct store_qitem *it, void *ctx)
{
    json_t *arr = ctx;
    char when[32];

    if (arr != NULL) {
        json_array_append_new(arr, ctl_qitem_json(it));
        return;
    }
    ctl_time(it->created, when, sizeof(when));
    printf("%s  %-8s %s  <%s> -> <%s>  %s: %s  \"%s\"\n", it->id, store_qstatus_name(it->status),
           when, it->sender, it->recipient, it->service, it->reason, it->subject);
}

static int ctl_q_list(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"recipient", 1, 0, 'r'},
                                         {"status", 1, 0, 's'},
                                         {"search", 1, 0, 'q'},
                                         {"limit", 1, 0, 'l'},
                                         {"offset", 1, 0, 'o'},
                                         {"json", 0, 0, 'j'},
                                         {0, 0, 0, 0}};
    struct store_qfilter f = {.status = -1, .limit = 50};
    const char *error;
    json_t *arr = NULL;
    int ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            f.recipient = optarg;
            break;
        case 'q':
            f.search = optarg;
            break;
        case 'l':
            f.limit = strtoul(optarg, NULL, 10);
            break;
        case 'o':
            f.offset = strtoul(optarg, NULL, 10);
            break;
        case 'j':
            c->json = true;
            break;
        case 's':
            for (int s = 0; s < 4; s++)
                if (strcmp(optarg, store_qstatus_name((enum store_qstatus)s)) == 0)
                    f.status = s;
            if (f.status < 0)
                return ctl_fail("--status", "expected held, released, deleted or expired");
            break;
        default:
            return ctl_usage();
        }
    }
    if (c->json)
        arr = json_array();
    if (store_quarantine_list(c->st, &f, ctl_list_cb, arr, &error) < 0)
        return ctl_fail("quarantine list", error);
    if (arr != NULL)
        ctl_json_print(arr);
    return 0;
}

static void ctl_trace_cb(const struct store_trace *t, void *ctx)
{
    json_t *arr = ctx;
    char when[32];

    if (arr != NULL) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "trace",
                                             t->trace_id, "recipient", t->recipient, "event",
                                             t->event, "service", t->service, "verdict", t->verdict,
                                             "detail", t->detail, "duration_ms",
                                             (json_int_t)t->duration_ms, "at", (json_int_t)t->at));
        return;
    }
    ctl_time(t->at, when, sizeof(when));
    printf("  %s  %-10s rcpt=<%s> service=%s verdict=%s ms=%lld %s\n", when, t->event, t->recipient,
           t->service[0] ? t->service : "-", t->verdict[0] ? t->verdict : "-",
           (long long)t->duration_ms, t->detail);
}

static int ctl_q_show(struct ctl *c, int argc, char **argv)
{
    struct store_qitem it;
    char state[16] = "", last[256] = "", when[32];
    const char *error = "";
    int rc;

    if (argc < 2)
        return ctl_usage();
    c->json = argc > 2 && strcmp(argv[2], "--json") == 0;
    rc = store_quarantine_get(c->st, argv[1], &it, &error);
    if (rc == STORE_NOTFOUND)
        return ctl_fail(argv[1], "no such quarantine item");
    if (rc < 0)
        return ctl_fail("quarantine show", error);
    store_release_state(c->st, it.id, state, sizeof(state), last, sizeof(last), &error);
    if (strcmp(state, "done") == 0) /* the words of the portal and the API */
        snprintf(state, sizeof(state), "delivered");
    if (c->json) {
        json_t *j = ctl_qitem_json(&it), *tr = json_array();
        store_trace_list(c->st, it.trace_id, ctl_trace_cb, tr, &error);
        json_object_set_new(j, "trace_records", tr);
        json_object_set_new(j, "release",
                            json_pack("{s:s, s:s}", "state", state, "last_error", last));
        ctl_json_print(j);
        return 0;
    }
    ctl_time(it.created, when, sizeof(when));
    printf("id:        %s\nstatus:    %s\ntrace:     %s\nsender:    <%s>\nrecipient: <%s>\n"
           "subject:   %s\ndate:      %s\nsize:      %llu\nheld by:   %s (%s)\nheld at:   %s\n",
           it.id, store_qstatus_name(it.status), it.trace_id, it.sender, it.recipient, it.subject,
           it.date, (unsigned long long)it.size, it.service, it.reason, when);
    if (state[0] != '\0')
        printf("release:   %s%s%s\n", state, last[0] ? " - " : "", last);
    printf("trace records:\n");
    return store_trace_list(c->st, it.trace_id, ctl_trace_cb, NULL, &error) < 0
               ? ctl_fail("trace", error)
               : 0;
}

/* A store_reader over a temporary copy of stdin (it must be read twice). */
static ssize_t ctl_file_read(void *ctx, void *buf, size_t len)
{
    size_t n = fread(buf, 1, len, ctx);
    return n == 0 && ferror((FILE *)ctx) ? -1 : (ssize_t)n;
}

static int ctl_file_rewind(void *ctx)
{
    rewind(ctx);
    return 0;
}

/* ctl_header - the unfolded value of a header field of the message (for display). */
static void ctl_header(FILE *f, const char *name, char *out, size_t size)
{
    char line[1000];
    size_t nlen = strlen(name), o = 0;
    bool in = false;

    out[0] = '\0';
    rewind(f);
    while (fgets(line, sizeof(line), f) != NULL && line[0] != '\r' && line[0] != '\n') {
        if (in && (line[0] == ' ' || line[0] == '\t')) {
            /* continuation */
        } else if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            in = o == 0;
            memmove(line, line + nlen + 1, strlen(line + nlen + 1) + 1);
        } else {
            in = false;
            continue;
        }
        if (!in)
            continue;
        for (char *p = line; *p != '\0' && o + 1 < size; p++) {
            char ch = *p == '\t' ? ' ' : *p;
            if (ch == '\r' || ch == '\n' || (o == 0 && ch == ' '))
                continue;
            out[o++] = ch;
        }
        out[o] = '\0';
    }
}

static int ctl_q_add(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"from", 1, 0, 'f'},    {"to", 1, 0, 't'},
                                         {"service", 1, 0, 's'}, {"reason", 1, 0, 'r'},
                                         {"trace", 1, 0, 'i'},   {0, 0, 0, 0}};
    struct store_qitem items[64];
    const char *from = NULL, *service = "manual", *reason = "held by an administrator", *error;
    char trace[TRACE_ID_LEN + 1], buf[65536], subject[256], date[64];
    size_t n = 0, got;
    FILE *tmp;
    int ch;

    trace_id_new(trace);
    memset(items, 0, sizeof(items));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'f':
            from = optarg;
            break;
        case 't':
            if (n == 64)
                return ctl_fail("--to", "at most 64 recipients");
            snprintf(items[n++].recipient, sizeof(items[0].recipient), "%s", optarg);
            break;
        case 's':
            service = optarg;
            break;
        case 'r':
            reason = optarg;
            break;
        case 'i':
            snprintf(trace, sizeof(trace), "%s", optarg);
            break;
        default:
            return ctl_usage();
        }
    }
    if (from == NULL || n == 0)
        return ctl_usage();
    tmp = tmpfile();
    if (tmp == NULL)
        return ctl_fail("tmpfile", strerror(errno));
    while ((got = fread(buf, 1, sizeof(buf), stdin)) > 0)
        fwrite(buf, 1, got, tmp);
    ctl_header(tmp, "Subject", subject, sizeof(subject));
    ctl_header(tmp, "Date", date, sizeof(date));
    for (size_t i = 0; i < n; i++) {
        snprintf(items[i].trace_id, sizeof(items[i].trace_id), "%s", trace);
        snprintf(items[i].sender, sizeof(items[i].sender), "%s", from);
        snprintf(items[i].service, sizeof(items[i].service), "%s", service);
        snprintf(items[i].reason, sizeof(items[i].reason), "%s", reason);
        snprintf(items[i].subject, sizeof(items[i].subject), "%s", subject);
        snprintf(items[i].date, sizeof(items[i].date), "%s", date);
    }
    struct store_reader r = {.read = ctl_file_read, .rewind = ctl_file_rewind, .ctx = tmp};
    if (store_quarantine_add(c->st, items, n, &r, &error) < 0) {
        fclose(tmp);
        return ctl_fail("quarantine add", error);
    }
    fclose(tmp);
    for (size_t i = 0; i < n; i++) {
        char object[64];
        snprintf(object, sizeof(object), "quarantine:%s", items[i].id);
        store_audit(c->st, c->actor, "quarantine-add", object, "cli", &error);
        printf("%s %s\n", items[i].id, items[i].recipient);
    }
    return 0;
}

static int ctl_write_stdout(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    return fwrite(buf, 1, len, stdout) == len ? 0 : -1;
}

static int ctl_q_content(struct ctl *c, int argc, char **argv)
{
    const char *error = "";
    char object[64];
    int rc;

    if (argc != 2)
        return ctl_usage();
    snprintf(object, sizeof(object), "quarantine:%s", argv[1]);
    store_audit(c->st, c->actor, "quarantine-content", object, "cli", &error);
    rc = store_quarantine_content(c->st, argv[1], ctl_write_stdout, NULL, &error);
    if (rc == STORE_NOTFOUND)
        return ctl_fail(argv[1], "no such item, or its content is gone");
    return rc < 0 ? ctl_fail("quarantine content", error) : 0;
}

/* ctl_wait_release - follow a release request until opesd finished it. */
static int ctl_wait_release(struct ctl *c, const char *id, int seconds)
{
    char state[16], last[256];
    const char *error;

    for (int i = 0; i < seconds * 10; i++) {
        if (store_release_state(c->st, id, state, sizeof(state), last, sizeof(last), &error) == 0) {
            if (strcmp(state, "done") == 0) {
                printf("%s released\n", id);
                return 0;
            }
            if (strcmp(state, "failed") == 0)
                return ctl_fail(id, last);
        }
        usleep(100000);
    }
    fprintf(stderr, "opesctl: %s: still pending after %d s%s%s (opesd retries it)\n", id, seconds,
            last[0] ? ": " : "", last);
    return 3;
}

static int ctl_q_release(struct ctl *c, int argc, char **argv)
{
    struct store_release r = {.attempts = 0};
    const char *error, *id = NULL;
    bool wait = false;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--whitelist") == 0 || strcmp(argv[i], "--whitelist=address") == 0)
            snprintf(r.whitelist, sizeof(r.whitelist), "address");
        else if (strcmp(argv[i], "--whitelist=domain") == 0)
            snprintf(r.whitelist, sizeof(r.whitelist), "domain");
        else if (strcmp(argv[i], "--wait") == 0)
            wait = true;
        else if (argv[i][0] != '-' && id == NULL)
            id = argv[i];
        else
            return ctl_usage();
    }
    if (id == NULL)
        return ctl_usage();
    snprintf(r.item_id, sizeof(r.item_id), "%s", id);
    snprintf(r.requested_by, sizeof(r.requested_by), "%s", c->actor);
    snprintf(r.origin, sizeof(r.origin), "cli");
    rc = store_release_request(c->st, &r, &error);
    if (rc == STORE_NOTFOUND)
        return ctl_fail(id, "no such item, or it is not held");
    if (rc < 0)
        return ctl_fail("quarantine release", error);
    if (!wait) {
        printf("%s release requested; opesd delivers it\n", id);
        return 0;
    }
    return ctl_wait_release(c, id, 120);
}

static int ctl_q_delete(struct ctl *c, int argc, char **argv)
{
    struct store_qitem it;
    const char *error = "";
    char object[64];
    int rc;

    if (argc != 2)
        return ctl_usage();
    rc = store_quarantine_get(c->st, argv[1], &it, &error);
    if (rc == 0 && it.status != STORE_HELD)
        return ctl_fail(argv[1], "not held");
    if (rc == 0)
        rc = store_quarantine_set_status(c->st, argv[1], STORE_DELETED, &error);
    if (rc == STORE_NOTFOUND)
        return ctl_fail(argv[1], "no such quarantine item");
    if (rc < 0)
        return ctl_fail("quarantine delete", error);
    snprintf(object, sizeof(object), "quarantine:%s", argv[1]);
    store_audit(c->st, c->actor, "quarantine-delete", object, "cli", &error);
    printf("%s deleted\n", argv[1]);
    return 0;
}

static int ctl_quarantine(struct ctl *c, int argc, char **argv)
{
    if (argc < 2)
        return ctl_usage();
    if (strcmp(argv[1], "list") == 0)
        return ctl_q_list(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return ctl_q_show(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "add") == 0)
        return ctl_q_add(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "content") == 0)
        return ctl_q_content(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "release") == 0)
        return ctl_q_release(c, argc - 1, argv + 1);
    if (strcmp(argv[1], "delete") == 0)
        return ctl_q_delete(c, argc - 1, argv + 1);
    return ctl_usage();
}

/* ------------------------------------------------------------ lists */

static void ctl_lshow_cb(const struct store_list_entry *e, void *ctx)
{
    json_t *arr = ctx;
    char when[32] = "never";

    if (e->expires != 0)
        ctl_time(e->expires, when, sizeof(when));
    if (arr != NULL) {
        json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
                                             (json_int_t)e->id, "kind",
                                             e->kind == STORE_WHITELIST ? "white" : "block",
                                             "owner", e->owner, "sender", e->sender, "created_by",
                                             e->created_by, "origin", e->origin, "expires", when));
        return;
    }
    printf("%lld  %s  owner=%s sender=%s by=%s origin=%s expires=%s\n", (long long)e->id,
           e->kind == STORE_WHITELIST ? "white" : "block", e->owner, e->sender, e->created_by,
           e->origin, when);
}

/* ctl_list_value - an owner or sender: address, @domain or '*'. */
static bool ctl_list_value(const char *v)
{
    return strcmp(v, "*") == 0 || (strchr(v, '@') != NULL && strlen(v) > 1 && strlen(v) < 256 &&
                                   strpbrk(v, " <>\"") == NULL);
}

static int ctl_list(struct ctl *c, int argc, char **argv)
{
    const char *error;

    if (argc >= 5 && strcmp(argv[1], "add") == 0) {
        struct store_list_entry e = {.kind = strcmp(argv[2], "block") == 0 ? STORE_BLOCKLIST
                                                                           : STORE_WHITELIST};
        if ((strcmp(argv[2], "white") != 0 && strcmp(argv[2], "block") != 0) ||
            !ctl_list_value(argv[3]) || !ctl_list_value(argv[4]))
            return ctl_fail("list add", "expected white|block OWNER SENDER, each an address, "
                                        "@domain or *");
        if (argc == 7 && strcmp(argv[5], "--expires") == 0)
            e.expires = (int64_t)time(NULL) + atoll(argv[6]) * 86400;
        else if (argc != 5)
            return ctl_usage();
        snprintf(e.owner, sizeof(e.owner), "%s", argv[3]);
        snprintf(e.sender, sizeof(e.sender), "%s", argv[4]);
        snprintf(e.created_by, sizeof(e.created_by), "%s", c->actor);
        snprintf(e.origin, sizeof(e.origin), "cli");
        if (store_list_add(c->st, &e, &error) < 0)
            return ctl_fail("list add", error);
        store_audit(c->st, c->actor, "list-add", argv[4], "cli", &error);
        printf("added %s owner=%s sender=%s\n", argv[2], argv[3], argv[4]);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "remove") == 0) {
        int rc = store_list_remove(c->st, atoll(argv[2]), &error);
        if (rc == STORE_NOTFOUND)
            return ctl_fail(argv[2], "no such list entry");
        if (rc < 0)
            return ctl_fail("list remove", error);
        store_audit(c->st, c->actor, "list-remove", argv[2], "cli", &error);
        printf("removed %s\n", argv[2]);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "show") == 0) {
        const char *owner = NULL;
        json_t *arr = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--json") == 0)
                arr = json_array();
            else
                owner = argv[i];
        }
        if (store_list_show(c->st, owner, ctl_lshow_cb, arr, &error) < 0)
            return ctl_fail("list show", error);
        if (arr != NULL)
            ctl_json_print(arr);
        return 0;
    }
    return ctl_usage();
}

/* ------------------------------------------------------------ users */

static void ctl_user_cb(const struct store_user *u, void *ctx)
{
    if (ctx != NULL)
        json_array_append_new(ctx, json_pack("{s:s, s:s, s:b}", "address", u->address, "role",
                                             u->role == STORE_ROLE_ADMIN ? "admin" : "user",
                                             "password", u->has_password));
    else
        printf("%s  %s%s\n", u->address, u->role == STORE_ROLE_ADMIN ? "admin" : "user",
               u->has_password ? "  (password set)" : "");
}

/* ctl_read_password - without echo from a terminal, else one line of stdin. */
static int ctl_read_password(char *buf, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    char *ok;

    if (tty) {
        fprintf(stderr, "password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    ok = fgets(buf, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (ok == NULL)
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return strlen(buf) >= 10 ? 0 : -2;
}

/* ctl_spam_print - "ADDRESS: spam LEVEL [tag T junk J quarantine Q]" */
static void ctl_spam_print(const char *address, const struct store_spam *sp)
{
    char j[16];

    if (strcmp(sp->level, "custom") != 0) {
        printf("%s: spam %s\n", address, sp->level);
        return;
    }
    snprintf(j, sizeof(j), isinf(sp->junk) ? "off" : "%.1f", sp->junk);
    printf("%s: spam custom tag %.1f junk %s quarantine %.1f\n", address, sp->tag, j,
           sp->quarantine);
}

/* ctl_user_spam - user spam ADDRESS [LEVEL [TAG JUNK QUARANTINE]]: show or set the level. */
static int ctl_user_spam(struct ctl *c, int argc, char **argv)
{
    struct store_spam sp = {.level = "default"};
    const char *error = "";
    char object[400];
    int rc;

    if (!ctl_list_value(argv[2]) || argv[2][0] == '@' || argc == 5 || argc == 6 || argc > 7)
        return ctl_usage();
    if (argc == 3) {
        if ((rc = store_user_spam(c->st, argv[2], &sp, &error)) < 0)
            return ctl_fail("user spam", error);
        if (rc == 0)
            snprintf(sp.level, sizeof(sp.level), "default");
        ctl_spam_print(argv[2], &sp);
        return 0;
    }
    if (strcmp(argv[3], "default") != 0 &&
        store_spam_parse(argv[3], argc == 7 ? (const char *const *)argv + 4 : NULL, &sp, &error) <
            0)
        return ctl_fail("user spam", error);
    if ((argc == 7) != (strcmp(sp.level, "custom") == 0))
        return ctl_usage();
    if (store_user_set_spam(c->st, argv[2], strcmp(argv[3], "default") == 0 ? NULL : &sp, &error) <
        0)
        return ctl_fail("user spam", error);
    snprintf(object, sizeof(object), "%s:%s%s%s%s%s%s%s", argv[2], argv[3], argc == 7 ? " " : "",
             argc == 7 ? argv[4] : "", argc == 7 ? " " : "", argc == 7 ? argv[5] : "",
             argc == 7 ? " " : "", argc == 7 ? argv[6] : "");
    store_audit(c->st, c->actor, "spam-level", object, "cli", &error);
    ctl_spam_print(argv[2], &sp);
    return 0;
}

/*
 * ctl_user_set - "user set ADDRESS [--language LANG] [--timezone ZONE]": what
 * is not named stays; "default" (or "") gives the choice back to [web]
 * default_language / default_timezone.
 */
static int ctl_user_set(struct ctl *c, int argc, char **argv)
{
    char lang[I18N_LANG_MAX] = "", tz[64] = "", object[400];
    const char *error;

    if (!ctl_list_value(argv[2]) || argv[2][0] == '@' || argc % 2 == 0)
        return ctl_usage();
    if (store_user_locale(c->st, argv[2], lang, sizeof(lang), tz, sizeof(tz), &error) < 0)
        return ctl_fail("user set", error);
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *v = strcmp(argv[i + 1], "default") == 0 ? "" : argv[i + 1];
        if (strcmp(argv[i], "--language") == 0) {
            if (*v != '\0' && !i18n_language_known(v)) {
                fprintf(stderr, "opesctl: user set: no catalog for language \"%s\" (known: %s)\n",
                        v, i18n_languages());
                return 1;
            }
            snprintf(lang, sizeof(lang), "%s", v);
        } else if (strcmp(argv[i], "--timezone") == 0) {
            if (*v != '\0' && (strlen(v) >= sizeof(tz) || !i18n_tz_valid(v)))
                return ctl_fail("user set", "no such time zone (an IANA name: Europe/Berlin)");
            snprintf(tz, sizeof(tz), "%s", v);
        } else {
            return ctl_usage();
        }
    }
    if (store_user_set_locale(c->st, argv[2], lang, tz, &error) < 0)
        return ctl_fail("user set", error);
    snprintf(object, sizeof(object), "%s:language=%s timezone=%s", argv[2], lang, tz);
    store_audit(c->st, c->actor, "user-locale", object, "cli", &error);
    printf("%s: language %s, time zone %s\n", argv[2], lang[0] != '\0' ? lang : "default",
           tz[0] != '\0' ? tz : "default");
    return 0;
}

/* ctl_domain_cb - one "ADDRESS DOMAIN" line of user domains. */
static void ctl_domain_cb(const char *address, const char *domain, void *ctx)
{
    (void)ctx;
    printf("%s %s\n", address, domain);
}

/* ctl_user_add - "add ADDRESS [--admin] [--domain-admin DOMAIN ...]". */
static int ctl_user_add(struct ctl *c, int argc, char **argv)
{
    const char *error, *addr = argv[2];
    bool admin = false;
    char object[600];

    if (!ctl_list_value(addr) || addr[0] == '@')
        return ctl_usage();
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0)
            admin = true;
        else if (strcmp(argv[i], "--domain-admin") != 0 || ++i == argc || argv[i][0] == '\0' ||
                 strchr(argv[i] + 1, '@') != NULL)
            return ctl_usage();
    }
    if (store_user_add(c->st, addr, admin ? STORE_ROLE_ADMIN : STORE_ROLE_USER, &error) < 0)
        return ctl_fail("user add", error);
    store_audit(c->st, c->actor, admin ? "user-add-admin" : "user-add", addr, "cli", &error);
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--domain-admin") != 0)
            continue;
        i++;
        if (store_domain_admin_add(c->st, addr, argv[i], &error) < 0)
            return ctl_fail("user add", error);
        snprintf(object, sizeof(object), "%s:%s", addr, argv[i]);
        store_audit(c->st, c->actor, "domain-admin-add", object, "cli", &error);
        printf("%s administers %s\n", addr, argv[i]);
    }
    printf("user %s (%s)\n", addr, admin ? "admin" : "user");
    return 0;
}

static int ctl_user(struct ctl *c, int argc, char **argv)
{
    const char *error;

    if (argc >= 3 && strcmp(argv[1], "add") == 0)
        return ctl_user_add(c, argc, argv);
    if (argc <= 3 && strcmp(argv[1], "domains") == 0) {
        if (store_domain_admin_list(c->st, argc == 3 ? argv[2] : NULL, ctl_domain_cb, NULL,
                                    &error) < 0)
            return ctl_fail("user domains", error);
        return 0;
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "domain-remove") == 0) {
        char object[600];
        int rc = store_domain_admin_remove(c->st, argv[2], argc == 4 ? argv[3] : NULL, &error);
        if (rc == STORE_NOTFOUND)
            return ctl_fail(argv[2], "no such domain administrator");
        if (rc < 0)
            return ctl_fail("user domain-remove", error);
        snprintf(object, sizeof(object), "%s:%s", argv[2], argc == 4 ? argv[3] : "*");
        store_audit(c->st, c->actor, "domain-admin-remove", object, "cli", &error);
        printf("%s no longer administers %s\n", argv[2], argc == 4 ? argv[3] : "any domain");
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "passwd") == 0) {
        char pw[256];
        int rc = ctl_read_password(pw, sizeof(pw));
        if (rc < 0) {
            sodium_memzero(pw, sizeof(pw));
            return ctl_fail("user passwd", rc == -2 ? "a password needs at least 10 characters"
                                                    : "no password given");
        }
        rc = store_user_set_password(c->st, argv[2], pw, &error);
        sodium_memzero(pw, sizeof(pw));
        if (rc == STORE_NOTFOUND)
            return ctl_fail(argv[2], "no such user (opesctl user add first)");
        if (rc < 0)
            return ctl_fail("user passwd", error);
        store_audit(c->st, c->actor, "user-passwd", argv[2], "cli", &error);
        printf("password of %s set\n", argv[2]);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "consent") == 0) {
        bool on = strcmp(argv[4], "on") == 0;
        char object[300];
        if ((!on && strcmp(argv[4], "off") != 0) || !ctl_list_value(argv[2]))
            return ctl_usage();
        if (store_user_set_consent(c->st, argv[2], argv[3], on, &error) < 0)
            return ctl_fail("user consent", error);
        snprintf(object, sizeof(object), "%s:%s=%s", argv[2], argv[3], on ? "on" : "off");
        store_audit(c->st, c->actor, "consent", object, "cli", &error);
        printf("%s: %s %s\n", argv[2], argv[3], on ? "on" : "off");
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "spam") == 0)
        return ctl_user_spam(c, argc, argv);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "notify") == 0) {
        static const char *const modes[] = {"default", "immediate", "digest", "off"};
        struct schedule ds;
        char object[400];
        bool ok = false;
        for (size_t i = 0; i < 4; i++)
            ok = ok || strcmp(argv[3], modes[i]) == 0;
        if (!ok || !ctl_list_value(argv[2]) || argv[2][0] == '@' ||
            (argc == 5 && schedule_parse(argv[4], &ds) < 0))
            return ctl_usage();
        if (store_user_set_notify(c->st, argv[2], argv[3], argc == 5 ? argv[4] : "", &error) < 0)
            return ctl_fail("user notify", error);
        snprintf(object, sizeof(object), "%s:%s %s", argv[2], argv[3], argc == 5 ? argv[4] : "");
        store_audit(c->st, c->actor, "notify-mode", object, "cli", &error);
        printf("%s: notify %s%s%s\n", argv[2], argv[3], argc == 5 ? " " : "",
               argc == 5 ? argv[4] : "");
        return 0;
    }
    if (argc >= 5 && strcmp(argv[1], "set") == 0)
        return ctl_user_set(c, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        json_t *arr = argc == 3 && strcmp(argv[2], "--json") == 0 ? json_array() : NULL;
        if (store_user_list(c->st, ctl_user_cb, arr, &error) < 0)
            return ctl_fail("user list", error);
        if (arr != NULL)
            ctl_json_print(arr);
        return 0;
    }
    return ctl_usage();
}

/* ------------------------------------------------------------ delegates and requests */

/* ctl_delegate_cb - one "OWNER ADDRESS" line of delegate list. */
static void ctl_delegate_cb(const struct store_delegate *d, void *ctx)
{
    (void)ctx;
    printf("%s %s\n", d->owner, d->address);
}

/* ctl_delegate - "add|remove OWNER ADDRESS", "list [OWNER]". */
static int ctl_delegate(struct ctl *c, int argc, char **argv)
{
    bool add = argc == 4 && strcmp(argv[1], "add") == 0;
    char object[600];
    const char *error;
    int rc;

    if (argc >= 2 && argc <= 3 && strcmp(argv[1], "list") == 0) {
        if (store_delegate_list(c->st, argc == 3 ? argv[2] : NULL, NULL, ctl_delegate_cb, NULL,
                                &error) < 0)
            return ctl_fail("delegate list", error);
        return 0;
    }
    if (!add && (argc != 4 || strcmp(argv[1], "remove") != 0))
        return ctl_usage();
    rc = add ? store_delegate_add(c->st, argv[2], argv[3], c->actor, &error)
             : store_delegate_remove(c->st, argv[2], argv[3], &error);
    if (rc == STORE_NOTFOUND)
        return ctl_fail(argv[3], "no such delegate");
    if (rc < 0)
        return ctl_fail(add ? "delegate add" : "delegate remove", error);
    snprintf(object, sizeof(object), "%s:%s", argv[2], argv[3]);
    store_audit(c->st, c->actor, add ? "delegate-add" : "delegate-remove", object, "cli", &error);
    printf("%s %s the held mail of %s\n", argv[3], add ? "sees" : "no longer sees", argv[2]);
    return 0;
}

/* ctl_request_cb - one request as a line, or into the JSON array ctx. */
static void ctl_request_cb(const struct store_approval *a, void *ctx)
{
    json_t *arr = ctx;
    char when[32];

    ctl_time(a->created, when, sizeof(when));
    if (arr != NULL) {
        json_array_append_new(
            arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "id",
                           (json_int_t)a->id, "state", a->state, "requested_by", a->requested_by,
                           "reason", a->reason, "created", when, "decided_by", a->decided_by,
                           "comment", a->comment, "recipient", a->item.recipient, "service",
                           a->item.service, "item", ctl_qitem_json(&a->item)));
        return;
    }
    printf("%lld  %-8s %s  %s  <%s> -> <%s>  %s  by %s%s%s\n", (long long)a->id, a->state, when,
           a->item.id, a->item.sender, a->item.recipient, a->item.service, a->requested_by,
           a->reason[0] ? ": " : "", a->reason);
}

/* ctl_request - "list [--all] [--json]", "approve|deny ID [--comment TEXT]". */
static int ctl_request(struct ctl *c, int argc, char **argv)
{
    const char *error, *comment = "";
    bool approve = argc >= 3 && strcmp(argv[1], "approve") == 0;
    char *end;
    long long id;
    int rc;

    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        bool all = false;
        json_t *arr = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--all") == 0)
                all = true;
            else if (strcmp(argv[i], "--json") == 0 && arr == NULL)
                arr = json_array();
            else
                return ctl_usage();
        }
        if (store_approval_list(c->st, all ? NULL : "pending", NULL, 0, ctl_request_cb, arr,
                                &error) < 0)
            return ctl_fail("request list", error);
        if (arr != NULL)
            ctl_json_print(arr);
        return 0;
    }
    if (argc < 3 || (!approve && strcmp(argv[1], "deny") != 0))
        return ctl_usage();
    id = strtoll(argv[2], &end, 10);
    if (*end != '\0' || id <= 0)
        return ctl_usage();
    if (argc == 5 && strcmp(argv[3], "--comment") == 0)
        comment = argv[4];
    else if (argc != 3)
        return ctl_usage();
    rc = store_approval_decide(c->st, id, approve, c->actor, "cli", comment, &error);
    if (rc == STORE_NOTFOUND)
        return ctl_fail(argv[2], "no pending request (decided already, or the item is not held)");
    if (rc < 0)
        return ctl_fail("request", error);
    printf("request %s %s%s\n", argv[2], approve ? "approved" : "denied",
           approve ? "; opesd delivers the item" : "");
    return 0;
}

/* ------------------------------------------------------------ tokens */

/* ctl_token_verify - "verify TOKEN [--use]": a link token's contents, or why it is refused. */
static int ctl_token_verify(struct ctl *c, int argc, char **argv)
{
    struct token_link l;
    const char *why = NULL, *error;
    bool use = argc > 2 && strcmp(argv[2], "--use") == 0;
    char when[32];
    int rc;

    if (argc > 3 || (argc == 3 && !use))
        return ctl_usage();
    if (token_link_verify(store_keys(c->st), argv[1], (int64_t)time(NULL), &l, &why) < 0) {
        printf("refused: %s\n", why);
        return 1;
    }
    rc = use ? store_token_use(c->st, l.nonce, l.expires, &error)
             : store_token_seen(c->st, l.nonce, &error);
    if (rc < 0)
        return ctl_fail("token", error);
    if (rc == STORE_USED) {
        printf("refused: already used\n");
        return 1;
    }
    ctl_time(l.expires, when, sizeof(when));
    printf("ok purpose=%s recipient=%s item=%s action=%s expires=%s\n",
           l.purpose == TOKEN_LOGIN ? "login" : "action", l.recipient, l.item, l.action, when);
    return 0;
}

/* ctl_token_api - "api ADDRESS [--name NAME] [--days N]": a new API token, printed once. */
static int ctl_token_api(struct ctl *c, int argc, char **argv)
{
    const char *name = "api", *error;
    char text[STORE_APITOKEN_TEXT], via[STORE_VIA_MAX];
    unsigned long days = 0;
    int64_t id;

    if (argc < 2 || !ctl_list_value(argv[1]) || strchr(argv[1], '@') == NULL)
        return ctl_usage();
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc && argv[i + 1][0] != '\0' &&
            strlen(argv[i + 1]) < 64)
            name = argv[++i];
        else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0 &&
                 atol(argv[i + 1]) <= 3650)
            days = (unsigned long)atol(argv[++i]);
        else
            return ctl_usage();
    }
    for (const char *p = name; *p != '\0'; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return ctl_fail("token api", "the name has a control character");
    if (store_apitoken_create(c->st, argv[1], name, (unsigned)days, text, &id, &error) < 0)
        return ctl_fail("token api", error);
    snprintf(via, sizeof(via), "token %lld %s", (long long)id, name);
    store_audit_via(c->st, c->actor, "api-token-create", argv[1], "cli", via, &error);
    printf("%s\n", text);
    fprintf(stderr, "API token %lld for %s: shown once, keep it now\n", (long long)id, argv[1]);
    sodium_memzero(text, sizeof(text));
    return 0;
}

static void ctl_token_list_cb(const struct store_apitoken *t, void *ctx)
{
    char created[32], expires[32], used[32];
    (void)ctx;
    ctl_time(t->created, created, sizeof(created));
    ctl_time(t->expires, expires, sizeof(expires));
    ctl_time(t->last_used, used, sizeof(used));
    printf("%lld  %s  %s  created %s  expires %s  last used %s%s\n", (long long)t->id, t->address,
           t->name, created, t->expires ? expires : "never", t->last_used ? used : "never",
           t->revoked ? "  REVOKED" : "");
}

/* ctl_token_manage - "list ADDRESS" and "revoke ID" of API tokens. */
static int ctl_token_manage(struct ctl *c, int argc, char **argv)
{
    const char *error;
    char object[32];
    char *end;
    long long id;
    int rc;

    if (argc != 2)
        return ctl_usage();
    if (strcmp(argv[0], "list") == 0)
        return store_apitoken_list(c->st, argv[1], ctl_token_list_cb, NULL, &error) < 0
                   ? ctl_fail("token list", error)
                   : 0;
    id = strtoll(argv[1], &end, 10);
    if (*end != '\0' || id <= 0)
        return ctl_usage();
    rc = store_apitoken_revoke(c->st, id, &error);
    if (rc != 0)
        return ctl_fail("token revoke", rc < 0 ? error : "no such live API token");
    snprintf(object, sizeof(object), "token %lld", id);
    store_audit(c->st, c->actor, "api-token-revoke", object, "cli", &error);
    printf("API token %lld revoked\n", id);
    return 0;
}

static int ctl_token(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {{"recipient", 1, 0, 'r'}, {"service", 1, 0, 's'},
                                         {"sender", 1, 0, 'f'},    {"days", 1, 0, 'd'},
                                         {"seconds", 1, 0, 'S'},   {0, 0, 0, 0}};
    const char *rcpt = NULL, *services = NULL, *sender = "", *error;
    long long lifetime = 30LL * 86400;
    char token[TOKEN_MAX], object[300];
    int ch;

    if (argc >= 3 && strcmp(argv[1], "verify") == 0)
        return ctl_token_verify(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "api") == 0)
        return ctl_token_api(c, argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "revoke") == 0))
        return ctl_token_manage(c, argc - 1, argv + 1);
    if (argc < 2 || strcmp(argv[1], "issue") != 0)
        return ctl_usage();
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            rcpt = optarg;
            break;
        case 's':
            services = optarg;
            break;
        case 'f':
            sender = optarg;
            break;
        case 'd':
            lifetime = atoll(optarg) * 86400;
            break;
        case 'S':
            lifetime = atoll(optarg);
            break;
        default:
            return ctl_usage();
        }
    }
    if (rcpt == NULL || services == NULL || !ctl_list_value(rcpt) || lifetime <= 0 ||
        (sender[0] != '\0' && !ctl_list_value(sender)))
        return ctl_usage();
    if (token_bypass_issue(store_keys(c->st), rcpt, sender, services,
                           (int64_t)time(NULL) + lifetime, token, sizeof(token)) < 0)
        return ctl_fail("token issue", "sender or services too long");
    snprintf(object, sizeof(object), "%s:%s:%s", rcpt, services, sender[0] ? sender : "*");
    store_audit(c->st, c->actor, "token-issue", object, "cli", &error);
    printf("%s\n", token);
    return 0;
}

/* ------------------------------------------------------------ links */

/* ctl_link - print a login link (or an action link on one item) for the portal. */
static int ctl_link(struct ctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"seconds", 1, 0, 'S'}, {"item", 1, 0, 'i'}, {"action", 1, 0, 'a'}, {0, 0, 0, 0}};
    struct token_link l = {.purpose = TOKEN_LOGIN};
    const char *item = NULL, *action = NULL, *error;
    long long lifetime = 86400;
    char token[TOKEN_MAX], object[300];
    int ch;

    if (argc < 2 || !ctl_list_value(argv[1]) || argv[1][0] == '@')
        return ctl_usage();
    optind = 1;
    while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
        if (ch == 'S')
            lifetime = atoll(optarg);
        else if (ch == 'i')
            item = optarg;
        else if (ch == 'a')
            action = optarg;
        else
            return ctl_usage();
    }
    if (optind != argc - 1 || lifetime <= 0 || (item == NULL) != (action == NULL))
        return ctl_usage();
    snprintf(l.recipient, sizeof(l.recipient), "%s", argv[1]);
    if (item != NULL) {
        l.purpose = TOKEN_ACTION;
        snprintf(l.item, sizeof(l.item), "%s", item);
        snprintf(l.action, sizeof(l.action), "%s", action);
    }
    l.expires = (int64_t)time(NULL) + lifetime;
    if (token_link_issue(store_keys(c->st), &l, token, sizeof(token)) < 0)
        return ctl_fail("link", "address, item or action too long");
    snprintf(object, sizeof(object), "%s%s%s", argv[1], item ? ":" : "", item ? item : "");
    store_audit(c->st, c->actor, item ? "link-action" : "link-login", object, "cli", &error);
    printf("%s/%s/%s\n", c->cfg->web_base_url, item ? "action" : "login", token);
    return 0;
}

/* ------------------------------------------------------------ the rest */

/*
 * ctl_digest - "digest run [ADDRESS]": record a digest now for every recipient
 * (or one) with entries waiting, whatever the schedule. opesd's job thread
 * sends recorded digests, so opesctl needs no delivery rights.
 */
static int ctl_digest(struct ctl *c, int argc, char **argv)
{
    const char *error;
    int n;

    if (argc < 2 || argc > 3 || strcmp(argv[1], "run") != 0)
        return ctl_usage();
    n = digest_record(c->st, c->cfg, true, argc == 3 ? argv[2] : NULL);
    if (n < 0)
        return ctl_fail("digest run", "store error (see the log line above)");
    store_audit(c->st, c->actor, "digest-run", argc == 3 ? argv[2] : "*", "cli", &error);
    printf("recorded %d digest%s; opesd sends %s\n", n, n == 1 ? "" : "s", n == 1 ? "it" : "them");
    return 0;
}

static int ctl_trace(struct ctl *c, int argc, char **argv)
{
    const char *error;
    json_t *arr = NULL;

    if (argc < 2)
        return ctl_usage();
    if (argc > 2 && strcmp(argv[2], "--json") == 0)
        arr = json_array();
    else
        printf("trace %s:\n", argv[1]);
    if (store_trace_list(c->st, argv[1], ctl_trace_cb, arr, &error) < 0)
        return ctl_fail("trace", error);
    if (arr != NULL)
        ctl_json_print(arr);
    return 0;
}

static void ctl_audit_cb(const struct store_audit_entry *e, void *ctx)
{
    char when[32];
    ctl_time(e->at, when, sizeof(when));
    if (ctx != NULL)
        json_array_append_new(ctx, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "at", when, "actor",
                                             e->actor, "action", e->action, "object", e->object,
                                             "origin", e->origin, "via", e->via));
    else
        printf("%s  %s  %s  %s  (%s%s%s)\n", when, e->actor, e->action, e->object, e->origin,
               e->via[0] ? ", " : "", e->via);
}

static int ctl_audit(struct ctl *c, int argc, char **argv)
{
    size_t limit = 100;
    const char *error;
    json_t *arr = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            arr = json_array();
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
            limit = strtoul(argv[++i], NULL, 10);
        else
            return ctl_usage();
    }
    if (store_audit_list(c->st, limit, ctl_audit_cb, arr, &error) < 0)
        return ctl_fail("audit", error);
    if (arr != NULL)
        ctl_json_print(arr);
    return 0;
}

static int ctl_purge(struct ctl *c)
{
    size_t expired, removed, ledger;
    const char *error;

    if (store_purge(c->st, (unsigned)c->cfg->retention_days, &expired, &removed, &error) < 0 ||
        store_ledger_purge(c->st, (unsigned)c->cfg->ledger_days, &ledger, &error) < 0)
        return ctl_fail("purge", error);
    store_audit(c->st, c->actor, "purge", "quarantine", "cli", &error);
    printf("expired %zu, removed %zu, ledger rows removed %zu\n", expired, removed, ledger);
    return 0;
}

static int ctl_check(struct ctl *c)
{
    const char *error;

    if (store_integrity_check(c->st, &error) < 0)
        return ctl_fail("store", error);
    printf("configuration %s: ok\nstore %s: ok (schema version %d)\nkey file %s: ok\n",
           c->cfg->path,
           c->cfg->store_backend == CONFIG_STORE_POSTGRESQL ? "postgresql" : c->cfg->store_path,
           store_schema_version(c->st), c->cfg->key_file);
    return 0;
}

/* ctl_copied - one table copied: its rows on both sides. */
static void ctl_copied(const char *table, int64_t src_rows, int64_t dst_rows, void *ctx)
{
    (void)ctx;
    printf("%-16s %10lld %10lld%s\n", table, (long long)src_rows, (long long)dst_rows,
           src_rows != dst_rows ? "  DIFFERS" : "");
}

/* ctl_store - store copy --to CONNINFO: the configured SQLite store into an
 * empty PostgreSQL database (migrated by opening it), counts verified. */
static int ctl_store(struct ctl *c, int argc, char **argv)
{
    struct store *dst;
    const char *error;
    int rc;

    if (argc != 4 || strcmp(argv[1], "copy") != 0 || strcmp(argv[2], "--to") != 0)
        return ctl_usage();
    if (c->cfg->store_backend == CONFIG_STORE_POSTGRESQL)
        return ctl_fail("store copy", "the configured store is PostgreSQL already");
    if ((dst = store_open_pg(argv[3], c->cfg->key_file, &error)) == NULL)
        return ctl_fail("store copy", error);
    if (store_audit(c->st, c->actor, "store copy", "postgresql", "cli", &error) < 0) {
        store_close(&dst);
        return ctl_fail("store copy", error);
    }
    printf("%-16s %10s %10s\n", "table", "sqlite", "postgresql");
    rc = store_copy(c->st, dst, ctl_copied, NULL, &error);
    if (rc < 0)
        rc = ctl_fail("store copy", error);
    else
        printf("copied %s to postgresql: counts match\n", c->cfg->store_path);
    store_close(&dst);
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c = {.json = false};
    const char *path = "/etc/opesd/opesd.conf", *error;
    struct passwd *pw = getpwuid(getuid());
    int first = 1, rc;

    log_init("opesctl", 0);
    if (argc > 2 && strcmp(argv[1], "-c") == 0) {
        path = argv[2];
        first = 3;
    }
    if (argc <= first)
        return ctl_usage();
    snprintf(c.actor, sizeof(c.actor), "%s", pw != NULL ? pw->pw_name : "unknown");
    c.cfg = config_load(path, &error);
    if (c.cfg == NULL) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    {
        char ierr[512];
        if (i18n_init(c.cfg->web_catalog_dir, ierr, sizeof(ierr)) < 0) {
            fprintf(stderr, "opesctl: %s\n", ierr);
            return 1;
        }
    }
    if (strcmp(argv[first], "key") == 0) {
        if (argc != first + 2 || strcmp(argv[first + 1], "rotate") != 0)
            return ctl_usage();
        rc = keys_rotate(c.cfg->key_file, &error);
        if (rc < 0)
            return ctl_fail("key rotate", error);
        printf("key generation %d added to %s; new content and tokens use it\n", rc,
               c.cfg->key_file);
        return 0;
    }
    c.st = store_open_config(c.cfg, &error);
    if (c.st == NULL)
        return ctl_fail("store", error);
    argc -= first - 1;
    argv += first - 1;
    if (strcmp(argv[1], "quarantine") == 0)
        rc = ctl_quarantine(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "list") == 0)
        rc = ctl_list(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "user") == 0)
        rc = ctl_user(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "delegate") == 0)
        rc = ctl_delegate(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "request") == 0)
        rc = ctl_request(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "token") == 0)
        rc = ctl_token(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "link") == 0)
        rc = ctl_link(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "trace") == 0)
        rc = ctl_trace(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "digest") == 0)
        rc = ctl_digest(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "audit") == 0)
        rc = ctl_audit(&c, argc - 1, argv + 1);
    else if (strcmp(argv[1], "purge") == 0 && argc == 2)
        rc = ctl_purge(&c);
    else if (strcmp(argv[1], "check") == 0 && argc == 2)
        rc = ctl_check(&c);
    else if (strcmp(argv[1], "store") == 0)
        rc = ctl_store(&c, argc - 1, argv + 1);
    else
        rc = ctl_usage();
    store_close(&c.st);
    config_unref(&c.cfg);
    return rc;
}
