/*
 * test_mime_corpus.c - the parser against mime4j's expected structures.
 *
 * Apache James mime4j ships test messages (*.msg) with the event stream its
 * streaming parser produces (*.xml): every header field as written, the
 * nesting of multiparts and message/rfc822 parts, and every preamble, body
 * and epilogue byte for byte. This suite renders the same stream from our
 * result (fields and bodies are cut out of the message at the offsets the
 * parser reports) and compares bytes, so that a difference in nesting, in
 * where a part ends, in which header lines count as fields, or in a single
 * offset shows. Where mime4j also wrote the decoded leaves
 * (<name>_decoded.xml naming *.txt and *.bin files, leaves in document
 * order), what mime_part_decode() yields is compared with them too.
 *
 * Messages come from ../shared/corpus next to the repository when it is
 * there, and always from tests/mime/corpus (a copy of mime4j's testmsgs with
 * its licence), so that the suite runs on any machine. Every message is also
 * fed in random pieces and byte by byte and must give the same result.
 */
#include <check.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mime_testutil.h"

Suite *unit_suite(void);

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Messages whose expected stream we do not reproduce, and why. The suite
 * checks that each still differs, so that the list stays exact.
 */
struct exception {
    const char *name;
    const char *why;
};

static const struct exception structure_exceptions[] = {
    {"base64encoded-rfc822message.msg",
     "message/rfc822 in base64 (RFC 2046 5.2.1 allows only 7bit, 8bit, binary): mime4j decodes "
     "and parses it; we keep it a leaf flagged MIME_F_ENCODED_CONTAINER, since offsets cannot "
     "point into decoded bytes"},
    {"base64encoded-rfc822message-nested.msg",
     "message/rfc822 in base64 inside a multipart: a flagged leaf here, parsed by mime4j"},
    {"bad-newlines-multiple-parts-base64.msg",
     "message/rfc822 in base64 (LF line ends): a flagged leaf here, parsed by mime4j"},
    {"multi-2gifs-base64.msg",
     "message/rfc822 in base64 (Perl MIME-tools message): a flagged leaf here, parsed by mime4j"},
    {"malformedHeaderStartsBody-nocrlfcrlf.msg",
     "made with a non-default mime4j setting, and loses a line upstream (corpus README)"},
    {"malformedHeaderStartsBody-noheader.msg",
     "made with a non-default mime4j setting, and loses a line upstream (corpus README)"},
};

/* Decoded leaves that differ, and why. */
struct exception_decoded {
    const char *name;
    const char *why;
};

static const struct exception_decoded decoded_exceptions[] = {
    {"frag_decoded_1_2_1_2_1_2_1_2.bin",
     "base64 ending in junk after a broken close delimiter leaves 3 characters of a last "
     "quantum: we decode them (2 bytes), mime4j drops them"},
    {"multi-frag_decoded_1_3_2.bin",
     "base64 ending in junk after a broken close delimiter (as in frag.msg): we decode the "
     "last 3 characters to 2 bytes, mime4j drops them"},
};

/* The corpus README counts 32 testmsgs and 47 mimetools-testmsgs pairs. */
enum { SHARED_PAIRS = 79, LOCAL_PAIRS = 32 };

/* listed - why base is a documented exception, or NULL when it is not one. */
static const char *listed(const char *base, bool decoded)
{
    if (decoded) {
        for (size_t i = 0; i < N_ELEMENTS(decoded_exceptions); i++)
            if (strcmp(base, decoded_exceptions[i].name) == 0)
                return decoded_exceptions[i].why;
        return NULL;
    }
    for (size_t i = 0; i < N_ELEMENTS(structure_exceptions); i++)
        if (strcmp(base, structure_exceptions[i].name) == 0)
            return structure_exceptions[i].why;
    return NULL;
}

/* What one corpus run found. */
struct tally {
    unsigned pairs, matched, excepted, leaves, leaves_matched, leaves_excepted;
    struct mt_buf failures; /* one line per unexpected result */
};

static char **found;
static size_t nfound;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);

    (void)st;
    (void)ftw;
    if (flag == FTW_F && n > 4 && strcmp(path + n - 4, ".msg") == 0) {
        char **more = realloc(found, (nfound + 1) * sizeof(*found));
        if (more == NULL || (more[nfound] = strdup(path)) == NULL)
            abort();
        found = more;
        nfound++;
    }
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void note(struct tally *t, const char *what, const char *path, const char *detail)
{
    char line[1024];

    snprintf(line, sizeof(line), "%s: %s%s%s\n", path, what, detail ? ": " : "",
             detail ? detail : "");
    mt_put(&t->failures, line, strlen(line));
}

static int collect_writer(void *ctx, const void *data, size_t len)
{
    mt_put(ctx, data, len);
    return 0;
}

/* check_leaf - one decoded leaf against mime4j's file. */
static void check_leaf(struct tally *t, const struct mime_message *m, size_t leaf, const char *msg,
                       size_t len, const char *dir, const char *file)
{
    char path[4096];
    size_t wlen = 0;
    char *want;
    struct mt_buf got = {0};
    struct mime_buffer mb = {msg, len};
    const char *error = NULL;
    bool same;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    want = mt_read_file(path, &wlen);
    t->leaves++;
    mt_put(&got, "", 0);
    same = want != NULL &&
           mime_part_decode(m, leaf, mime_buffer_read, &mb, collect_writer, &got, &error) == 0 &&
           got.len == wlen && memcmp(got.data, want, wlen) == 0;
    if (listed(file, true) != NULL) {
        printf("  decoded exception %s: %s\n", file, listed(file, true));
        t->leaves_excepted++;
        if (same)
            note(t, "listed as a decoded exception but matches now", path, NULL);
    } else if (same) {
        t->leaves_matched++;
    } else {
        note(t, "decoded body differs", path, error);
    }
    free(want);
    mt_free(&got);
}

/* check_decoded - pair the leaves named in <name>_decoded.xml with ours, in order. */
static void check_decoded(struct tally *t, const struct mime_message *m, const char *msg,
                          size_t len, const char *msgpath)
{
    char path[4096], dir[4096];
    size_t xlen, leaf = 0;
    char *xml, *q, *slash;

    snprintf(path, sizeof(path), "%.*s_decoded.xml", (int)(strlen(msgpath) - 4), msgpath);
    xml = mt_read_file(path, &xlen);
    if (xml == NULL)
        return;
    snprintf(dir, sizeof(dir), "%s", msgpath);
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    for (q = strstr(xml, "-body name=\""); q != NULL; q = strstr(q, "-body name=\"")) {
        char *name = q + strlen("-body name=\""), *end = strchr(name, '"');
        if (end == NULL)
            break;
        *end = '\0';
        while (leaf < m->nparts && m->parts[leaf].kind != MIME_KIND_LEAF)
            leaf++;
        if (leaf == m->nparts) {
            note(t, "fewer leaves than mime4j decoded", msgpath, name);
            break;
        }
        check_leaf(t, m, leaf++, msg, len, dir, name);
        q = end + 1;
    }
    free(xml);
}

/* check_pair - one message against its expected stream. */
static void check_pair(struct tally *t, const char *msgpath)
{
    char xpath[4096];
    size_t len, xlen;
    char *msg = mt_read_file(msgpath, &len), *xml;
    const char *base = strrchr(msgpath, '/') != NULL ? strrchr(msgpath, '/') + 1 : msgpath;
    struct mime_message *m, *split, *bytewise;
    struct mt_buf out = {0};
    const char *why;
    bool same;

    snprintf(xpath, sizeof(xpath), "%.*s.xml", (int)(strlen(msgpath) - 4), msgpath);
    xml = mt_read_file(xpath, &xlen);
    if (msg == NULL || xml == NULL) {
        free(msg);
        free(xml);
        return;
    }
    t->pairs++;
    m = mime_parse(msg, len, NULL);
    mt_render(m, msg, len, &out);
    same = out.len == xlen && memcmp(out.data, xml, xlen) == 0;
    if (listed(base, false) != NULL) {
        printf("  exception %s: %s\n", base, listed(base, false));
        t->excepted++;
        if (same)
            note(t, "listed as an exception but matches now", msgpath, NULL);
    } else if (same) {
        t->matched++;
        check_decoded(t, m, msg, len, msgpath);
    } else {
        note(t, "structure differs from mime4j", msgpath, NULL);
    }
    split = mt_parse_split(msg, len, NULL, 0, (uint32_t)len);
    bytewise = mt_parse_split(msg, len, NULL, 1, 0);
    if ((why = mt_diff(m, split)) != NULL)
        note(t, "random pieces give another result", msgpath, why);
    if ((why = mt_diff(m, bytewise)) != NULL)
        note(t, "byte by byte gives another result", msgpath, why);
    mime_message_free(&split);
    mime_message_free(&bytewise);
    mime_message_free(&m);
    mt_free(&out);
    free(msg);
    free(xml);
}

/* run_corpus - every pair below dir; false when dir does not exist. */
static bool run_corpus(const char *dir, struct tally *t)
{
    struct stat st;

    memset(t, 0, sizeof(*t));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    nftw(dir, collect, 16, FTW_PHYS);
    qsort(found, nfound, sizeof(*found), by_name);
    for (size_t i = 0; i < nfound; i++) {
        check_pair(t, found[i]);
        free(found[i]);
    }
    free(found);
    found = NULL;
    nfound = 0;
    printf("mime corpus %s: %u of %u messages match mime4j (%u documented exceptions); "
           "%u of %u decoded leaves match (%u documented exceptions)\n",
           dir, t->matched, t->pairs, t->excepted, t->leaves_matched, t->leaves,
           t->leaves_excepted);
    return true;
}

static void assert_tally(struct tally *t, unsigned min_pairs)
{
    ck_assert_msg(t->failures.len == 0, "unexpected results:\n%s", t->failures.data);
    ck_assert_uint_ge(t->pairs, min_pairs);
    ck_assert_uint_eq(t->matched + t->excepted, t->pairs);
    ck_assert_uint_eq(t->leaves_matched + t->leaves_excepted, t->leaves);
    ck_assert_uint_gt(t->leaves, 0);
    mt_free(&t->failures);
}

START_TEST(test_local_corpus)
{
    struct tally t;

    ck_assert_msg(run_corpus(OPES_MIME_LOCAL_CORPUS, &t), "%s is missing", OPES_MIME_LOCAL_CORPUS);
    assert_tally(&t, LOCAL_PAIRS);
}
END_TEST

START_TEST(test_shared_corpus)
{
    struct tally t;

    if (!run_corpus(OPES_MIME_SHARED_CORPUS "/apache-james-mime4j", &t)) {
        printf("mime corpus: %s not here; the copy in tests/mime/corpus was used\n",
               OPES_MIME_SHARED_CORPUS);
        return;
    }
    assert_tally(&t, SHARED_PAIRS);
}
END_TEST

/* Facts a service relies on, in real messages of the other corpus folders. */
struct corpus_fact {
    const char *path;     /* below ../shared/corpus */
    unsigned protected;   /* expected m->protected */
    const char *filename; /* the first part's file name that has one, or NULL */
    const char *dkim;     /* the DKIM-signed names, space-separated, or NULL */
};

static const struct corpus_fact corpus_facts[] = {
    {"jstedfast-MimeKit/smime/thunderbird-signed.txt", MIME_P_SIGNED, "signed.jpg", NULL},
    {"jstedfast-MimeKit/openpgp/[Announce] GnuPG 2.1.20 released.eml", MIME_P_SIGNED, NULL, NULL},
    {"jstedfast-MimeKit/dkim/gmail.msg", 0, NULL,
     "mime-version date message-id subject from to content-type"},
    {"mikel-mail/attachment_emails/attachment_with_quoted_filename.eml", 0,
     "Eelanal\xc3\xbc\xc3\xbcsi p\xc3\xa4ring.jpg", NULL},
    {"mikel-mail/attachment_emails/attachment_with_base64_encoded_name.eml", 0,
     "This is a test.pdf", NULL},
    {"mikel-mail/attachment_emails/attachment_with_unquoted_name.eml", 0, "This is a test.txt",
     NULL},
    {"mikel-mail/attachment_emails/attachment_nonascii_filename.eml", 0,
     "ci\xc3\xab"
     "le.txt",
     NULL},
    {"mikel-mail/attachment_emails/attachment_message_rfc822.eml", 0, "ForwardedMessage.eml", NULL},
    {"mikel-mail/mime_emails/sig_only_email.eml", MIME_P_SIGNED, "signature.asc", NULL},
    {"apache-spamassassin/nice/dkim/AddedVtag_07", 0, NULL,
     "subject from to cc date content-type content-transfer-encoding mime-version"},
};

static char *dkim_list(const struct mime_message *m)
{
    struct mt_buf b = {0};

    mt_put(&b, "", 0);
    for (size_t i = 0; i < m->ndkim_signed; i++) {
        if (i > 0)
            mt_put(&b, " ", 1);
        mt_put(&b, m->dkim_signed[i], strlen(m->dkim_signed[i]));
    }
    return b.data;
}

START_TEST(test_shared_facts)
{
    const struct corpus_fact *t = &corpus_facts[_i];
    char path[4096];
    size_t len;
    char *msg;
    struct mime_message *m;
    const char *fn = NULL;

    snprintf(path, sizeof(path), "%s/%s", OPES_MIME_SHARED_CORPUS, t->path);
    msg = mt_read_file(path, &len);
    if (msg == NULL) {
        printf("mime corpus: %s not here, fact not checked\n", path);
        return;
    }
    m = mime_parse(msg, len, NULL);
    ck_assert_msg(m->protected == t->protected, "%s: protected %#x", path, m->protected);
    for (size_t i = 0; i < m->nparts && fn == NULL; i++)
        fn = m->parts[i].filename;
    if (t->filename == NULL)
        ck_assert_msg(fn == NULL, "%s: file name %s", path, fn);
    else
        ck_assert_str_eq(fn != NULL ? fn : "(none)", t->filename);
    if (t->dkim != NULL) {
        char *names = dkim_list(m);
        ck_assert_str_eq(names, t->dkim);
        free(names);
    }
    mime_message_free(&m);
    free(msg);
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("mime_corpus");
    TCase *tc = tcase_create("mime4j");

    tcase_add_test(tc, test_local_corpus);
    tcase_add_test(tc, test_shared_corpus);
    tcase_add_loop_test(tc, test_shared_facts, 0, N_ELEMENTS(corpus_facts));
    suite_add_tcase(s, tc);
    return s;
}
