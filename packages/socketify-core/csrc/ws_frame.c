/* ws_frame.c - incremental client frame parser, close payloads, server frame
 * headers.  See ws_frame.h for the contract.
 *
 * The parser has three states: collecting a header (2..14 bytes, into
 * p->head), passing data payload through in place, and collecting a control
 * payload (into p->ctrl).  Every rule that can be judged from the first two
 * header bytes is judged as soon as they arrive.
 */
#include "ws_frame.h"

#include <string.h>

#include "utf8.h"

enum { ST_HEAD, ST_DATA, ST_CONTROL };

#define B0_FIN 0x80u
#define B0_RSV1 0x40u
#define B0_RSV23 0x30u
#define B1_MASK 0x80u

/* indexed by opcode: 1 data, 2 control, 0 reserved */
static const uint8_t OPCODE_KIND[16] = {1, 1, 1, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0};

void sc_ws_parser_init(sc_ws_parser *p, uint64_t max_payload, uint32_t options)
{
    memset(p, 0, sizeof *p);
    p->max_payload = max_payload;
    p->options = options;
    p->state = ST_HEAD;
    p->head_need = 2;
}

int sc_ws_parser_in_message(const sc_ws_parser *p)
{
    return p->msg_opcode != 0;
}

void sc_ws_mask(uint8_t *data, size_t len, const uint8_t key[4], uint64_t offset)
{
    uint8_t rot[8];
    for (int i = 0; i < 8; i++)
        rot[i] = key[(offset + (uint64_t)i) & 3];
    size_t i = 0;
    /* PERF: 8 bytes per XOR; memcpy keeps it alignment-safe and compiles to
     * plain loads and stores.  8 is a multiple of 4, so the key word stays
     * in phase. */
    uint64_t k;
    memcpy(&k, rot, 8);
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, data + i, 8);
        w ^= k;
        memcpy(data + i, &w, 8);
    }
    for (; i < len; i++)
        data[i] ^= rot[i & 7];
}

/* ---- close payloads ------------------------------------------------------- */

int sc_ws_close_code_valid(uint32_t code)
{
    if (code >= 3000 && code <= 4999)
        return 1;
    if (code < 1000 || code > 1014)
        return 0;
    return code != 1004 && code != 1005 && code != 1006;
}

int sc_ws_close_parse(const uint8_t *payload, size_t len, uint16_t *code, const uint8_t **reason,
                      size_t *reason_len)
{
    *reason = payload;
    *reason_len = 0;
    if (len == 0) {
        *code = SC_WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1)
        return -SC_WS_CLOSE_PROTOCOL;
    uint16_t c = (uint16_t)((payload[0] << 8) | payload[1]);
    if (!sc_ws_close_code_valid(c))
        return -SC_WS_CLOSE_PROTOCOL;
    if (!sc_utf8_valid(payload + 2, len - 2))
        return -SC_WS_CLOSE_INVALID_DATA;
    *code = c;
    *reason = payload + 2;
    *reason_len = len - 2;
    return 0;
}

int sc_ws_close_payload(uint8_t out[125], uint32_t code, const char *reason, size_t reason_len)
{
    if (code == 0 || code == SC_WS_CLOSE_NO_STATUS)
        return 0;
    if (!sc_ws_close_code_valid(code))
        return -1;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (reason_len > 123) {
        reason_len = 123;
        /* do not cut a sequence: back off over continuation bytes to its lead */
        while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xC0) == 0x80)
            reason_len--;
    }
    if (reason_len)
        memcpy(out + 2, reason, reason_len);
    return (int)(2 + reason_len);
}

/* ---- writing -------------------------------------------------------------- */

size_t sc_ws_header_size(uint64_t len)
{
    return len <= 125 ? 2 : len <= 0xFFFF ? 4 : 10;
}

size_t sc_ws_write_header(uint8_t *out, unsigned opcode, uint64_t len, uint32_t flags)
{
    out[0] = (uint8_t)((flags & (SC_WS_W_FIN | SC_WS_W_RSV1)) | (opcode & 0x0F));
    if (len <= 125) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

/* ---- parsing -------------------------------------------------------------- */

static int fail(sc_ws_parser *p, int close_code)
{
    p->error = -close_code;
    return p->error;
}

/* The first two bytes: everything but the length value and the size limit. */
static int check_start(sc_ws_parser *p)
{
    uint8_t b0 = p->head[0], b1 = p->head[1];
    unsigned op = b0 & 0x0Fu;
    unsigned kind = OPCODE_KIND[op];

    if (!(b1 & B1_MASK) || (b0 & B0_RSV23) || kind == 0)
        return -SC_WS_CLOSE_PROTOCOL;
    if (b0 & B0_RSV1) {
        /* RSV1 marks a compressed message: only on its first frame */
        if (!(p->options & SC_WS_P_DEFLATE) || kind == 2 || op == SC_WS_OP_CONTINUATION)
            return -SC_WS_CLOSE_PROTOCOL;
    }
    if (kind == 2) {
        if (!(b0 & B0_FIN) || (b1 & 0x7F) > 125)
            return -SC_WS_CLOSE_PROTOCOL;
    } else if (op == SC_WS_OP_CONTINUATION) {
        if (!p->msg_opcode)
            return -SC_WS_CLOSE_PROTOCOL;
    } else if (p->msg_opcode) {
        return -SC_WS_CLOSE_PROTOCOL;
    }
    unsigned len7 = b1 & 0x7F;
    p->head_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
    return 0;
}

/* The whole header is in p->head. */
static int start_frame(sc_ws_parser *p)
{
    uint8_t b0 = p->head[0];
    unsigned len7 = p->head[1] & 0x7F;
    uint64_t len = len7;
    const uint8_t *h = p->head + 2;

    if (len7 == 126) {
        len = ((uint64_t)h[0] << 8) | h[1];
        h += 2;
    } else if (len7 == 127) {
        if (h[0] & 0x80)
            return -SC_WS_CLOSE_PROTOCOL;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | h[i];
        h += 8;
    }
    memcpy(p->mask, h, 4);
    p->opcode = b0 & 0x0F;
    p->bits = b0;
    p->frame_len = len;
    p->offset = 0;
    p->frame_fresh = 1;
    if (OPCODE_KIND[p->opcode] == 2) {
        p->state = ST_CONTROL;
        return 0;
    }
    if (p->opcode != SC_WS_OP_CONTINUATION) {
        p->msg_opcode = p->opcode;
        p->msg_compressed = (b0 & B0_RSV1) != 0;
        p->msg_len = 0;
        p->msg_fresh = 1;
        sc_utf8_init(&p->utf8);
    }
    /* msg_len <= max_payload always holds here */
    if (len > p->max_payload - p->msg_len)
        return -SC_WS_CLOSE_TOO_BIG;
    p->msg_len += len;
    p->state = ST_DATA;
    return 0;
}

/* Fill *out with the piece data[0..n) of the current frame. */
static void emit(sc_ws_parser *p, uint8_t *data, size_t n, sc_ws_chunk *out)
{
    out->data = data;
    out->len = n;
    out->frame_len = p->frame_len;
    out->offset = p->offset;
    out->opcode = p->opcode;
    out->close_code = 0;
    out->reason = NULL;
    out->reason_len = 0;
    out->flags = 0;
    if (p->frame_fresh)
        out->flags |= SC_WS_FRAME_START;
    p->frame_fresh = 0;
    p->offset += n;
    if (p->offset == p->frame_len)
        out->flags |= SC_WS_FRAME_END;
    if (p->bits & B0_FIN)
        out->flags |= SC_WS_FIN;
}

static int deliver_data(sc_ws_parser *p, uint8_t *data, size_t n, sc_ws_chunk *out)
{
    sc_ws_mask(data, n, p->mask, p->offset);
    emit(p, data, n, out);
    out->msg_opcode = p->msg_opcode;
    if (p->msg_compressed)
        out->flags |= SC_WS_COMPRESSED;
    if (p->msg_fresh)
        out->flags |= SC_WS_MSG_START;
    p->msg_fresh = 0;
    int check = p->msg_opcode == SC_WS_OP_TEXT && !p->msg_compressed && (p->options & SC_WS_P_UTF8);
    if (check && sc_utf8_feed(&p->utf8, data, n) != SC_UTF8_OK)
        return fail(p, SC_WS_CLOSE_INVALID_DATA);
    if (out->flags & SC_WS_FRAME_END) {
        p->state = ST_HEAD;
        p->head_len = 0;
        p->head_need = 2;
        if (out->flags & SC_WS_FIN) {
            out->flags |= SC_WS_MSG_END;
            p->msg_opcode = 0;
            if (check && sc_utf8_finish(&p->utf8) != SC_UTF8_OK)
                return fail(p, SC_WS_CLOSE_INVALID_DATA);
        }
    }
    return SC_WS_CHUNK;
}

static int deliver_control(sc_ws_parser *p, sc_ws_chunk *out)
{
    size_t n = (size_t)p->frame_len;
    sc_ws_mask(p->ctrl, n, p->mask, 0);
    p->offset = 0;
    emit(p, p->ctrl, n, out);
    out->msg_opcode = p->opcode;
    p->state = ST_HEAD;
    p->head_len = 0;
    p->head_need = 2;
    if (p->opcode == SC_WS_OP_CLOSE) {
        int r = sc_ws_close_parse(p->ctrl, n, &out->close_code, &out->reason, &out->reason_len);
        if (r < 0)
            return fail(p, -r);
    }
    return SC_WS_CHUNK;
}

int sc_ws_parse(sc_ws_parser *p, uint8_t *buf, size_t len, size_t *consumed, sc_ws_chunk *out)
{
    size_t i = 0;
    *consumed = 0;
    if (p->error)
        return p->error;

    if (p->state == ST_HEAD) {
        while (p->head_len < p->head_need) {
            if (i == len) {
                *consumed = i;
                return SC_WS_NEED_MORE;
            }
            p->head[p->head_len++] = buf[i++];
            if (p->head_len == 2) {
                int r = check_start(p);
                if (r < 0) {
                    *consumed = i;
                    return fail(p, -r);
                }
            }
        }
        int r = start_frame(p);
        *consumed = i;
        if (r < 0)
            return fail(p, -r);
        if (p->frame_len == 0) {
            if (p->state == ST_CONTROL)
                return deliver_control(p, out);
            return deliver_data(p, buf + i, 0, out);
        }
    }

    if (p->state == ST_CONTROL) {
        size_t need = (size_t)(p->frame_len - p->offset);
        size_t take = len - i < need ? len - i : need;
        memcpy(p->ctrl + p->offset, buf + i, take);
        p->offset += take;
        i += take;
        *consumed = i;
        if (p->offset < p->frame_len)
            return SC_WS_NEED_MORE;
        return deliver_control(p, out);
    }

    /* ST_DATA */
    if (i == len) {
        *consumed = i;
        return SC_WS_NEED_MORE;
    }
    uint64_t left = p->frame_len - p->offset;
    size_t take = (uint64_t)(len - i) < left ? len - i : (size_t)left;
    *consumed = i + take;
    return deliver_data(p, buf + i, take, out);
}
