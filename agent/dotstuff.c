/*
 * dotstuff.c - dot-unstuffing with a smuggling-safe end of data, and stuffing.
 *
 * A line starts only after CRLF. Anything else that looks like an end of data
 * (LF.LF, CR.CR, CRLF.LF, LF.CRLF ...) is content, and after a bare CR or LF
 * the decoder stays "mid-line" so that the next dot can never start a
 * terminator.
 */
#include "opes/dotstuff.h"

enum { DS_BOL, DS_DOT, DS_DOTCR, DS_MID, DS_CR, DS_END };

void dotstuff_decoder_init(struct dotstuff_decoder *d, bool normalize)
{
    d->state = DS_BOL;
    d->normalize = normalize;
    d->flags = 0;
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
        case DS_MID:
            if (c != '\r' && c != '\n' && c != '\0') {
                out[o++] = c;
                continue;
            }
            o += ds_mid(d, c, out + o);
            break;
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
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (e->bol && c == '.')
            out[o++] = '.';
        out[o++] = c;
        e->bol = c == '\n';
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
