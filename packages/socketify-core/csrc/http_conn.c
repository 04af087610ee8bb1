/* http_conn.c - the per-connection HTTP/1.1 state machine: the first
 * protocol of every connection (sc_http_proto, core.h), and sc_loop_new (a
 * loop whose connections speak it).  Owns c->http (except c->http.res,
 * http_response.c's); asks io.c for flag changes (close after flush,
 * backlog, want writable) and never writes c->flags itself.
 *
 * Phases (enum sc_phase): PROXY (only with settings.proxy_protocol) -> HEAD
 * -> BODY (when the request has one) -> WAIT (body read, response not ended)
 * -> HEAD again, or UPGRADED once a 101 is queued (sc_http_upgraded: the
 * WebSocket protocol takes the connection over).  One request at a time: the next pipelined head is parsed
 * only once the current response has ended, so responses leave in order.
 * When a response ends while its body is still arriving, the rest of the
 * body is read and dropped (c->http.discard) before the next head.
 *
 * Input is parsed where it lies (io.c offers it through on_data): straight
 * from the loop's scratch buffer when the connection had nothing buffered
 * (the common case: a whole request per read), else from c->io.in.
 * Whatever on_data did not consume io.c keeps in c->io.in.  The request view and body chunks point into that memory and are
 * valid only during the callback that announces them.
 *
 * Protocol errors get a pre-rendered response (indexed by enum sc_http_err,
 * all with Connection: close), then the connection closes once it is sent.
 */
#include "core.h"

#include <stdlib.h>
#include <string.h>

enum sc_http_err {
    SC_ERR_400,
    SC_ERR_408,
    SC_ERR_413,
    SC_ERR_414,
    SC_ERR_431,
    SC_ERR_501,
    SC_ERR_505,
    SC_ERR_COUNT
};

#define SC_ERR_RESPONSE(status)                                                                    \
    "HTTP/1.1 " status "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

static const struct {
    int status;
    const char *text;
} sc_err_table[SC_ERR_COUNT] = {
    [SC_ERR_400] = {400, SC_ERR_RESPONSE("400 Bad Request")},
    [SC_ERR_408] = {408, SC_ERR_RESPONSE("408 Request Timeout")},
    [SC_ERR_413] = {413, SC_ERR_RESPONSE("413 Content Too Large")},
    [SC_ERR_414] = {414, SC_ERR_RESPONSE("414 URI Too Long")},
    [SC_ERR_431] = {431, SC_ERR_RESPONSE("431 Request Header Fields Too Large")},
    [SC_ERR_501] = {501, SC_ERR_RESPONSE("501 Not Implemented")},
    [SC_ERR_505] = {505, SC_ERR_RESPONSE("505 HTTP Version Not Supported")},
};

void sc_http_send_error(sc_conn *c, int status)
{
    int e = SC_ERR_400;
    for (int i = 0; i < SC_ERR_COUNT; i++)
        if (sc_err_table[i].status == status)
            e = i;
    const char *text = sc_err_table[e].text;
    c->http.head_start_ms = 0;
    c->loop->stats.requests++;
    c->loop->stats.responses_by_class[sc_err_table[e].status / 100]++;
    if (sc_out_append(c, text, strlen(text)) < 0) {
        sc_conn_close(c);
        return;
    }
    sc_conn_close_lingering(c);
}

static void sc_http_on_tick(sc_conn *c, uint64_t now)
{
    const sc_settings *s = &c->loop->settings;
    if (s->header_timeout_ms && c->http.head_start_ms && !(c->flags & SC_CF_CLOSING) &&
        (c->http.phase == SC_PH_HEAD || c->http.phase == SC_PH_PROXY) &&
        now - c->http.head_start_ms >= s->header_timeout_ms) {
        sc_http_send_error(c, 408);
        return;
    }
    if (s->idle_timeout_ms && now - c->io.last_active_ms >= s->idle_timeout_ms)
        sc_conn_close(c); /* a response in flight gets on_aborted */
}

/* ---- requests and bodies -------------------------------------------------- */

static void sc_body_release(sc_conn *c);

static void sc_start_request(sc_conn *c)
{
    sc_loop *loop = c->loop;
    sc_request *req = &loop->http.req;
    if (req->content_length > loop->settings.max_body_size) {
        sc_http_send_error(c, 413);
        return;
    }
    c->http.res.gen = sc_next_gen(loop);
    c->http.res.flags = 0;
    if (req->flags & SC_REQ_KEEP_ALIVE)
        c->http.res.flags |= SC_RF_KEEP_ALIVE;
    if (req->http_minor == 0)
        c->http.res.flags |= SC_RF_HTTP10;
    if (req->flags & SC_REQ_HEAD)
        c->http.res.flags |= SC_RF_HEAD_REQ;
    if (req->flags & SC_REQ_UPGRADE)
        c->http.res.flags |= SC_RF_UPGRADE;
    c->http.res.write_offset = 0;
    c->http.res.total_size = 0;
    c->http.discard = 0;
    sc_conn_want_writable(c, 0);
    if (req->flags & SC_REQ_HAS_BODY) {
        c->http.phase = SC_PH_BODY;
        c->http.body_chunked = (req->flags & SC_REQ_CHUNKED) != 0;
        c->http.body_remaining = req->content_length;
        if (c->http.body_chunked)
            sc_chunked_init(&c->http.chunk);
    } else {
        c->http.phase = SC_PH_WAIT;
    }
    req->res = sc_make_handle(c->http.res.gen, c->slot);
    c->http.started_us = sc_now_us();
    sc_py_on_request(loop->owner, req->res);
}

/* Bounds of the latency buckets (sc_stats): microseconds. */
static const uint64_t sc_latency_bounds_us[SC_LATENCY_BUCKETS - 1] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000};

static void sc_count_latency(sc_conn *c)
{
    if (!c->http.started_us)
        return;
    uint64_t took = sc_now_us() - c->http.started_us;
    c->http.started_us = 0;
    sc_stats *s = &c->loop->stats;
    int i = 0;
    while (i < SC_LATENCY_BUCKETS - 1 && took > sc_latency_bounds_us[i])
        i++;
    s->latency_buckets[i]++;
    s->latency_count++;
    s->latency_us_sum += took;
}

void sc_http_response_ended(sc_conn *c)
{
    sc_count_latency(c);
    c->http.res.gen = 0;
    sc_conn_want_writable(c, 0);
    if (c->http.res.flags & SC_RF_CLOSE) {
        sc_conn_close_lingering(c);
        return;
    }
    if (c->http.phase == SC_PH_BODY) {
        c->http.discard = 1;
        sc_body_release(c); /* nobody will read what was gathered */
    } else if (c->http.phase == SC_PH_WAIT)
        c->http.phase = SC_PH_HEAD;
    if (!(c->flags & SC_CF_PROCESSING) && sc_buf_size(&c->io.in))
        sc_mark_pending(c);
    sc_conn_update_events(c);
}

/* The 101 of an upgrade is queued: the response ends and from here on the
 * connection speaks next (ws_conn.c's protocol); input already buffered, and
 * the rest of the bytes being parsed, go to it. */
void sc_http_upgraded(sc_conn *c, const sc_proto_ops *next)
{
    sc_stats *s = &c->loop->stats;
    s->requests++;
    s->responses_by_class[1]++; /* the 101 */
    s->websockets_total++;
    sc_count_latency(c);
    c->http.res.gen = 0;
    c->http.res.flags = 0;
    c->http.head_start_ms = 0;
    c->http.phase = SC_PH_UPGRADED;
    sc_conn_want_writable(c, 0);
    c->proto = next;
    if (!(c->flags & SC_CF_PROCESSING) && sc_buf_size(&c->io.in))
        sc_mark_pending(c);
    sc_conn_update_events(c);
}

/* A framing error in the body: the response in flight cannot be completed. */
static void sc_body_error(sc_conn *c, int status)
{
    if (c->http.res.gen) {
        if (c->http.res.flags & SC_RF_HEAD_SENT) {
            sc_conn_close(c);
            return;
        }
        sc_handle h = sc_make_handle(c->http.res.gen, c->slot);
        c->http.res.gen = 0;
        sc_conn_want_writable(c, 0);
        sc_py_on_aborted(c->loop->owner, h);
        if (c->flags & SC_CF_CLOSED)
            return;
    }
    sc_http_send_error(c, status);
}

/* ---- gathered bodies (sc_res_collect_body) -------------------------------- */

/* A body buffer for c: an emptied one from the loop's pool when there is one
 * (PERF: a steady stream of uploads reuses the same memory instead of a
 * malloc/free, and page faults, per request). */
/* An empty body buffer takes one from the loop's pool (the first that holds
 * need bytes, else the last), so a body is gathered without a new allocation. */
static void sc_body_adopt(sc_conn *c, size_t need)
{
    sc_buf *b = &c->http.body;
    sc_loop *loop = c->loop;
    if (!b->cap && loop->http.body_pool_len) {
        uint32_t pick = loop->http.body_pool_len - 1;
        for (uint32_t i = 0; i < loop->http.body_pool_len; i++)
            if (loop->http.body_pool[i].cap >= need) {
                pick = i;
                break;
            }
        *b = loop->http.body_pool[pick];
        loop->http.body_pool[pick] = loop->http.body_pool[--loop->http.body_pool_len];
    }
}

static int sc_body_reserve(sc_conn *c, size_t need)
{
    sc_body_adopt(c, need);
    return sc_buf_reserve(&c->http.body, need);
}

/* The gathered body was handed over (or is dropped): its buffer goes back to
 * the pool, or is freed when large or the pool is full. */
static void sc_body_give_back(sc_loop *loop, sc_buf *b)
{
    if (!b->cap)
        return;
    if (b->cap <= SC_BODY_KEEP && loop->http.body_pool_len < SC_BODY_POOL) {
        b->off = b->len = 0;
        loop->http.body_pool[loop->http.body_pool_len++] = *b;
        *b = (sc_buf){0};
    } else {
        sc_buf_free(b);
    }
}

static void sc_body_release(sc_conn *c)
{
    c->http.collect = 0;
    sc_body_give_back(c->loop, &c->http.body);
}

int sc_res_collect_body(sc_loop *loop, sc_handle res)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    if (c->http.phase != SC_PH_BODY || c->http.discard || c->http.collect)
        return SC_OK; /* complete already (or being dropped): nothing to gather */
    c->http.collect = 1;
    if (c->http.body_chunked)
        return SC_OK; /* grows as the chunks come */
    /* Content-Length known: the one allocation this body needs, now; past SC_BODY_KEEP
     * only as the bytes arrive (a client may announce more than it sends) */
    uint64_t want = c->http.body_remaining < SC_BODY_KEEP ? c->http.body_remaining : SC_BODY_KEEP;
    if (sc_body_reserve(c, (size_t)want) < 0)
        return SC_ENOMEM;
    return SC_OK;
}

static void sc_body_chunk(sc_conn *c, const char *p, size_t n, int end)
{
    sc_buf held = {0}; /* a gathered body while on_data announces it */
    if (c->http.res.gen && !c->http.discard) {
        sc_loop *loop = c->loop;
        sc_event *ev = &loop->event;
        if (c->http.collect && (sc_buf_size(&c->http.body) || !end)) {
            /* the body spans reads: gather it, announce it once complete */
            sc_body_adopt(c, n);
            if (sc_buf_append(&c->http.body, p, n) < 0) {
                sc_conn_close(c); /* on_aborted: the body cannot be kept */
                return;
            }
            if (end) {
                /* the announced bytes are this call's: a response ended (or a
                 * connection closed) inside on_data releases an empty body */
                held = c->http.body;
                c->http.body = (sc_buf){0};
                p = held.data + held.off;
                n = sc_buf_size(&held);
            }
        }
        if (end || !c->http.collect) {
            ev->data = p;
            ev->len = n;
            ev->is_end = (uint32_t)end;
            uintptr_t at = (uintptr_t)p, base = (uintptr_t)loop->scratch;
            ev->read_off = loop->scratch_lent && at >= base && at - base < loop->scratch_size
                               ? (int64_t)(at - base)
                               : -1; /* an offset only into the buffer the caller lent */
            sc_py_on_data(loop->owner, sc_make_handle(c->http.res.gen, c->slot));
            sc_body_give_back(loop, &held);
            if (c->flags & SC_CF_CLOSED)
                return;
        }
    }
    if (!end)
        return;
    sc_body_release(c);
    if (c->http.discard || !c->http.res.gen) {
        c->http.discard = 0;
        c->http.phase = SC_PH_HEAD;
    } else {
        c->http.phase = SC_PH_WAIT;
    }
}

/* One step of body reading; returns 0 when more bytes are needed. */
static int sc_http_body(sc_conn *c, char *buf, size_t *pos, size_t *len)
{
    size_t avail = *len - *pos;
    char *p = buf + *pos;
    if (!avail)
        return 0;
    if (!c->http.body_chunked) {
        size_t n = c->http.body_remaining < avail ? (size_t)c->http.body_remaining : avail;
        c->http.body_remaining -= n;
        *pos += n;
        sc_body_chunk(c, p, n, c->http.body_remaining == 0);
        return 1;
    }
    size_t n = avail;
    long r = sc_chunked_decode(&c->http.chunk, p, &n);
    if (r < 0 && r != SC_HTTP_INCOMPLETE) {
        sc_body_error(c, 400);
        return 0;
    }
    if (c->http.chunk.total > c->loop->settings.max_body_size) {
        sc_body_error(c, 413);
        return 0;
    }
    if (r >= 0) {
        *len = *pos + n + (size_t)r; /* the next request was moved behind the body */
        *pos += n;
    } else {
        *pos = *len;
    }
    if (n || r >= 0)
        sc_body_chunk(c, p, n, r >= 0);
    return 1;
}

/* Parse and dispatch buf[0..*len) as far as the state allows.  Returns the
 * bytes consumed; *len may shrink (chunked bodies are decoded in place). */
static size_t sc_http_on_data(sc_conn *c, char *buf, size_t *lenp)
{
    sc_loop *loop = c->loop;
    size_t pos = 0, len = *lenp;
    while (!(c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED))) {
        if (c->http.phase == SC_PH_WAIT || c->http.phase == SC_PH_UPGRADED)
            break; /* upgraded: io.c offers the rest to the new c->proto */
        if (c->http.phase == SC_PH_BODY) {
            if (!sc_http_body(c, buf, &pos, &len))
                break;
            continue;
        }
        if (pos == len) {
            c->http.head_start_ms = 0;
            break;
        }
        if (sc_conn_pending(c) > loop->settings.max_pipelined_output) {
            /* The client sends requests but does not read the answers: leave
             * the rest in the (bounded) read buffer until the output drains. */
            sc_conn_backlog(c, loop->settings.max_pipelined_output);
            break;
        }
        if (loop->draining) {
            sc_conn_close_after_flush(c); /* no new request after drain */
            break;
        }
        if (!c->http.head_start_ms)
            c->http.head_start_ms = loop->now_ms ? loop->now_ms : 1;
        if (c->http.phase == SC_PH_PROXY) {
            long r = sc_proxy_parse(c, buf + pos, len - pos);
            if (r == SC_HTTP_INCOMPLETE)
                break;
            if (r < 0) {
                sc_http_send_error(c, 400);
                break;
            }
            pos += (size_t)r;
            c->http.phase = SC_PH_HEAD;
            continue;
        }
        int r = sc_http_parse_request(buf + pos, len - pos, &loop->http.req, &loop->http.limits);
        if (r == SC_HTTP_INCOMPLETE)
            break;
        if (r < 0) {
            sc_http_send_error(c, -r);
            break;
        }
        pos += (size_t)r;
        c->http.head_start_ms = 0;
        sc_start_request(c);
    }
    *lenp = len;
    return pos;
}

/* ---- the other protocol ops ------------------------------------------------ */

static void sc_http_on_open(sc_conn *c)
{
    c->http.phase = c->loop->settings.proxy_protocol ? SC_PH_PROXY : SC_PH_HEAD;
}

/* The output drained: Python's on_writable for the response in flight. */
static void sc_http_on_writable(sc_conn *c)
{
    if ((c->flags & SC_CF_WANT_WRITABLE) && c->http.res.gen) {
        uint64_t gen = c->http.res.gen;
        int done = sc_py_on_writable(c->loop->owner, sc_make_handle(gen, c->slot),
                                     c->http.res.write_offset);
        if (done && c->http.res.gen == gen)
            sc_conn_want_writable(c, 0);
    }
}

/* The connection closed under a response in flight: it is aborted. */
static void sc_http_on_closed(sc_conn *c)
{
    if (!c->http.res.gen)
        return;
    sc_handle res = sc_make_handle(c->http.res.gen, c->slot);
    c->http.res.gen = 0;
    sc_py_on_aborted(c->loop->owner, res);
}

/* sc_loop_drain: finish the exchange in progress with Connection: close,
 * close an idle connection once its output is out. */
static void sc_http_on_going_away(sc_conn *c)
{
    if (c->http.res.gen || c->http.phase == SC_PH_BODY || c->http.phase == SC_PH_WAIT)
        c->http.res.flags |= SC_RF_CLOSE; /* Connection: close on the current response */
    else if (sc_conn_pending(c))
        sc_conn_close_after_flush(c);
    else
        sc_conn_close(c);
}

static void sc_http_release(sc_conn *c)
{
    sc_buf_free(&c->http.body); /* the loop (and its pool) may be going away too */
}

const sc_proto_ops sc_http_proto = {
    "http/1.1",          sc_http_on_open,   sc_http_on_data,       sc_http_on_tick,
    sc_http_on_writable, sc_http_on_closed, sc_http_on_going_away, sc_http_release,
};

/* The public constructor: a loop whose connections start as HTTP/1.1, with
 * the HTTP part of the loop (the parser's limits and request view). */
sc_loop *sc_loop_new(const sc_settings *settings, uint32_t owner_id)
{
    sc_loop *loop = sc_loop_create(settings, owner_id, &sc_http_proto);
    if (!loop)
        return NULL;
    if (loop->settings.max_headers == 0)
        loop->settings.max_headers = 1;
    loop->http.limits.max_header_size = loop->settings.max_header_size;
    loop->http.limits.max_headers = loop->settings.max_headers;
    loop->http.limits.max_url_size = loop->settings.max_url_size;
    /* one spare entry: the parser may add a Host header for absolute-form */
    loop->http.headers = calloc((size_t)loop->settings.max_headers + 1, sizeof(sc_header));
    if (!loop->http.headers) {
        sc_loop_free(loop);
        return NULL;
    }
    loop->http.req.headers = loop->http.headers;
    return loop;
}

sc_request *sc_loop_request_view(sc_loop *loop)
{
    return &loop->http.req;
}

size_t sc_request_pack_headers(const sc_request *req, char *buf, size_t cap)
{
    size_t need = 0;
    for (uint32_t i = 0; i < req->num_headers; i++)
        need += (size_t)req->headers[i].name_len + req->headers[i].value_len + 2;
    if (need > cap || !buf)
        return need;
    char *w = buf;
    for (uint32_t i = 0; i < req->num_headers; i++) {
        const sc_header *h = &req->headers[i];
        memcpy(w, h->name, h->name_len);
        w += h->name_len;
        *w++ = '\0';
        if (h->value_len)
            memcpy(w, h->value, h->value_len);
        w += h->value_len;
        *w++ = '\0';
    }
    return need;
}

static void sc_put_u32(char *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        w[i] = (char)(v >> (8 * i));
}

size_t sc_loop_pack_request(sc_loop *loop, char *buf, size_t cap)
{
    const sc_request *req = &loop->http.req;
    size_t fields = sc_request_pack_headers(req, NULL, 0);
    size_t need = SC_REQUEST_PACK_HEAD + (size_t)req->target_len + 1 + fields;
    if (need > cap || !buf)
        return need;
    uint64_t conn = sc_res_conn_id(loop, req->res);
    memset(buf, 0, SC_REQUEST_PACK_HEAD);
    sc_put_u32(buf, (uint32_t)conn);
    sc_put_u32(buf + 4, (uint32_t)(conn >> 32));
    sc_put_u32(buf + 8, req->flags);
    buf[12] = (char)req->method_id;
    buf[13] = (char)req->http_minor;
    sc_put_u32(buf + 16, req->path_len);
    sc_put_u32(buf + 20, req->target_len);
    char *w = buf + SC_REQUEST_PACK_HEAD;
    if (req->target_len)
        memcpy(w, req->target, req->target_len);
    w[req->target_len] = '\0';
    sc_request_pack_headers(req, w + req->target_len + 1, fields);
    return need;
}

/* The CGI name of a (lower-case) header name: CONTENT_TYPE and CONTENT_LENGTH as
 * they are, every other one HTTP_ + upper case with '-' as '_'.  Returns its
 * length; writes it when w is not NULL. */
static size_t sc_cgi_name(const char *name, size_t len, char *w)
{
    int special = (len == 12 && !memcmp(name, "content-type", 12)) ||
                  (len == 14 && !memcmp(name, "content-length", 14));
    size_t prefix = special ? 0 : 5;
    if (!w)
        return prefix + len;
    if (prefix) {
        memcpy(w, "HTTP_", 5);
        w += 5;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        w[i] = c == '-' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : (char)c;
    }
    return prefix + len;
}

/* A header whose name holds '_' gets no CGI key: its key would be the same as
 * the dashed name's (X_Forwarded_For and X-Forwarded-For are both
 * HTTP_X_FORWARDED_FOR), so a client could pass for a proxy's header.  nginx
 * and gunicorn leave such headers out the same way. */
static int sc_cgi_skipped(const sc_header *h)
{
    return h->name_len && memchr(h->name, '_', h->name_len) != NULL;
}

size_t sc_request_pack_cgi(const sc_request *req, char *buf, size_t cap)
{
    size_t need = (size_t)req->target_len + 1 + 8 + 1;
    for (uint32_t i = 0; i < req->num_headers; i++) {
        const sc_header *h = &req->headers[i];
        if (!sc_cgi_skipped(h))
            need += sc_cgi_name(h->name, h->name_len, NULL) + h->value_len + 2;
    }
    if (need > cap || !buf)
        return need;
    char *w = buf;
    memcpy(w, req->target, req->target_len);
    w += req->target_len;
    *w++ = '\0';
    memcpy(w, req->http_minor == 1 ? "HTTP/1.1" : "HTTP/1.0", 8);
    w += 8;
    *w++ = '\0';
    for (uint32_t i = 0; i < req->num_headers; i++) {
        const sc_header *h = &req->headers[i];
        if (sc_cgi_skipped(h))
            continue;
        w += sc_cgi_name(h->name, h->name_len, w);
        *w++ = '\0';
        if (h->value_len)
            memcpy(w, h->value, h->value_len);
        w += h->value_len;
        *w++ = '\0';
    }
    return need;
}
