/* fuzz_ws_frame.c - libFuzzer target for the WebSocket frame parser.
 *
 * The first two input bytes choose the options (deflate, UTF-8 checks) and
 * a small max_payload and a split point; the rest is the client stream.
 * Without libFuzzer (gcc), -DSC_FUZZ_STANDALONE adds a main() that runs the
 * target once per file named on the command line (corpus replay).
 *
 * Beyond "no crash, no sanitizer report", it checks properties:
 *   - every chunk lies inside the input or the parser, within its frame
 *     (offset + len <= frame_len), and *consumed never passes the input;
 *   - the parse gives the same messages, control frames and final result
 *     when the stream comes at once, one byte at a time, or in two pieces
 *     (after an error: the same up to where the shorter account stops);
 *   - close chunks carry a code sc_ws_close_code_valid accepts (or 1005);
 *   - a header from sc_ws_write_header, once masked, parses back to the same
 *     opcode, flags and length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* A normalised account of a parse: data bytes of messages, markers for
 * message ends and control frames, the result. */
typedef struct fz_log {
    uint8_t *bytes;
    size_t len, cap;
} fz_log;

static void fz_put(fz_log *lg, const void *p, size_t n)
{
    if (lg->len + n > lg->cap) {
        size_t cap = (lg->len + n) * 2 + 64;
        lg->bytes = realloc(lg->bytes, cap);
        FZ_CHECK(lg->bytes != NULL);
        lg->cap = cap;
    }
    if (n)
        memcpy(lg->bytes + lg->len, p, n);
    lg->len += n;
}

static int fz_inside(const uint8_t *p, size_t n, const void *base, size_t len)
{
    const uint8_t *b = base;
    return p >= b && n <= len && (size_t)(p - b) <= len - n;
}

/* Parse in[0..n) fed as pieces ending at the offsets in cuts[0..ncuts). */
static int fz_run(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, uint64_t max,
                  uint32_t options, fz_log *lg)
{
    uint8_t *buf = malloc(n ? n : 1);
    memcpy(buf, in, n);
    sc_ws_parser p;
    sc_ws_parser_init(&p, max, options);
    size_t start = 0;
    int result = 0;
    for (size_t k = 0; k <= ncuts && result == 0; k++) {
        size_t end = k < ncuts ? cuts[k] : n, off = start, used;
        for (;;) {
            sc_ws_chunk c;
            int r = sc_ws_parse(&p, buf + off, end - off, &used, &c);
            FZ_CHECK(used <= end - off);
            off += used;
            if (r == SC_WS_NEED_MORE) {
                FZ_CHECK(off == end);
                break;
            }
            if (r < 0) {
                FZ_CHECK(r == -1002 || r == -1007 || r == -1009);
                result = r;
                break;
            }
            FZ_CHECK(r == SC_WS_CHUNK);
            FZ_CHECK(c.len <= c.frame_len && c.offset <= c.frame_len - c.len);
            if (c.opcode >= SC_WS_OP_CLOSE) {
                FZ_CHECK(fz_inside(c.data, c.len, &p, sizeof p) && c.len <= 125);
                FZ_CHECK(c.flags & SC_WS_FRAME_START && c.flags & SC_WS_FRAME_END);
                uint8_t mark[2] = {0xF0, c.opcode};
                fz_put(lg, mark, 2);
                fz_put(lg, c.data, c.len);
                if (c.opcode == SC_WS_OP_CLOSE) {
                    FZ_CHECK(c.close_code == SC_WS_CLOSE_NO_STATUS ||
                             sc_ws_close_code_valid(c.close_code));
                    FZ_CHECK(sc_utf8_valid(c.reason, c.reason_len));
                }
            } else {
                FZ_CHECK(c.len == 0 || fz_inside(c.data, c.len, buf, n));
                FZ_CHECK(c.msg_opcode == SC_WS_OP_TEXT || c.msg_opcode == SC_WS_OP_BINARY);
                fz_put(lg, c.data, c.len);
                if (c.flags & SC_WS_MSG_END) {
                    uint8_t mark[2] = {0xF1, c.msg_opcode};
                    fz_put(lg, mark, 2);
                }
            }
        }
        start = end;
    }
    free(buf);
    return result;
}

static void fz_writer_round_trip(const uint8_t *data, size_t size)
{
    if (size < 9)
        return;
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len = (len << 8) | data[i];
    len &= 0x7FFFFFFFFFFFFFFFull;
    if (data[8] & 1)
        len &= 0xFFFF; /* reach the small encodings often */
    unsigned opcode = data[8] & 1 ? SC_WS_OP_TEXT : SC_WS_OP_BINARY;
    uint32_t flags = (data[8] & 2 ? SC_WS_W_FIN : 0) | (data[8] & 4 ? SC_WS_W_RSV1 : 0);
    uint8_t frame[SC_WS_MAX_HEADER + 4];
    size_t h = sc_ws_write_header(frame, opcode, len, flags);
    FZ_CHECK(h == sc_ws_header_size(len));
    frame[1] |= 0x80; /* masked, as a client would send it */
    memset(frame + h, 0x5A, 4);
    sc_ws_parser p;
    sc_ws_parser_init(&p, UINT64_MAX, SC_WS_P_DEFLATE);
    size_t used;
    sc_ws_chunk c;
    int r = sc_ws_parse(&p, frame, h + 4, &used, &c);
    FZ_CHECK(used == h + 4);
    if (len == 0) {
        FZ_CHECK(r == SC_WS_CHUNK && c.frame_len == 0);
    } else {
        FZ_CHECK(r == SC_WS_NEED_MORE);
        FZ_CHECK(sc_ws_parse(&p, frame, 1, &used, &c) == SC_WS_CHUNK);
        FZ_CHECK(c.frame_len == len && c.opcode == opcode);
    }
    FZ_CHECK(!!(c.flags & SC_WS_FIN) == !!(flags & SC_WS_W_FIN));
    FZ_CHECK(!!(c.flags & SC_WS_COMPRESSED) == !!(flags & SC_WS_W_RSV1));
}

/* Equal logs; after an error, one a prefix of the other: how much of a
 * failing piece was handed out before the bad byte depends on the split. */
static int fz_same(const fz_log *a, const fz_log *b, int result)
{
    size_t n = a->len < b->len ? a->len : b->len;
    if (result == 0 && a->len != b->len)
        return 0;
    return n == 0 || memcmp(a->bytes, b->bytes, n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_writer_round_trip(data, size);
    if (size < 2)
        return 0;
    uint32_t options = data[0] & (SC_WS_P_DEFLATE | SC_WS_P_UTF8);
    uint64_t max = (data[0] & 4) ? UINT64_MAX : (uint64_t)(data[0] >> 3) * 16;
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    fz_log whole = {0}, part = {0};
    int r = fz_run(in, n, NULL, 0, max, options, &whole);

    /* two pieces at an input-chosen point */
    size_t cut = n ? data[1] % (n + 1) : 0;
    FZ_CHECK(fz_run(in, n, &cut, 1, max, options, &part) == r);
    FZ_CHECK(fz_same(&whole, &part, r));

    /* one byte at a time */
    if (n <= 4096) {
        size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
        for (size_t i = 0; i < n; i++)
            cuts[i] = i + 1;
        part.len = 0;
        FZ_CHECK(fz_run(in, n, cuts, n, max, options, &part) == r);
        FZ_CHECK(fz_same(&whole, &part, r));
        free(cuts);
    }

    /* the close payload parser on raw bytes */
    uint16_t code;
    const uint8_t *reason;
    size_t reason_len;
    size_t cl = n < 125 ? n : 125;
    if (sc_ws_close_parse(in, cl, &code, &reason, &reason_len) == 0)
        FZ_CHECK(code == SC_WS_CLOSE_NO_STATUS || sc_ws_close_code_valid(code));

    free(whole.bytes);
    free(part.bytes);
    return 0;
}

#include "fuzz_replay.h"
