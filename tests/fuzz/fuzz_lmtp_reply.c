/*
 * fuzz_lmtp_reply.c - libFuzzer target for what the mailbox store answers.
 *
 * The input is a stream of reply lines as read from the downstream socket
 * (LF-separated, a CR before the LF removed, as netio_readline does). Each
 * line goes to lmtp_reply_parse_line; a finished or refused reply starts a
 * new parser. Every complete reply must be one the relay can pass on: a code
 * from 200 to 599, an enhanced code that is either empty or valid for that
 * code, bounded text and line count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opes/lmtp_parse.h"

#include "fuzz_check.h"

static void fuzz_check_reply(const struct lmtp_reply *r)
{
    FUZZ_CHECK(r->code >= 200 && r->code <= 599);
    FUZZ_CHECK(r->lines >= 1 && r->lines <= LMTP_REPLY_LINES_MAX);
    FUZZ_CHECK(memchr(r->enh, '\0', sizeof(r->enh)) != NULL);
    FUZZ_CHECK(r->enh[0] == '\0' || lmtp_enh_valid(r->enh, r->code));
    FUZZ_CHECK(memchr(r->text, '\0', sizeof(r->text)) != NULL);
    for (const char *p = r->text; *p != '\0'; p++)
        FUZZ_CHECK(*p != '\r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lmtp_reply_parser p;
    size_t pos = 0;

    lmtp_reply_parser_init(&p);
    while (pos < size) {
        const uint8_t *lf = memchr(data + pos, '\n', size - pos);
        size_t end = lf != NULL ? (size_t)(lf - data) : size, len = end - pos;
        char *line;
        int ret;

        if (len > 0 && data[pos + len - 1] == '\r')
            len--;
        /* a copy of exactly len bytes, so that reading past it is caught */
        line = malloc(len ? len : 1);
        if (line == NULL)
            return 0;
        memcpy(line, data + pos, len);
        ret = lmtp_reply_parse_line(&p, line, len);
        free(line);
        FUZZ_CHECK(ret >= -1 && ret <= 1);
        if (ret == 1)
            fuzz_check_reply(&p.reply);
        if (ret != 0)
            lmtp_reply_parser_init(&p);
        pos = end + 1;
    }
    return 0;
}
