/* fuzz_http_parser.c - libFuzzer target for csrc/http_parser.c.
 *
 * Build and run (clang):
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc \
 *         fuzz/fuzz_http_parser.c csrc/http_parser.c csrc/tokens.c -o /tmp/fuzz_http_parser
 *   /tmp/fuzz_http_parser -max_total_time=60 fuzz/corpus/http
 * Without libFuzzer (gcc), -DSC_FUZZ_STANDALONE adds a main() that runs the
 * target once per file named on the command line (corpus replay).
 *
 * Beyond "no crash, no sanitizer report", it checks properties:
 *   - the result is a byte count within the input or one of the documented
 *     codes; every slice of a parsed request lies inside the input;
 *   - every proper prefix of a complete head parses as SC_HTTP_INCOMPLETE;
 *   - the chunked decoder gives the same result, body, total and leftover
 *     bytes whether it gets the input at once, one byte at a time, or in two
 *     pieces cut at an input-chosen offset.
 * Limits are small so the limit paths are reached often.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parser.h"

#define FZ_MAX_HEADERS 8
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static const sc_http_limits FZ_LIMITS = {512, FZ_MAX_HEADERS, 96};

static int fz_inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static int fz_parse(const uint8_t *data, size_t n, sc_request *req, sc_header *headers, char **out)
{
    char *buf = malloc(n ? n : 1);
    memcpy(buf, data, n);
    memset(req, 0, sizeof *req);
    req->headers = headers;
    int rc = sc_http_parse_request(buf, n, req, &FZ_LIMITS);
    if (out)
        *out = buf;
    else
        free(buf);
    return rc;
}

static void fz_check_request(const sc_request *req, const char *buf, size_t len)
{
    FZ_CHECK(fz_inside(req->method, req->method_len, buf, len) && req->method_len > 0);
    FZ_CHECK(fz_inside(req->target, req->target_len, buf, len) && req->target_len > 0);
    FZ_CHECK(req->target_len <= FZ_LIMITS.max_url_size);
    FZ_CHECK(req->path_len <= req->target_len);
    FZ_CHECK(req->target[0] == '/' || (req->target[0] == '*' && req->target_len == 1));
    FZ_CHECK(req->http_minor <= 1);
    FZ_CHECK(req->num_headers <= FZ_MAX_HEADERS);
    for (uint32_t i = 0; i < req->num_headers; i++) {
        const sc_header *h = &req->headers[i];
        FZ_CHECK(h->name_len > 0 && fz_inside(h->value, h->value_len, buf, len));
        for (uint32_t j = 0; j < h->name_len; j++)
            FZ_CHECK(!(h->name[j] >= 'A' && h->name[j] <= 'Z') && h->name[j] != ':');
    }
    if (req->flags & SC_REQ_CHUNKED)
        FZ_CHECK(req->content_length == 0 && (req->flags & SC_REQ_HAS_BODY));
}

typedef struct fz_decoded {
    long rc;
    uint64_t total;
    size_t body_len, rest_len;
    char *body, *rest;
} fz_decoded;

/* Decode data[0..n) fed in pieces of `step` bytes (0: all at once), except
 * that a cut at `cut` is always made. */
static void fz_decode(fz_decoded *r, const uint8_t *data, size_t n, size_t step, size_t cut)
{
    sc_chunked d;
    sc_chunked_init(&d);
    r->rc = SC_HTTP_INCOMPLETE;
    r->body = malloc(n ? n : 1);
    r->rest = malloc(n ? n : 1);
    r->body_len = r->rest_len = 0;
    size_t pos = 0;
    while (r->rc == SC_HTTP_INCOMPLETE && pos < n) {
        size_t stop = step ? pos + step : n;
        if (pos < cut && cut < stop)
            stop = cut;
        if (stop > n)
            stop = n;
        size_t len = stop - pos;
        char *piece = malloc(len);
        memcpy(piece, data + pos, len);
        r->rc = sc_chunked_decode(&d, piece, &len);
        FZ_CHECK(len <= stop - pos);
        memcpy(r->body + r->body_len, piece, len);
        r->body_len += len;
        if (r->rc >= 0) {
            FZ_CHECK(len + (size_t)r->rc <= stop - pos);
            memcpy(r->rest, piece + len, (size_t)r->rc);
            r->rest_len = (size_t)r->rc;
        }
        free(piece);
        pos = stop;
    }
    /* what the caller never fed counts as left over too */
    if (r->rc >= 0) {
        memcpy(r->rest + r->rest_len, data + pos, n - pos);
        r->rest_len += n - pos;
    }
    FZ_CHECK(r->rc >= 0 || r->rc == SC_HTTP_INCOMPLETE || r->rc == -400);
    r->total = d.total;
    if (r->rc != -400)
        FZ_CHECK(r->total == r->body_len);
}

static void fz_same(const fz_decoded *a, const fz_decoded *b)
{
    FZ_CHECK(a->rc >= 0 ? b->rc >= 0 : a->rc == b->rc);
    if (a->rc == -400)
        return; /* how much body came before the error depends on the pieces */
    FZ_CHECK(a->body_len == b->body_len && memcmp(a->body, b->body, a->body_len) == 0);
    FZ_CHECK(a->total == b->total);
    FZ_CHECK(a->rest_len == b->rest_len && memcmp(a->rest, b->rest, a->rest_len) == 0);
}

static void fz_chunked(const uint8_t *data, size_t n)
{
    fz_decoded whole, bytes, two;
    size_t cut = n ? data[0] % (n + 1) : 0;
    fz_decode(&whole, data, n, 0, 0);
    fz_decode(&bytes, data, n, 1, 0);
    fz_decode(&two, data, n, 0, cut);
    fz_same(&whole, &bytes);
    fz_same(&whole, &two);
    free(whole.body), free(whole.rest);
    free(bytes.body), free(bytes.rest);
    free(two.body), free(two.rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sc_header headers[FZ_MAX_HEADERS];
    sc_request req;
    char *buf;
    int rc = fz_parse(data, size, &req, headers, &buf);
    FZ_CHECK(rc > 0 || rc == SC_HTTP_INCOMPLETE || rc == -400 || rc == -414 || rc == -431 ||
             rc == -501 || rc == -505);
    if (rc > 0) {
        FZ_CHECK((size_t)rc <= size);
        fz_check_request(&req, buf, size);
        /* a complete head is incomplete in every proper prefix (a few of them) */
        size_t probes[3] = {(size_t)rc - 1, (size_t)rc / 2, size ? data[size - 1] % (size_t)rc : 0};
        for (int i = 0; i < 3; i++) {
            sc_request r2;
            sc_header h2[FZ_MAX_HEADERS];
            FZ_CHECK(fz_parse(data, probes[i], &r2, h2, NULL) == SC_HTTP_INCOMPLETE);
        }
    }
    free(buf);
    if (rc > 0 && (req.flags & SC_REQ_CHUNKED))
        fz_chunked(data + rc, size - (size_t)rc);
    else
        fz_chunked(data, size);
    return 0;
}

#include "fuzz_replay.h"
