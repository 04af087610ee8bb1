/* test_ws_frame.c - the client frame parser (RFC 6455 section 5 examples,
 * fragmentation, every protocol error with its close code, input split at
 * every byte), unmasking, close payloads and the server frame writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

#include "check.h"

static const uint8_t KEY[4] = {0x37, 0xfa, 0x21, 0x3d}; /* the RFC 6455 5.7 mask */

/* A masked client frame.  lenform: 0 minimal, 16 or 64 force that encoding. */
static size_t cframe(uint8_t *out, uint8_t b0, const void *payload, uint64_t len, int lenform)
{
    size_t o = 0;
    out[o++] = b0;
    if (lenform == 0 && len <= 125) {
        out[o++] = (uint8_t)(0x80 | len);
    } else if (lenform == 16 || (lenform == 0 && len <= 0xFFFF)) {
        out[o++] = 0x80 | 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[o++] = (uint8_t)(len >> (56 - 8 * i));
    }
    memcpy(out + o, KEY, 4);
    o += 4;
    if (payload) {
        memcpy(out + o, payload, (size_t)len);
        sc_ws_mask(out + o, (size_t)len, KEY, 0);
        o += (size_t)len;
    }
    return o;
}

/* What a parse produced, rendered as text so runs can be compared:
 * "T:Hello|P:x|C:1000:bye|" (T text message, B binary, P ping, O pong,
 * C close) then "E<code>" on error. */
typedef struct log {
    char text[4096];
    size_t len;
    uint8_t msg[70000];
    size_t msg_len;
    int chunks;
    uint32_t or_flags; /* every flag seen on data chunks */
} log_t;

static void log_put(log_t *lg, const char *s, size_t n)
{
    if (lg->len + n < sizeof lg->text) {
        memcpy(lg->text + lg->len, s, n);
        lg->len += n;
        lg->text[lg->len] = '\0';
    }
}

static void log_chunk(log_t *lg, const sc_ws_chunk *c)
{
    char tmp[64];
    lg->chunks++;
    if (c->opcode >= SC_WS_OP_CLOSE) {
        CHECK((c->flags & (SC_WS_FRAME_START | SC_WS_FRAME_END | SC_WS_FIN)) ==
              (SC_WS_FRAME_START | SC_WS_FRAME_END | SC_WS_FIN));
        CHECK(c->msg_opcode == c->opcode && c->len == c->frame_len);
        if (c->opcode == SC_WS_OP_CLOSE) {
            snprintf(tmp, sizeof tmp, "C:%u:", c->close_code);
            log_put(lg, tmp, strlen(tmp));
            log_put(lg, (const char *)c->reason, c->reason_len);
        } else {
            log_put(lg, c->opcode == SC_WS_OP_PING ? "P:" : "O:", 2);
            log_put(lg, (const char *)c->data, c->len);
        }
        log_put(lg, "|", 1);
        return;
    }
    lg->or_flags |= c->flags;
    CHECK(((c->flags & SC_WS_MSG_START) != 0) ==
          (lg->msg_len == 0 && c->offset == 0 && c->opcode != SC_WS_OP_CONTINUATION));
    if (lg->msg_len + c->len <= sizeof lg->msg) {
        memcpy(lg->msg + lg->msg_len, c->data, c->len);
        lg->msg_len += c->len;
    }
    if (c->flags & SC_WS_MSG_END) {
        snprintf(tmp, sizeof tmp, "%s%s:", c->msg_opcode == SC_WS_OP_TEXT ? "T" : "B",
                 (c->flags & SC_WS_COMPRESSED) ? "z" : "");
        log_put(lg, tmp, strlen(tmp));
        if (lg->msg_len <= 64) {
            log_put(lg, (const char *)lg->msg, lg->msg_len);
        } else {
            snprintf(tmp, sizeof tmp, "<%zu>", lg->msg_len);
            log_put(lg, tmp, strlen(tmp));
        }
        log_put(lg, "|", 1);
        lg->msg_len = 0;
    }
}

/* Parse a copy of in[0..n) fed in pieces that end at the offsets in cuts
 * (then the rest); returns the final result (0 or an error). */
static int run_cuts(const uint8_t *in, size_t n, const size_t *cuts, size_t ncuts, uint64_t max,
                    uint32_t options, log_t *lg)
{
    uint8_t *buf = malloc(n ? n : 1);
    memcpy(buf, in, n);
    memset(lg, 0, sizeof *lg);
    sc_ws_parser p;
    sc_ws_parser_init(&p, max, options);
    size_t start = 0;
    int result = 0;
    for (size_t k = 0; k <= ncuts && result == 0; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        size_t off = start, used;
        sc_ws_chunk c;
        for (;;) {
            int r = sc_ws_parse(&p, buf + off, end - off, &used, &c);
            CHECK(used <= end - off);
            off += used;
            if (r == SC_WS_NEED_MORE) {
                CHECK(off == end);
                break;
            }
            if (r < 0) {
                char tmp[16];
                snprintf(tmp, sizeof tmp, "E%d", -r);
                log_put(lg, tmp, strlen(tmp));
                result = r;
                /* sticky */
                CHECK(sc_ws_parse(&p, buf, n, &used, &c) == r && used == 0);
                break;
            }
            CHECK(r == SC_WS_CHUNK);
            log_chunk(lg, &c);
        }
        start = end;
    }
    free(buf);
    return result;
}

static int run(const uint8_t *in, size_t n, uint64_t max, uint32_t options, log_t *lg)
{
    return run_cuts(in, n, NULL, 0, max, options, lg);
}

/* One shot, byte by byte, and every single split point all agree. */
static int splits_agree(const uint8_t *in, size_t n, uint64_t max, uint32_t options)
{
    static log_t whole, part;
    int ok = 1;
    int r = run(in, n, max, options, &whole);
    size_t *cuts = malloc((n ? n : 1) * sizeof *cuts);
    for (size_t i = 0; i < n; i++)
        cuts[i] = i + 1;
    ok &= run_cuts(in, n, cuts, n, max, options, &part) == r && strcmp(part.text, whole.text) == 0;
    for (size_t cut = 0; cut <= n && ok; cut++) {
        ok &= run_cuts(in, n, &cut, 1, max, options, &part) == r;
        ok &= strcmp(part.text, whole.text) == 0;
    }
    if (!ok)
        fprintf(stderr, "split mismatch: whole=%s part=%s\n", whole.text, part.text);
    free(cuts);
    return ok;
}

static log_t lg;
#define BIG (1u << 20)

static void test_rfc_examples(void)
{
    /* 5.7: a single-frame masked text message */
    static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                    0x7f, 0x9f, 0x4d, 0x51, 0x58};
    CHECK(run(hello, sizeof hello, BIG, 0, &lg) == 0);
    CHECK(strcmp(lg.text, "T:Hello|") == 0);
    CHECK(lg.chunks == 1);
    CHECK(splits_agree(hello, sizeof hello, BIG, 0));

    /* a masked ping, then its pong */
    uint8_t buf[64];
    size_t n = cframe(buf, 0x89, "Hello", 5, 0);
    n += cframe(buf + n, 0x8A, "Hello", 5, 0);
    CHECK(run(buf, n, BIG, 0, &lg) == 0 && strcmp(lg.text, "P:Hello|O:Hello|") == 0);
    CHECK(splits_agree(buf, n, BIG, 0));
}

static void test_lengths(void)
{
    static uint8_t payload[70000], frame[70100];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    static const size_t sizes[] = {0, 1, 125, 126, 127, 256, 65535, 65536, 70000};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = cframe(frame, 0x82, payload, sizes[k], 0);
        CHECK(n == sizes[k] + 4 + sc_ws_header_size(sizes[k]));
        CHECK(run(frame, n, BIG, 0, &lg) == 0);
        CHECK(lg.msg_len == 0 && lg.chunks == 1); /* whole message in one chunk */
        /* the data went through unmasked: compare with one more parse */
        sc_ws_parser p;
        sc_ws_parser_init(&p, BIG, 0);
        size_t used;
        sc_ws_chunk c;
        CHECK(sc_ws_parse(&p, frame, n, &used, &c) == SC_WS_CHUNK && used == n);
        CHECK(c.len == sizes[k] && c.frame_len == sizes[k] && memcmp(c.data, payload, c.len) == 0);
        CHECK(c.flags ==
              (SC_WS_FRAME_START | SC_WS_FRAME_END | SC_WS_FIN | SC_WS_MSG_START | SC_WS_MSG_END));
        CHECK(c.msg_opcode == SC_WS_OP_BINARY && c.opcode == SC_WS_OP_BINARY);
    }
    /* non-minimal encodings are accepted */
    size_t n = cframe(frame, 0x81, "abc", 3, 16);
    CHECK(run(frame, n, BIG, 0, &lg) == 0 && strcmp(lg.text, "T:abc|") == 0);
    n = cframe(frame, 0x81, "abc", 3, 64);
    CHECK(run(frame, n, BIG, 0, &lg) == 0 && strcmp(lg.text, "T:abc|") == 0);
    CHECK(splits_agree(frame, n, BIG, 0));
    /* a 64-bit length with the top bit set */
    n = cframe(frame, 0x82, NULL, 0x8000000000000000ull, 64);
    CHECK(run(frame, n, UINT64_MAX, 0, &lg) == -SC_WS_CLOSE_PROTOCOL);
    /* a huge (legal) length is announced and streamed as it arrives */
    n = cframe(frame, 0x82, NULL, 1ull << 40, 64);
    memset(frame + n, 0, 100);
    sc_ws_parser p;
    sc_ws_parser_init(&p, 1ull << 41, 0);
    size_t used;
    sc_ws_chunk c;
    CHECK(sc_ws_parse(&p, frame, n + 100, &used, &c) == SC_WS_CHUNK && used == n + 100);
    CHECK(c.len == 100 && c.frame_len == (1ull << 40) && c.offset == 0);
    CHECK((c.flags & SC_WS_FRAME_END) == 0 && (c.flags & SC_WS_MSG_START));
    CHECK(sc_ws_parse(&p, frame, 10, &used, &c) == SC_WS_CHUNK && c.offset == 100 && c.len == 10);
    CHECK((c.flags & (SC_WS_FRAME_START | SC_WS_MSG_START)) == 0);
}

static void test_fragmentation(void)
{
    uint8_t buf[256];
    size_t n = 0;
    n += cframe(buf + n, 0x01, "Hel", 3, 0); /* TEXT, no FIN */
    n += cframe(buf + n, 0x89, "x", 1, 0);   /* ping in between */
    n += cframe(buf + n, 0x00, "lo", 2, 0);  /* CONT, no FIN */
    n += cframe(buf + n, 0x8A, "", 0, 0);    /* empty pong */
    n += cframe(buf + n, 0x80, "", 0, 0);    /* CONT, FIN, empty */
    n += cframe(buf + n, 0x82, "", 0, 0);    /* empty binary message */
    n += cframe(buf + n, 0x02, "ab", 2, 0);  /* BINARY, no FIN */
    n += cframe(buf + n, 0x80, "c", 1, 0);   /* CONT, FIN */
    CHECK(run(buf, n, BIG, 0, &lg) == 0);
    CHECK(strcmp(lg.text, "P:x|O:|T:Hello|B:|B:abc|") == 0);
    CHECK(splits_agree(buf, n, BIG, 0));

    /* continuation chunks carry the message opcode and report in_message */
    sc_ws_parser p;
    sc_ws_parser_init(&p, BIG, 0);
    uint8_t f[32];
    size_t k = cframe(f, 0x01, "ab", 2, 0), used;
    sc_ws_chunk c;
    CHECK(sc_ws_parse(&p, f, k, &used, &c) == SC_WS_CHUNK);
    CHECK(c.flags == (SC_WS_FRAME_START | SC_WS_FRAME_END | SC_WS_MSG_START));
    CHECK(sc_ws_parser_in_message(&p) == 1);
    k = cframe(f, 0x80, "cd", 2, 0);
    CHECK(sc_ws_parse(&p, f, k, &used, &c) == SC_WS_CHUNK);
    CHECK(c.opcode == SC_WS_OP_CONTINUATION && c.msg_opcode == SC_WS_OP_TEXT);
    CHECK(c.flags == (SC_WS_FRAME_START | SC_WS_FRAME_END | SC_WS_FIN | SC_WS_MSG_END));
    CHECK(sc_ws_parser_in_message(&p) == 0);
}

/* Expect the stream to fail with code after producing want_log. */
static int fails_with(const uint8_t *buf, size_t n, uint64_t max, uint32_t opt, int code,
                      const char *want_log)
{
    char want[256];
    int r = run(buf, n, max, opt, &lg);
    snprintf(want, sizeof want, "%sE%d", want_log, code);
    if (r != -code || strcmp(lg.text, want) != 0) {
        fprintf(stderr, "got %d log %s, want %s\n", r, lg.text, want);
        return 0;
    }
    return splits_agree(buf, n, max, opt);
}

static void test_protocol_errors(void)
{
    uint8_t buf[256];
    size_t n;

    /* unmasked: judged from the first two bytes */
    static const uint8_t unmasked[] = {0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
    CHECK(fails_with(unmasked, sizeof unmasked, BIG, 0, 1002, ""));
    sc_ws_parser p;
    sc_ws_parser_init(&p, BIG, 0);
    uint8_t copy[7];
    memcpy(copy, unmasked, 7);
    size_t used;
    sc_ws_chunk c;
    CHECK(sc_ws_parse(&p, copy, 7, &used, &c) == -1002 && used == 2);

    /* reserved bits */
    n = cframe(buf, 0x81 | 0x20, "a", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    n = cframe(buf, 0x81 | 0x10, "a", 1, 0);
    CHECK(fails_with(buf, n, BIG, SC_WS_P_DEFLATE, 1002, ""));
    n = cframe(buf, 0x81 | 0x40, "a", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, "")); /* RSV1 without deflate */
    n = cframe(buf, 0x89 | 0x40, "a", 1, 0);
    CHECK(fails_with(buf, n, BIG, SC_WS_P_DEFLATE, 1002, "")); /* RSV1 on a control frame */
    n = cframe(buf, 0x01 | 0x40, "a", 1, 0);
    n += cframe(buf + n, 0x80 | 0x40, "b", 1, 0); /* RSV1 on a continuation */
    CHECK(fails_with(buf, n, BIG, SC_WS_P_DEFLATE, 1002, ""));

    /* every reserved opcode */
    for (uint8_t op = 3; op < 16; op++) {
        if (op >= 8 && op <= 10)
            continue;
        n = cframe(buf, (uint8_t)(0x80 | op), "a", 1, 0);
        CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    }

    /* control frames: FIN, 125 bytes at most (whatever the length encoding) */
    n = cframe(buf, 0x09, "a", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    uint8_t big[200];
    memset(big, 'p', sizeof big);
    n = cframe(buf, 0x89, big, 125, 0);
    CHECK(run(buf, n, BIG, 0, &lg) == 0 && lg.chunks == 1);
    n = cframe(buf, 0x89, big, 126, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    n = cframe(buf, 0x88, big, 5, 16); /* small, but a 16-bit length on a control frame */
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));

    /* continuation without a message; a new message inside one */
    n = cframe(buf, 0x80, "a", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    n = cframe(buf, 0x81, "a", 1, 0);
    n += cframe(buf + n, 0x80, "b", 1, 0); /* the message already ended */
    CHECK(fails_with(buf, n, BIG, 0, 1002, "T:a|"));
    n = cframe(buf, 0x01, "a", 1, 0);
    n += cframe(buf + n, 0x81, "b", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    n = cframe(buf, 0x02, "a", 1, 0);
    n += cframe(buf + n, 0x89, "p", 1, 0);
    n += cframe(buf + n, 0x02, "b", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, "P:p|"));
}

static void test_max_payload(void)
{
    uint8_t buf[256], data[100];
    memset(data, 'd', sizeof data);
    size_t n = cframe(buf, 0x82, data, 10, 0);
    CHECK(run(buf, n, 10, 0, &lg) == 0); /* exactly the limit */
    n = cframe(buf, 0x82, data, 11, 0);
    CHECK(fails_with(buf, n, 10, 0, 1009, "")); /* judged on the header */
    sc_ws_parser p;
    sc_ws_parser_init(&p, 10, 0);
    size_t used;
    sc_ws_chunk c;
    CHECK(sc_ws_parse(&p, buf, 6, &used, &c) == -1009 && used == 6);
    /* the sum of the fragments counts */
    n = cframe(buf, 0x02, data, 6, 0);
    n += cframe(buf + n, 0x89, data, 20, 0); /* control frames do not count */
    n += cframe(buf + n, 0x80, data, 5, 0);
    CHECK(fails_with(buf, n, 10, 0, 1009, "P:dddddddddddddddddddd|"));
    n = cframe(buf, 0x02, data, 6, 0);
    n += cframe(buf + n, 0x80, data, 4, 0);
    n += cframe(buf + n, 0x82, data, 10, 0); /* a new message starts from zero */
    CHECK(run(buf, n, 10, 0, &lg) == 0 && strcmp(lg.text, "B:dddddddddd|B:dddddddddd|") == 0);
    /* a control frame is not limited by a small max_payload */
    n = cframe(buf, 0x89, data, 50, 0);
    CHECK(run(buf, n, 10, 0, &lg) == 0 && lg.chunks == 1);
}

static void test_deflate_flag(void)
{
    uint8_t buf[256];
    size_t n = cframe(buf, 0x41, "zz", 2, 0); /* TEXT + RSV1, no FIN */
    n += cframe(buf + n, 0x89, "p", 1, 0);
    n += cframe(buf + n, 0x80, "y", 1, 0);
    n += cframe(buf + n, 0x82, "b", 1, 0); /* next message is not compressed */
    CHECK(run(buf, n, BIG, SC_WS_P_DEFLATE | SC_WS_P_UTF8, &lg) == 0);
    CHECK(strcmp(lg.text, "P:p|Tz:zzy|B:b|") == 0);
    CHECK(splits_agree(buf, n, BIG, SC_WS_P_DEFLATE));
    /* compressed text is not UTF-8 checked here (it is still deflate data) */
    n = cframe(buf, 0xC1, "\xff\xfe", 2, 0);
    CHECK(run(buf, n, BIG, SC_WS_P_DEFLATE | SC_WS_P_UTF8, &lg) == 0);
}

static void test_close_frames(void)
{
    uint8_t buf[256], pl[130];
    size_t n = cframe(buf, 0x88, "", 0, 0);
    CHECK(run(buf, n, BIG, 0, &lg) == 0 && strcmp(lg.text, "C:1005:|") == 0);
    n = cframe(buf, 0x88,
               "\x03\xe8"
               "bye",
               5, 0);
    CHECK(run(buf, n, BIG, 0, &lg) == 0 && strcmp(lg.text, "C:1000:bye|") == 0);
    CHECK(splits_agree(buf, n, BIG, 0));
    n = cframe(buf, 0x88, "\x03", 1, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1002, ""));
    /* a reason that is not UTF-8 */
    n = cframe(buf, 0x88, "\x03\xe8\xce", 3, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1007, ""));
    n = cframe(buf, 0x88, "\x03\xe8\xed\xa0\x80", 5, 0);
    CHECK(fails_with(buf, n, BIG, 0, 1007, ""));
    /* a full 125-byte close: code + 123 bytes of multi-byte reason */
    pl[0] = 0x0f, pl[1] = 0xa0; /* 4000 */
    for (int i = 0; i < 123; i += 3)
        memcpy(pl + 2 + i, "\xe2\x82\xac", 3);
    n = cframe(buf, 0x88, pl, 125, 0);
    CHECK(run(buf, n, BIG, 0, &lg) == 0 && strncmp(lg.text, "C:4000:\xe2\x82\xac", 10) == 0);

    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                     1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0,    1,    999,  1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 6000, 65535};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        uint8_t p2[2] = {(uint8_t)(valid[i] >> 8), (uint8_t)valid[i]};
        n = cframe(buf, 0x88, p2, 2, 0);
        char want[32];
        snprintf(want, sizeof want, "C:%u:|", valid[i]);
        CHECK(run(buf, n, BIG, 0, &lg) == 0 && strcmp(lg.text, want) == 0);
        CHECK(sc_ws_close_code_valid(valid[i]) == 1);
    }
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        uint8_t p2[2] = {(uint8_t)(invalid[i] >> 8), (uint8_t)invalid[i]};
        n = cframe(buf, 0x88, p2, 2, 0);
        CHECK(run(buf, n, BIG, 0, &lg) == -1002);
        CHECK(sc_ws_close_code_valid(invalid[i]) == 0);
    }
    /* the whole range agrees with the rule written another way */
    int mismatches = 0;
    for (unsigned code = 0; code < 70000; code++) {
        int want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                   (code >= 3000 && code <= 4999);
        mismatches += sc_ws_close_code_valid(code) != want;
    }
    CHECK(mismatches == 0);
}

static void test_close_parse_direct(void)
{
    uint16_t code = 0;
    const uint8_t *reason;
    size_t rlen;
    CHECK(sc_ws_close_parse((const uint8_t *)"", 0, &code, &reason, &rlen) == 0 && code == 1005 &&
          rlen == 0);
    CHECK(sc_ws_close_parse((const uint8_t *)"\x0b\xb8ok", 4, &code, &reason, &rlen) == 0 &&
          code == 3000 && rlen == 2 && memcmp(reason, "ok", 2) == 0);
    CHECK(sc_ws_close_parse((const uint8_t *)"\x03", 1, &code, &reason, &rlen) == -1002);
    CHECK(sc_ws_close_parse((const uint8_t *)"\x03\xed", 2, &code, &reason, &rlen) == -1002);
    CHECK(sc_ws_close_parse((const uint8_t *)"\x03\xe8\x80", 3, &code, &reason, &rlen) == -1007);
}

static void test_close_payload_writer(void)
{
    uint8_t out[125];
    CHECK(sc_ws_close_payload(out, 1000, "bye", 3) == 5 && memcmp(out,
                                                                  "\x03\xe8"
                                                                  "bye",
                                                                  5) == 0);
    CHECK(sc_ws_close_payload(out, 4000, NULL, 0) == 2 && out[0] == 0x0f && out[1] == 0xa0);
    CHECK(sc_ws_close_payload(out, 1005, "x", 1) == 0);
    CHECK(sc_ws_close_payload(out, 0, "x", 1) == 0);
    CHECK(sc_ws_close_payload(out, 1006, "x", 1) == -1);
    CHECK(sc_ws_close_payload(out, 2000, "x", 1) == -1);
    char longr[300];
    memset(longr, 'a', sizeof longr);
    CHECK(sc_ws_close_payload(out, 1000, longr, sizeof longr) == 125);
    /* two-byte characters: cut before the one that would be split */
    for (int i = 0; i < 200; i += 2)
        longr[i] = (char)0xC3, longr[i + 1] = (char)0xA9;
    int n = sc_ws_close_payload(out, 1000, longr, 200);
    CHECK(n == 124 && sc_utf8_valid(out + 2, (size_t)n - 2));
    /* four-byte characters */
    for (int i = 0; i < 200; i += 4)
        memcpy(longr + i, "\xf0\x9f\x98\x80", 4);
    n = sc_ws_close_payload(out, 1000, longr, 200);
    CHECK(n == 122 && sc_utf8_valid(out + 2, (size_t)n - 2));
    /* what we write, the parser reads back */
    uint16_t code;
    const uint8_t *reason;
    size_t rlen;
    CHECK(sc_ws_close_parse(out, (size_t)n, &code, &reason, &rlen) == 0 && code == 1000 &&
          rlen == 120);
}

static void test_utf8_option(void)
{
    uint8_t buf[256];
    /* fail fast: the bad byte is in the first fragment, before FIN */
    size_t n = cframe(buf, 0x01, "ok\xc0\xaf", 4, 0);
    n += cframe(buf + n, 0x80, "more", 4, 0);
    CHECK(fails_with(buf, n, BIG, SC_WS_P_UTF8, 1007, ""));
    /* a sequence split across fragments is fine */
    n = cframe(buf, 0x01, "caf\xc3", 4, 0);
    n += cframe(buf + n, 0x89, "p", 1, 0);
    n += cframe(buf + n, 0x80, "\xa9", 1, 0);
    CHECK(run(buf, n, BIG, SC_WS_P_UTF8, &lg) == 0 && strcmp(lg.text, "P:p|T:caf\xc3\xa9|") == 0);
    CHECK(splits_agree(buf, n, BIG, SC_WS_P_UTF8));
    /* truncated at the end of the message */
    n = cframe(buf, 0x01, "caf", 3, 0);
    n += cframe(buf + n, 0x80, "\xc3", 1, 0);
    CHECK(fails_with(buf, n, BIG, SC_WS_P_UTF8, 1007, ""));
    /* a message ending on an empty FIN frame is still checked */
    n = cframe(buf, 0x01, "\xe2\x82", 2, 0);
    n += cframe(buf + n, 0x80, "", 0, 0);
    CHECK(fails_with(buf, n, BIG, SC_WS_P_UTF8, 1007, ""));
    /* the next message starts with a fresh validator */
    n = cframe(buf, 0x81, "\xe2\x82\xac", 3, 0);
    n += cframe(buf + n, 0x81, "\xe2\x82\xac", 3, 0);
    CHECK(run(buf, n, BIG, SC_WS_P_UTF8, &lg) == 0);
    /* binary is never checked, nor text without the option */
    n = cframe(buf, 0x82, "\xff", 1, 0);
    CHECK(run(buf, n, BIG, SC_WS_P_UTF8, &lg) == 0);
    n = cframe(buf, 0x81, "\xff", 1, 0);
    CHECK(run(buf, n, BIG, 0, &lg) == 0);
}

static void test_mask(void)
{
    uint8_t a[64], b[64];
    int mismatches = 0;
    for (size_t len = 0; len <= 40; len++)
        for (uint64_t off = 0; off < 9; off++) {
            for (size_t i = 0; i < len + 2; i++)
                a[i] = b[i] = (uint8_t)(i * 31 + len);
            sc_ws_mask(a + 1, len, KEY, off); /* unaligned on purpose */
            for (size_t i = 0; i < len; i++)
                b[i + 1] ^= KEY[(off + i) % 4];
            mismatches += memcmp(a, b, len + 2) != 0; /* and nothing outside touched */
            sc_ws_mask(a + 1, len, KEY, off);         /* masking twice restores */
            for (size_t i = 0; i < len + 2; i++)
                mismatches += a[i] != (uint8_t)(i * 31 + len);
        }
    CHECK(mismatches == 0);
}

static void test_writer(void)
{
    uint8_t h[SC_WS_MAX_HEADER];
    CHECK(sc_ws_write_header(h, SC_WS_OP_TEXT, 5, SC_WS_W_FIN) == 2);
    CHECK(h[0] == 0x81 && h[1] == 5);
    CHECK(sc_ws_write_header(h, SC_WS_OP_BINARY, 0, 0) == 2 && h[0] == 0x02 && h[1] == 0);
    CHECK(sc_ws_write_header(h, SC_WS_OP_TEXT, 125, SC_WS_W_FIN | SC_WS_W_RSV1) == 2);
    CHECK(h[0] == 0xC1 && h[1] == 125);
    CHECK(sc_ws_write_header(h, SC_WS_OP_BINARY, 126, SC_WS_W_FIN) == 4);
    CHECK(h[0] == 0x82 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK(sc_ws_write_header(h, SC_WS_OP_BINARY, 65535, SC_WS_W_FIN) == 4);
    CHECK(h[1] == 126 && h[2] == 0xFF && h[3] == 0xFF);
    CHECK(sc_ws_write_header(h, SC_WS_OP_BINARY, 65536, SC_WS_W_FIN) == 10);
    static const uint8_t want64[] = {0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    CHECK(memcmp(h, want64, 10) == 0);
    CHECK(sc_ws_write_header(h, SC_WS_OP_CONTINUATION, 0x0102030405060708ull, 0) == 10);
    static const uint8_t wantbig[] = {0x00, 127, 1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(memcmp(h, wantbig, 10) == 0);
    CHECK(sc_ws_write_header(h, SC_WS_OP_CLOSE, 2, SC_WS_W_FIN) == 2 && h[0] == 0x88);
    CHECK(sc_ws_write_header(h, SC_WS_OP_PONG, 0, SC_WS_W_FIN) == 2 && h[0] == 0x8A);
    /* stray flag bits and opcode bits do not leak */
    CHECK(sc_ws_write_header(h, 0x12, 0, 0xFFFFFFFFu) == 2 && h[0] == 0xC2);
    CHECK(sc_ws_header_size(0) == 2 && sc_ws_header_size(125) == 2);
    CHECK(sc_ws_header_size(126) == 4 && sc_ws_header_size(65535) == 4);
    CHECK(sc_ws_header_size(65536) == 10);
}

static void test_empty_input(void)
{
    sc_ws_parser p;
    sc_ws_parser_init(&p, BIG, 0);
    size_t used = 99;
    sc_ws_chunk c;
    CHECK(sc_ws_parse(&p, NULL, 0, &used, &c) == SC_WS_NEED_MORE && used == 0);
}

int main(void)
{
    test_rfc_examples();
    test_lengths();
    test_fragmentation();
    test_protocol_errors();
    test_max_payload();
    test_deflate_flag();
    test_close_frames();
    test_close_parse_direct();
    test_close_payload_writer();
    test_utf8_option();
    test_mask();
    test_writer();
    test_empty_input();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
