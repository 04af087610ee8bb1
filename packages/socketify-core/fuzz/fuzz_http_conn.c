/* fuzz_http_conn.c - libFuzzer target for the whole connection path.
 *
 * Where fuzz_http_parser.c stops at the parser, this drives a real sc_loop:
 * memory connections (sc_mem_*), the HTTP state machine (http_conn.c), the
 * writer and its cork/backpressure logic (http_response.c), the I/O engine
 * and the memory layer (io.c, io_memory.c), batches and the pending list
 * (loop.c) and the PROXY header (http_proxy.c).  The four sc_py_* callbacks are C stubs defined here; they
 * answer like a framework would, in every way the API allows.
 *
 * Build and run (clang):
 *   python fuzz/run.py 60            (builds every target, runs each 60 s)
 * or by hand:
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -Icsrc \
 *         fuzz/fuzz_http_conn.c csrc/loop.c csrc/listen.c csrc/io.c csrc/io_socket.c \
 *         csrc/io_memory.c csrc/buf.c csrc/addr.c csrc/http_conn.c csrc/http_response.c \
 *         csrc/http_proxy.c csrc/http_parser.c csrc/tokens.c \
 *         -o /tmp/fuzz_http_conn
 *   /tmp/fuzz_http_conn -max_total_time=60 -dict=fuzz/http.dict fuzz/corpus/conn
 * Without libFuzzer (gcc), -DSC_FUZZ_REPLAY (or -DSC_FUZZ_STANDALONE) adds a
 * main() that runs the target once per file named on the command line.
 *
 * Input layout: an 8-byte control header, then the bytes the client sends.
 *   [0] flags: FZ_F_* below
 *   [1] fake socket capacity: 0 unlimited, else 4 * value bytes per write
 *   [2] seed of the generator that picks actions the path does not choose
 *   [3..7] lengths of the first five pieces the client bytes are cut into
 *          (0: no cut); the rest goes as the last piece
 * A request's answer is chosen by the first byte of its path ("/s..." streams,
 * see fz_actions), else by the generator, so seeds can aim at one path.
 *
 * Checked beyond "no crash, no sanitizer report, no leak":
 *   - everything a connection wrote is a well-formed sequence of HTTP/1.1
 *     responses (only the last may be cut short): status line, at most one
 *     framing header, bodies exactly as framed, no body for HEAD/1xx/204/304,
 *     each body made of its request's marker byte (X-Seq header), nothing
 *     after a response that said Connection: close;
 *   - callbacks only ever name a live response of ours: on_data and
 *     on_writable only for the response in flight, on_aborted once, with the
 *     handle already stale; on_data delivers exactly Content-Length bytes;
 *   - sc_mem_feed from inside a callback of the same connection is refused;
 *   - liveness: after the end settled, a connection waiting for a head holds no
 *     complete (or broken) head it did not act on;
 *   - after closing every connection the loop counts none.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_http_conn: check failed at line %d: %s\n", __LINE__, #cond);     \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#define FZ_HEADER 8
#define FZ_PIECES 5
#define FZ_MAX_CONNS 2
#define FZ_MAX_SEQ 256 /* requests remembered per connection */
#define FZ_BIG 20000   /* above SC_DIRECT_MIN: the direct-write path */
#define FZ_ROUNDS 12   /* bounded settle rounds at the end */

/* control flags (byte 0) */
#define FZ_F_PROXY 0x01u    /* settings.proxy_protocol */
#define FZ_F_TINY 0x02u     /* tiny limits (else small) */
#define FZ_F_DRAIN 0x04u    /* sc_loop_drain after the second piece */
#define FZ_F_CLOCK 0x08u    /* jump the clock past the timeouts after a piece */
#define FZ_F_TWO 0x10u      /* a second connection gets every other piece */
#define FZ_F_KEEP_OUT 0x20u /* client closes without discarding unread output */
#define FZ_F_NO_READ 0x40u  /* the client reads nothing until the end */
#define FZ_F_POLL 0x80u     /* sc_loop_poll between pieces */

enum fz_mode {
    FZ_NONE = 0, /* no response in flight */
    FZ_OPEN,     /* answered later, between pieces */
    FZ_STREAM,   /* chunks written; more and the end later */
    FZ_TRY,      /* try_end in progress */
    FZ_LENGTH,   /* own Content-Length head, body written in parts */
    FZ_AT_END    /* answered when the request body ends */
};

typedef struct fz_conn {
    sc_handle h;
    sc_handle res; /* the response in flight (0: none) */
    int mode;
    int paused;
    uint32_t seq;   /* requests seen */
    uint32_t cur;   /* seq of res */
    uint64_t total; /* body size promised (FZ_TRY, FZ_LENGTH) */
    uint64_t sent;
    uint64_t body_expect; /* Content-Length of the request (0 for chunked) */
    uint64_t body_seen;
    int body_chunked;
    int body_ended;
    int gone;  /* sc_mem_close was called */
    char *log; /* everything read from the connection */
    size_t log_len, log_cap;
    uint8_t head_req[FZ_MAX_SEQ]; /* request seq was HEAD */
} fz_conn;

typedef struct fz_state {
    sc_loop *loop;
    fz_conn conns[FZ_MAX_CONNS];
    int nconns;
    uint32_t rng;
    uint32_t flags;
    int in_callback;
} fz_state;

static fz_state *fz; /* the stubs find the current input's state here */
static char fz_fill[FZ_BIG];

static uint32_t fz_rand(void)
{
    uint32_t x = fz->rng ? fz->rng : 0x9e3779b9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    fz->rng = x;
    return x;
}

static char fz_marker(uint32_t seq)
{
    return (char)('a' + seq % 26u);
}

static const char *fz_body(uint32_t seq, size_t n)
{
    memset(fz_fill, fz_marker(seq), n < sizeof fz_fill ? n : sizeof fz_fill);
    return fz_fill;
}

static fz_conn *fz_conn_of(sc_handle h)
{
    uint32_t slot = (uint32_t)(h & SC_SLOT_MASK);
    for (int i = 0; i < fz->nconns; i++)
        if ((uint32_t)(fz->conns[i].h & SC_SLOT_MASK) == slot)
            return &fz->conns[i];
    return NULL;
}

/* "200 OK\r\nX-Seq: n\r\n" plus extra */
static size_t fz_head(char *buf, size_t cap, const char *status, uint32_t seq, const char *extra)
{
    int n = snprintf(buf, cap, "%s\r\nX-Seq: %u\r\n%s", status, (unsigned)seq, extra);
    FZ_CHECK(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static void fz_finish(fz_conn *c)
{
    c->res = 0;
    c->mode = FZ_NONE;
}

/* Results every sc_res_* call may give for a live or just-closed response. */
static void fz_check_rc(int rc)
{
    FZ_CHECK(rc == SC_OK || rc == SC_EAGAIN || rc == SC_ESTALE || rc == SC_EIO);
}

static void fz_end(fz_conn *c, size_t n)
{
    sc_handle res = c->res;
    int first = c->mode == FZ_OPEN || c->mode == FZ_AT_END;
    char head[96];
    size_t hl = first ? fz_head(head, sizeof head, "200 OK", c->cur, "") : 0;
    fz_finish(c);
    fz_check_rc(sc_res_write(fz->loop, res, head, hl, fz_body(c->cur, n), n, SC_W_END));
    FZ_CHECK(!sc_res_alive(fz->loop, res));
}

/* Move a response in flight one step on; returns 1 when it is done. */
static int fz_progress(fz_conn *c, int may_end)
{
    sc_loop *loop = fz->loop;
    sc_handle res = c->res;
    if (!res)
        return 1;
    if (c->paused) {
        c->paused = 0;
        FZ_CHECK(sc_res_resume(loop, res) == SC_OK);
    }
    switch (c->mode) {
    case FZ_OPEN:
    case FZ_AT_END:
        if (!may_end && c->mode == FZ_AT_END && !c->body_ended)
            return 0;
        fz_end(c, fz_rand() % 64u);
        return 1;
    case FZ_STREAM: {
        size_t n = 1 + fz_rand() % 200u;
        int end = may_end || fz_rand() % 3u == 0;
        uint32_t close = fz_rand() % 5u == 0 ? SC_W_CLOSE : 0; /* close after it, late */
        /* a streamed response has no total for try_end (HTTP/1.0: total 0) */
        int bad = sc_res_try_end(loop, res, NULL, 0, "x", 1, 1, 0);
        FZ_CHECK(bad == SC_ESTATE || bad == SC_EINVAL);
        int rc =
            sc_res_write(loop, res, NULL, 0, fz_body(c->cur, n), n, end ? SC_W_END | close : 0);
        fz_check_rc(rc);
        if (end || rc == SC_ESTALE || rc == SC_EIO) {
            if (c->res == res)
                fz_finish(c);
            return 1;
        }
        return 0;
    }
    case FZ_TRY: {
        size_t n = (size_t)(c->total - c->sent);
        int rc = sc_res_try_end(loop, res, NULL, 0, fz_body(c->cur, n), n, c->total, 0);
        FZ_CHECK(rc >= 0 || rc == SC_ESTALE || rc == SC_EIO);
        if (rc < 0 || (rc & 2)) {
            FZ_CHECK(!sc_res_alive(loop, res));
            if (c->res == res)
                fz_finish(c);
            return 1;
        }
        uint64_t off = sc_res_write_offset(loop, res);
        FZ_CHECK(off >= c->sent && off < c->total);
        c->sent = off;
        return 0;
    }
    case FZ_LENGTH: {
        size_t n = (size_t)(c->total - c->sent);
        if (!may_end && n > 1)
            n = 1 + fz_rand() % n;
        int end = c->sent + n == c->total;
        int rc = sc_res_write(loop, res, NULL, 0, fz_body(c->cur, n), n,
                              SC_W_HAS_LENGTH | (end ? SC_W_END : 0));
        fz_check_rc(rc);
        c->sent += n;
        if (end || rc == SC_ESTALE || rc == SC_EIO) {
            if (c->res == res)
                fz_finish(c);
            return 1;
        }
        return 0;
    }
    default:
        FZ_CHECK(0);
    }
    return 1;
}

/* ---- the four callbacks ----------------------------------------------------- */

typedef void (*fz_action)(fz_conn *c, sc_request *req);

static void fz_act_end(fz_conn *c, sc_request *req)
{
    (void)req;
    if (fz_rand() % 4u == 0) {
        /* an empty head is "200 OK" (no X-Seq: so no body either) */
        sc_handle res = c->res;
        fz_finish(c);
        fz_check_rc(sc_res_write(fz->loop, res, NULL, 0, NULL, 0, SC_W_END));
        return;
    }
    c->mode = FZ_OPEN;
    fz_end(c, fz_rand() % 100u);
}

static void fz_act_big(fz_conn *c, sc_request *req)
{
    (void)req;
    c->mode = FZ_OPEN;
    fz_end(c, FZ_BIG);
}

static void fz_act_stream(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96];
    size_t hl = fz_head(head, sizeof head, "200 OK", c->cur, "");
    size_t n = fz_rand() % 50u;
    c->mode = FZ_STREAM;
    int rc = sc_res_write(fz->loop, c->res, head, hl, fz_body(c->cur, n), n, 0);
    fz_check_rc(rc);
    /* a second head is refused once the first is out */
    if (c->res)
        FZ_CHECK(sc_res_write(fz->loop, c->res, head, hl, NULL, 0, 0) == SC_ESTATE);
}

static void fz_act_try(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96];
    size_t hl = fz_head(head, sizeof head, "200 OK", c->cur, "");
    sc_handle res = c->res;
    c->total = 1 + fz_rand() % 3000u;
    c->sent = 0;
    c->mode = FZ_TRY;
    /* a body larger than the total is refused before anything is written */
    FZ_CHECK(sc_res_try_end(fz->loop, res, head, hl, fz_body(c->cur, 2), 2, 1, 0) == SC_EINVAL ||
             c->total == 1);
    size_t n = (size_t)(fz_rand() % (c->total + 1));
    int rc = sc_res_try_end(fz->loop, res, head, hl, fz_body(c->cur, n), n, c->total, 0);
    FZ_CHECK(rc >= 0 || rc == SC_ESTALE || rc == SC_EIO);
    if (rc < 0 || (rc & 2)) {
        if (c->res == res)
            fz_finish(c);
        return;
    }
    c->sent = sc_res_write_offset(fz->loop, res);
    FZ_CHECK(sc_res_want_writable(fz->loop, res, 1) == SC_OK);
}

static void fz_act_open(fz_conn *c, sc_request *req)
{
    (void)req;
    c->mode = FZ_OPEN;
}

static void fz_act_close(fz_conn *c, sc_request *req)
{
    (void)req;
    sc_handle res = c->res;
    c->mode = FZ_OPEN;
    FZ_CHECK(sc_res_close(fz->loop, res) == SC_OK);
    FZ_CHECK(c->res == 0); /* on_aborted ran */
    FZ_CHECK(sc_res_close(fz->loop, res) == SC_ESTALE);
}

static void fz_act_keep_close(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96];
    size_t hl = fz_head(head, sizeof head, "200 OK", c->cur, "");
    sc_handle res = c->res;
    size_t n = fz_rand() % 40u;
    fz_finish(c);
    fz_check_rc(
        sc_res_write(fz->loop, res, head, hl, fz_body(c->cur, n), n, SC_W_END | SC_W_CLOSE));
}

static void fz_act_continue(fz_conn *c, sc_request *req)
{
    int rc = sc_res_write_continue(fz->loop, c->res);
    fz_check_rc(rc);
    c->mode = FZ_AT_END;
    if (!(req->flags & SC_REQ_HAS_BODY))
        fz_end(c, fz_rand() % 10u);
}

static void fz_act_no_content(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96];
    static const char *status[2] = {"204 No Content", "304 Not Modified"};
    size_t hl = fz_head(head, sizeof head, status[fz_rand() % 2u], c->cur, "");
    sc_handle res = c->res;
    fz_finish(c);
    /* the body bytes are dropped: these statuses have none */
    fz_check_rc(sc_res_write(fz->loop, res, head, hl, fz_body(c->cur, 7), 7, SC_W_END));
}

static void fz_act_length(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96], extra[48];
    c->total = fz_rand() % 400u;
    c->sent = 0;
    snprintf(extra, sizeof extra, "Content-Length: %u\r\n", (unsigned)c->total);
    size_t hl = fz_head(head, sizeof head, "200 OK", c->cur, extra);
    size_t n = c->total ? (size_t)(fz_rand() % c->total) : 0;
    int end = n == c->total;
    sc_handle res = c->res;
    c->mode = FZ_LENGTH;
    int rc = sc_res_write(fz->loop, res, head, hl, fz_body(c->cur, n), n,
                          SC_W_HAS_LENGTH | (end ? SC_W_END : 0));
    fz_check_rc(rc);
    c->sent = n;
    if ((end || rc == SC_ESTALE || rc == SC_EIO) && c->res == res)
        fz_finish(c);
}

static void fz_pause(fz_conn *c)
{
    FZ_CHECK(sc_res_pause(fz->loop, c->res) == SC_OK);
    c->paused = 1;
}

static void fz_act_pause(fz_conn *c, sc_request *req)
{
    (void)req;
    fz_pause(c);
    c->mode = FZ_OPEN;
}

static void fz_act_bad_head(fz_conn *c, sc_request *req)
{
    (void)req;
    static const char *bad[4] = {"abc\r\n", "200 OK", "99 x\r\n", "2000\r\n"};
    const char *h = bad[fz_rand() % 4u];
    FZ_CHECK(sc_res_write(fz->loop, c->res, h, strlen(h), "x", 1, SC_W_END) == SC_EINVAL);
    FZ_CHECK(sc_res_alive(fz->loop, c->res)); /* nothing happened */
    c->mode = FZ_OPEN;
    fz_end(c, 3);
}

static void fz_act_at_end(fz_conn *c, sc_request *req)
{
    c->mode = FZ_AT_END;
    if (!(req->flags & SC_REQ_HAS_BODY))
        fz_end(c, fz_rand() % 30u);
}

static void fz_act_upgrade(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96];
    size_t hl = fz_head(head, sizeof head, "101 Switching Protocols", c->cur, "Upgrade: x\r\n");
    sc_handle res = c->res;
    fz_finish(c);
    fz_check_rc(sc_res_write(fz->loop, res, head, hl, NULL, 0, SC_W_END));
}

static void fz_act_cork(fz_conn *c, sc_request *req)
{
    FZ_CHECK(sc_res_cork(fz->loop, c->res, 1) == SC_OK);
    fz_act_stream(c, req);
    if (c->res)
        FZ_CHECK(sc_res_cork(fz->loop, c->res, 0) == SC_OK);
}

/* end_without_body on a response that must have one (not HEAD, 204, 304): the
 * stream must stay framed (Content-Length: 0, or Connection: close). */
static void fz_act_no_body(fz_conn *c, sc_request *req)
{
    (void)req;
    char head[96];
    size_t hl = fz_head(head, sizeof head, "200 OK", c->cur, "");
    sc_handle res = c->res;
    fz_finish(c);
    fz_check_rc(sc_res_write(fz->loop, res, head, hl, NULL, 0, SC_W_END | SC_W_NO_BODY));
}

static const struct {
    char key;
    fz_action act;
} fz_actions[] = {
    {'a', fz_act_end},        {'b', fz_act_big},      {'s', fz_act_stream},
    {'t', fz_act_try},        {'o', fz_act_open},     {'c', fz_act_close},
    {'k', fz_act_keep_close}, {'e', fz_act_continue}, {'n', fz_act_no_content},
    {'h', fz_act_length},     {'p', fz_act_pause},    {'x', fz_act_bad_head},
    {'w', fz_act_at_end},     {'u', fz_act_upgrade},  {'r', fz_act_cork},
    {'v', fz_act_no_body},
};
#define FZ_NUM_ACTIONS (sizeof fz_actions / sizeof fz_actions[0])

void sc_py_on_request(uint32_t owner, sc_handle res)
{
    FZ_CHECK(owner == 77);
    sc_request *req = sc_loop_request_view(fz->loop);
    FZ_CHECK(req->res == res && sc_res_alive(fz->loop, res));
    fz_conn *c = fz_conn_of(res);
    FZ_CHECK(c && c->res == 0); /* one request at a time */
    FZ_CHECK(req->method_len > 0 && req->target_len > 0 && req->path_len <= req->target_len);
    /* feeding the connection from its own callback is refused */
    FZ_CHECK(sc_mem_feed(fz->loop, c->h, "x", 1) == SC_ESTATE);
    c->res = res;
    c->cur = c->seq++;
    c->paused = 0;
    c->body_expect = req->content_length;
    c->body_chunked = (req->flags & SC_REQ_CHUNKED) != 0;
    c->body_seen = 0;
    c->body_ended = !(req->flags & SC_REQ_HAS_BODY);
    if (c->cur < FZ_MAX_SEQ)
        c->head_req[c->cur] = (req->flags & SC_REQ_HEAD) != 0;
    char addr[64];
    int an = sc_res_remote_address(fz->loop, res, addr, sizeof addr);
    FZ_CHECK(an == (c == &fz->conns[0] ? 9 : 3));
    FZ_CHECK(sc_res_remote_bytes(fz->loop, res, addr, sizeof addr) == (an == 9 ? 4 : 16));
    FZ_CHECK(sc_res_remote_address(fz->loop, res, addr, 2) == SC_EINVAL);
    an = sc_res_proxied_address(fz->loop, res, addr, sizeof addr);
    FZ_CHECK(an >= 0 && an < 46 && (an == 0 || (fz->flags & FZ_F_PROXY)));
    an = sc_res_proxied_bytes(fz->loop, res, addr, sizeof addr);
    FZ_CHECK(an == 0 || an == 4 || an == 16);
    for (uint32_t i = 0; i < req->num_headers; i++) {
        const sc_header *h = &req->headers[i];
        volatile char sink = h->name_len ? h->name[h->name_len - 1] : 0;
        sink = h->value_len ? h->value[h->value_len - 1] : 0;
        (void)sink;
    }
    fz->in_callback++;
    fz_action act = NULL;
    char key = req->target_len > 1 ? req->target[1] : 0;
    for (size_t i = 0; i < FZ_NUM_ACTIONS; i++)
        if (fz_actions[i].key == key)
            act = fz_actions[i].act;
    if (!act)
        act = fz_actions[fz_rand() % FZ_NUM_ACTIONS].act;
    act(c, req);
    fz->in_callback--;
}

void sc_py_on_data(uint32_t owner, sc_handle res)
{
    FZ_CHECK(owner == 77);
    fz_conn *c = fz_conn_of(res);
    FZ_CHECK(c && c->res == res && sc_res_alive(fz->loop, res));
    FZ_CHECK(!c->body_ended);
    sc_event *ev = sc_loop_event_view(fz->loop);
    FZ_CHECK(ev->len == 0 || ev->data != NULL);
    if (ev->len) {
        volatile char first = ev->data[0], last = ev->data[ev->len - 1];
        (void)first;
        (void)last;
    }
    c->body_seen += ev->len;
    if (!c->body_chunked)
        FZ_CHECK(c->body_seen <= c->body_expect);
    if (ev->is_end) {
        c->body_ended = 1;
        if (!c->body_chunked)
            FZ_CHECK(c->body_seen == c->body_expect);
    }
    fz->in_callback++;
    uint32_t r = fz_rand() % 8u;
    if (c->mode == FZ_AT_END && ev->is_end)
        fz_end(c, fz_rand() % 50u);
    else if (r == 0)
        fz_progress(c, 1); /* answer before the body is read: the rest is dropped */
    else if (r == 1 && c->mode != FZ_NONE && !c->paused)
        fz_pause(c);
    fz->in_callback--;
}

void sc_py_on_aborted(uint32_t owner, sc_handle res)
{
    FZ_CHECK(owner == 77);
    fz_conn *c = fz_conn_of(res);
    FZ_CHECK(c && c->res == res); /* only the response in flight, only once */
    FZ_CHECK(!sc_res_alive(fz->loop, res));
    fz_finish(c);
}

int sc_py_on_writable(uint32_t owner, sc_handle res, uint64_t offset)
{
    FZ_CHECK(owner == 77);
    fz_conn *c = fz_conn_of(res);
    FZ_CHECK(c && c->res == res && sc_res_alive(fz->loop, res));
    FZ_CHECK(offset == sc_res_write_offset(fz->loop, res));
    fz->in_callback++;
    int done = fz_progress(c, 0);
    fz->in_callback--;
    return done;
}

/* ---- the client side ----------------------------------------------------------- */

/* Read (and consume) up to max bytes of output into the connection's log. */
static void fz_read(fz_conn *c, size_t max)
{
    const char *p;
    size_t n = sc_mem_output(fz->loop, c->h, &p);
    if (n > max)
        n = max;
    if (!n)
        return;
    FZ_CHECK(p != NULL);
    if (c->log_len + n > c->log_cap) {
        size_t cap = c->log_cap ? c->log_cap : 4096;
        while (cap < c->log_len + n)
            cap *= 2;
        c->log = realloc(c->log, cap);
        FZ_CHECK(c->log != NULL);
        c->log_cap = cap;
    }
    memcpy(c->log + c->log_len, p, n);
    c->log_len += n;
    FZ_CHECK(sc_mem_consume(fz->loop, c->h, n) == SC_OK);
}

/* What a clock jump past every timeout does (sc_on_tick without waiting). */
static void fz_clock_jump(uint64_t ms)
{
    sc_loop *loop = fz->loop;
    sc_batch_begin(loop);
    uint64_t now = loop->now_ms + ms;
    for (uint32_t i = 0; i < loop->num_slots; i++) {
        sc_conn *c = loop->slots[i];
        if (c && !(c->flags & SC_CF_CLOSED))
            c->proto->on_tick(c, now);
    }
    sc_batch_end(loop);
}

static void fz_between(int piece)
{
    sc_loop *loop = fz->loop;
    for (int i = 0; i < fz->nconns; i++) {
        fz_conn *c = &fz->conns[i];
        if (c->gone)
            continue;
        uint32_t r = fz_rand();
        if (c->res && (r & 3u))
            fz_progress(c, (r & 4u) != 0);
        if (!(fz->flags & FZ_F_NO_READ))
            fz_read(c, (r >> 8) & 1u ? SIZE_MAX : 1u + ((r >> 9) % 300u));
        if (((r >> 20) & 15u) == 0)
            FZ_CHECK(sc_mem_set_capacity(loop, c->h, (r >> 24) & 1u ? 0 : 1 + (r >> 25)) == SC_OK);
    }
    if (fz->flags & FZ_F_POLL)
        FZ_CHECK(sc_loop_poll(loop, 0) >= 0);
    if ((fz->flags & FZ_F_DRAIN) && piece == 1)
        sc_loop_drain(loop);
    if ((fz->flags & FZ_F_CLOCK) && piece == 2)
        fz_clock_jump(fz_rand() % 4u ? 1500u : 6000u); /* past header_timeout, or idle too */
}

/* ---- the response-stream checker -------------------------------------------------- */

static const char *fz_find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; p + n <= end; p++)
        if (memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static int fz_header_is(const char *line, const char *eol, const char *name)
{
    size_t n = strlen(name);
    if ((size_t)(eol - line) <= n || line[n] != ':')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = line[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != name[i])
            return 0;
    }
    return 1;
}

static uint64_t fz_number(const char *p, const char *end, int base)
{
    uint64_t v = 0;
    while (p < end && *p == ' ')
        p++;
    FZ_CHECK(p < end);
    for (; p < end; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : 99;
        FZ_CHECK(d < base && v < (UINT64_MAX >> 5));
        v = v * (uint64_t)base + (uint64_t)d;
    }
    return v;
}

static void fz_marked(const char *p, size_t n, int marker)
{
    for (size_t i = 0; i < n; i++)
        FZ_CHECK(marker >= 0 && p[i] == (char)marker);
}

/* One chunked body; returns the end of it, or NULL when the log stops inside. */
static const char *fz_chunked_body(const char *p, const char *end, int marker)
{
    for (;;) {
        const char *eol = fz_find(p, end, "\r\n");
        if (!eol)
            return NULL;
        uint64_t size = fz_number(p, eol, 16);
        p = eol + 2;
        if (size == 0) {
            if (end - p < 2)
                return NULL;
            FZ_CHECK(p[0] == '\r' && p[1] == '\n');
            return p + 2;
        }
        size_t have = (size_t)(end - p);
        if (have < size + 2) {
            fz_marked(p, have < size ? have : (size_t)size, marker);
            return NULL;
        }
        fz_marked(p, (size_t)size, marker);
        FZ_CHECK(p[size] == '\r' && p[size + 1] == '\n');
        p += size + 2;
    }
}

static void fz_check_log(const fz_conn *c)
{
    if (!c->log_len)
        return;
    const char *p = c->log, *end = c->log + c->log_len;
#if defined(SC_FUZZ_REPLAY) || defined(SC_FUZZ_STANDALONE)
    if (getenv("SC_FUZZ_DUMP")) /* the replay binary shows what each connection read */
        fprintf(stderr, "---- connection %u read %zu bytes:\n%.*s\n",
                (unsigned)(c->h & SC_SLOT_MASK), c->log_len, (int)c->log_len, c->log);
#endif
    while (p < end) {
        size_t have = (size_t)(end - p);
        FZ_CHECK(memcmp(p, "HTTP/1.1 ", have < 9 ? have : 9) == 0);
        const char *head_end = fz_find(p, end, "\r\n\r\n");
        if (!head_end)
            return; /* cut short */
        FZ_CHECK(head_end - p >= 12);
        int status = (int)fz_number(p + 9, p + 12, 10);
        FZ_CHECK(status >= 100 && status <= 599 && p[12] == ' ');
        int lengths = 0, chunked = 0, close = 0, marker = -1;
        uint64_t length = 0;
        const char *line = fz_find(p, head_end + 2, "\r\n") + 2;
        while (line < head_end + 2) {
            const char *eol = fz_find(line, head_end + 2, "\r\n");
            if (fz_header_is(line, eol, "content-length")) {
                lengths++;
                length = fz_number(line + 15, eol, 10);
            } else if (fz_header_is(line, eol, "transfer-encoding")) {
                FZ_CHECK(fz_find(line, eol, " chunked") == eol - 8);
                chunked++;
            } else if (fz_header_is(line, eol, "connection")) {
                close |= fz_find(line, eol, "close") != NULL;
            } else if (fz_header_is(line, eol, "x-seq")) {
                marker = (int)(fz_number(line + 6, eol, 10) % 1000000u);
            }
            line = eol + 2;
        }
        FZ_CHECK(lengths + chunked <= 1);
        p = head_end + 4;
        if (status == 101)
            return; /* the connection is no longer HTTP */
        if (status < 200) {
            FZ_CHECK(!lengths && !chunked && !close);
            continue;
        }
        int head_req = marker >= 0 && marker < FZ_MAX_SEQ && c->head_req[marker];
        int body_marker = marker >= 0 ? fz_marker((uint32_t)marker) : -1;
        if (status == 204 || status == 304) {
            FZ_CHECK(!chunked && !lengths);
        } else if (head_req) {
            /* the head a GET would get (framing included), never a body */
        } else if (lengths) {
            size_t room = (size_t)(end - p);
            if (room < length) {
                fz_marked(p, room, body_marker);
                return;
            }
            fz_marked(p, (size_t)length, body_marker);
            p += length;
        } else if (chunked) {
            p = fz_chunked_body(p, end, body_marker);
            if (!p)
                return;
        } else {
            /* no framing: the body runs to the close (HTTP/1.0 streaming) */
            FZ_CHECK(close);
            fz_marked(p, (size_t)(end - p), body_marker);
            return;
        }
        if (close)
            FZ_CHECK(p == end); /* nothing after Connection: close */
    }
}

/* Liveness: once everything settled (no response in flight, output drained), an open
 * connection waiting for a head holds only an incomplete head.  A complete one (or an
 * error the parser would report) left unparsed means the connection is stuck, for
 * example after backpressure that was never lifted. */
static void fz_check_not_stuck(const fz_conn *c)
{
    sc_loop *loop = fz->loop;
    sc_conn *sc = sc_conn_by_handle(loop, c->h);
    if (!sc || c->res || loop->draining || sc->http.phase != SC_PH_HEAD ||
        (sc->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED)) || sc_buf_size(&sc->io.out))
        return;
    size_t n = sc_buf_size(&sc->io.in);
    if (!n)
        return;
    char *copy = malloc(n);
    sc_header *headers = calloc((size_t)loop->http.limits.max_headers + 1, sizeof *headers);
    FZ_CHECK(copy && headers);
    memcpy(copy, sc->io.in.data + sc->io.in.off, n);
    sc_request req;
    memset(&req, 0, sizeof req);
    req.headers = headers;
    int rc = sc_http_parse_request(copy, n, &req, &loop->http.limits);
    free(copy);
    free(headers);
#if defined(SC_FUZZ_REPLAY) || defined(SC_FUZZ_STANDALONE)
    if (rc != SC_HTTP_INCOMPLETE && getenv("SC_FUZZ_DUMP"))
        fprintf(stderr, "stuck: %zu bytes unparsed (parse: %d), conn flags 0x%x, rflags 0x%x\n", n,
                rc, (unsigned)sc->flags, (unsigned)sc->http.res.flags);
#endif
    FZ_CHECK(rc == SC_HTTP_INCOMPLETE);
}

/* ---- one input -------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FZ_HEADER)
        return 0;
    fz_state st;
    memset(&st, 0, sizeof st);
    fz = &st;
    st.flags = data[0];
    st.rng = 0x12345u + (uint32_t)data[2] * 2654435761u;

    sc_settings s;
    sc_settings_default(&s);
    int tiny = (st.flags & FZ_F_TINY) != 0;
    s.max_header_size = tiny ? 256 : 1024;
    s.max_headers = tiny ? 4 : 16;
    s.max_url_size = tiny ? 32 : 128;
    s.max_body_size = tiny ? 16 : 4096;
    s.max_backpressure = tiny ? 64 : 8192;
    s.idle_timeout_ms = 5000;
    s.header_timeout_ms = 1000;
    s.proxy_protocol = st.flags & FZ_F_PROXY ? 1u : 0u;
    st.loop = sc_loop_new(&s, 77);
    FZ_CHECK(st.loop != NULL);

    st.nconns = st.flags & FZ_F_TWO ? 2 : 1;
    for (int i = 0; i < st.nconns; i++) {
        fz_conn *c = &st.conns[i];
        c->h = sc_mem_open(st.loop, i ? "::1" : "127.0.0.1", (uint16_t)(40000 + i));
        FZ_CHECK(c->h != 0);
        if (data[1])
            FZ_CHECK(sc_mem_set_capacity(st.loop, c->h, 4u * data[1]) == SC_OK);
    }

    const char *in = (const char *)data + FZ_HEADER;
    size_t left = size - FZ_HEADER;
    for (int piece = 0; piece <= FZ_PIECES; piece++) {
        size_t n = piece < FZ_PIECES ? data[3 + piece] : left;
        if (n > left)
            n = left;
        if (piece < FZ_PIECES && n == 0)
            continue;
        fz_conn *c = &st.conns[piece % st.nconns];
        int rc = sc_mem_feed(st.loop, c->h, in, n);
        FZ_CHECK(rc == SC_OK || (rc == SC_ESTALE && !sc_mem_is_open(st.loop, c->h)));
        in += n;
        left -= n;
        fz_between(piece);
    }

    /* settle: the client reads everything, the server finishes what it started */
    for (int round = 0; round < FZ_ROUNDS; round++) {
        for (int i = 0; i < st.nconns; i++) {
            fz_conn *c = &st.conns[i];
            if (round == FZ_ROUNDS / 2)
                FZ_CHECK(sc_mem_set_capacity(st.loop, c->h, 0) == SC_OK);
            fz_read(c, SIZE_MAX);
            if (c->res)
                fz_progress(c, round >= FZ_ROUNDS / 2);
            fz_read(c, SIZE_MAX);
        }
        FZ_CHECK(sc_loop_poll(st.loop, 0) >= 0);
    }
    for (int i = 0; i < st.nconns; i++) {
        fz_conn *c = &st.conns[i];
        fz_read(c, SIZE_MAX);
        fz_check_log(c);
        fz_check_not_stuck(c);
        /* a response still in flight when the client leaves is aborted */
        sc_handle res = c->res;
        FZ_CHECK(sc_mem_close(st.loop, c->h, (st.flags & FZ_F_KEEP_OUT) ? 0 : 1) == SC_OK);
        c->gone = 1;
        FZ_CHECK(c->res == 0);
        FZ_CHECK(!res || !sc_res_alive(st.loop, res));
        FZ_CHECK(sc_mem_close(st.loop, c->h, 1) == SC_ESTALE);
    }
    FZ_CHECK(sc_loop_num_connections(st.loop) == 0);
    /* what a client left unread is freed by the loop */
    sc_loop_free(st.loop);
    for (int i = 0; i < st.nconns; i++)
        free(st.conns[i].log);
    fz = NULL;
    return 0;
}

#if defined(SC_FUZZ_REPLAY) || defined(SC_FUZZ_STANDALONE)
int main(int argc, char **argv)
{
    static uint8_t data[1 << 20];
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        size_t n = fread(data, 1, sizeof data, f);
        fclose(f);
        LLVMFuzzerTestOneInput(data, n);
    }
    printf("%d inputs ran\n", argc - 1);
    return 0;
}
#endif
