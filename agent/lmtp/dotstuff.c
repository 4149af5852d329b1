/*
 * dotstuff.c - dot-unstuffing with a smuggling-safe end of data, and stuffing.
 *
 * A line starts only after CRLF. Anything else that looks like an end of data
 * (LF.LF, CR.CR, CRLF.LF, LF.CRLF ...) is content, and after a bare CR or LF
 * the decoder stays "mid-line" so that the next dot can never start a
 * terminator.
 */
#include "opes/dotstuff.h"

#include <string.h>

enum { DS_BOL, DS_DOT, DS_DOTCR, DS_MID, DS_CR, DS_END };

void dotstuff_decoder_init(struct dotstuff_decoder *d, bool normalize)
{
    d->state = DS_BOL;
    d->normalize = normalize;
    d->flags = 0;
}

/* ds_plain_run - how many bytes from p on are neither CR, LF nor NUL. */
static size_t ds_plain_run(const char *p, size_t len)
{
    const char *cr = memchr(p, '\r', len);
    size_t n = cr != NULL ? (size_t)(cr - p) : len;
    const char *lf = memchr(p, '\n', n);
    const char *nul;

    if (lf != NULL)
        n = (size_t)(lf - p);
    nul = memchr(p, '\0', n);
    return nul != NULL ? (size_t)(nul - p) : n;
}

/* ds_bare - a CR or LF that is not part of CRLF. */
static size_t ds_bare(struct dotstuff_decoder *d, char c, char *out)
{
    d->flags |= c == '\r' ? DOTSTUFF_BARE_CR : DOTSTUFF_BARE_LF;
    d->state = DS_MID;
    if (d->normalize) {
        out[0] = '\r';
        out[1] = '\n';
        return 2;
    }
    out[0] = c;
    return 1;
}

/* ds_mid - one byte in the middle of a line. */
static size_t ds_mid(struct dotstuff_decoder *d, char c, char *out)
{
    if (c == '\r') {
        d->state = DS_CR;
        return 0;
    }
    if (c == '\n')
        return ds_bare(d, c, out);
    if (c == '\0')
        d->flags |= DOTSTUFF_NUL;
    d->state = DS_MID;
    out[0] = c;
    return 1;
}

size_t dotstuff_decode(struct dotstuff_decoder *d, const char *in, size_t len, char *out,
                       size_t *outlen, bool *done)
{
    size_t i, o = 0;

    *done = false;
    for (i = 0; i < len; i++) {
        char c = in[i];
        switch (d->state) {
        case DS_MID: {
            size_t run = ds_plain_run(in + i, len - i);
            if (run > 0) {
                /* the bulk of a message: copy up to the next CR, LF or NUL */
                memcpy(out + o, in + i, run);
                o += run;
                i += run - 1;
                continue;
            }
            o += ds_mid(d, c, out + o);
            break;
        }
        case DS_BOL:
            if (c == '.')
                d->state = DS_DOT;
            else
                o += ds_mid(d, c, out + o);
            break;
        case DS_DOT: /* the leading dot is dropped (unstuffed) */
            if (c == '\r')
                d->state = DS_DOTCR;
            else
                o += ds_mid(d, c, out + o);
            break;
        case DS_DOTCR:
            if (c == '\n') {
                d->state = DS_END;
                *done = true;
                *outlen = o;
                return i + 1;
            }
            o += ds_bare(d, '\r', out + o);
            o += ds_mid(d, c, out + o);
            break;
        case DS_CR:
            if (c == '\n') {
                out[o++] = '\r';
                out[o++] = '\n';
                d->state = DS_BOL;
            } else {
                o += ds_bare(d, '\r', out + o);
                o += ds_mid(d, c, out + o);
            }
            break;
        default:
            *done = true;
            *outlen = o;
            return i;
        }
    }
    *outlen = o;
    return len;
}

void dotstuff_encoder_init(struct dotstuff_encoder *e)
{
    e->bol = true;
    e->last = '\n';
}

size_t dotstuff_encode(struct dotstuff_encoder *e, const char *in, size_t len, char *out)
{
    size_t i = 0, o = 0;

    while (i < len) {
        const char *lf;
        size_t n;
        if (e->bol && in[i] == '.')
            out[o++] = '.';
        lf = memchr(in + i, '\n', len - i);
        n = lf != NULL ? (size_t)(lf - (in + i)) + 1 : len - i;
        memcpy(out + o, in + i, n);
        o += n;
        i += n;
        e->bol = lf != NULL;
    }
    if (len > 0)
        e->last = in[len - 1];
    return o;
}

size_t dotstuff_encode_end(struct dotstuff_encoder *e, char *out)
{
    size_t o = 0;

    if (e->last == '\r') {
        out[o++] = '\n';
    } else if (e->last != '\n') {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o++] = '.';
    out[o++] = '\r';
    out[o++] = '\n';
    return o;
}
