/* http_conn.c - the per-connection HTTP/1.1 state machine.
 *
 * Phases (enum sc_phase): PROXY (only with settings.proxy_protocol) -> HEAD
 * -> BODY (when the request has one) -> WAIT (body read, response not ended)
 * -> HEAD again.  One request at a time: the next pipelined head is parsed
 * only once the current response has ended, so responses leave in order.
 * When a response ends while its body is still arriving, the rest of the
 * body is read and dropped (SC_CF_DISCARD) before the next head.
 *
 * Input is parsed where it lies: straight from the loop's scratch buffer
 * when the connection had nothing buffered (the common case: a whole request
 * per read), else from conn->in.  Whatever was not consumed is kept in
 * conn->in.  The request view and body chunks point into that memory and are
 * valid only during the callback that announces them.
 *
 * Protocol errors get a pre-rendered response (indexed by enum sc_http_err,
 * all with Connection: close), then the connection closes once it is sent.
 */
#include "core.h"

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

#define SC_ERR_RESPONSE(status)                                                                  \
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

void sc_conn_send_error(sc_conn *c, int status)
{
    int e = SC_ERR_400;
    for (int i = 0; i < SC_ERR_COUNT; i++)
        if (sc_err_table[i].status == status)
            e = i;
    const char *text = sc_err_table[e].text;
    c->head_start_ms = 0;
    if (sc_buf_append(&c->out, text, strlen(text)) < 0) {
        sc_conn_close(c);
        return;
    }
    c->flags |= SC_CF_CLOSING;
    sc_mark_dirty(c);
    sc_conn_update_events(c);
}

void sc_conn_check_timeouts(sc_conn *c, uint64_t now)
{
    const sc_settings *s = &c->loop->settings;
    if (c->phase == SC_PH_WS) {
        c->loop->ws_hooks->tick(c, now); /* WebSocket timeouts are per route */
        return;
    }
    if (s->header_timeout_ms && c->head_start_ms && !(c->flags & SC_CF_CLOSING) &&
        (c->phase == SC_PH_HEAD || c->phase == SC_PH_PROXY) &&
        now - c->head_start_ms >= s->header_timeout_ms) {
        sc_conn_send_error(c, 408);
        return;
    }
    if (s->idle_timeout_ms && now - c->last_active_ms >= s->idle_timeout_ms)
        sc_conn_close(c); /* a response in flight gets on_aborted */
}

/* ---- requests and bodies -------------------------------------------------- */

static void sc_start_request(sc_conn *c)
{
    sc_loop *loop = c->loop;
    sc_request *req = &loop->req;
    if (req->content_length > loop->settings.max_body_size) {
        sc_conn_send_error(c, 413);
        return;
    }
    c->res_gen = sc_next_gen(loop);
    c->rflags = 0;
    if (req->flags & SC_REQ_KEEP_ALIVE)
        c->rflags |= SC_RF_KEEP_ALIVE;
    if (req->http_minor == 0)
        c->rflags |= SC_RF_HTTP10;
    if (req->flags & SC_REQ_HEAD)
        c->rflags |= SC_RF_HEAD_REQ;
    if (req->flags & SC_REQ_UPGRADE)
        c->rflags |= SC_RF_UPGRADE;
    c->write_offset = 0;
    c->total_size = 0;
    c->flags &= ~(SC_CF_DISCARD | SC_CF_WANT_WRITABLE);
    if (req->flags & SC_REQ_HAS_BODY) {
        c->phase = SC_PH_BODY;
        c->body_chunked = (req->flags & SC_REQ_CHUNKED) != 0;
        c->body_remaining = req->content_length;
        if (c->body_chunked)
            sc_chunked_init(&c->chunk);
    } else {
        c->phase = SC_PH_WAIT;
    }
    req->res = sc_make_handle(c->res_gen, c->slot);
    sc_py_on_request(loop->owner, req->res);
}

void sc_conn_response_ended(sc_conn *c)
{
    c->res_gen = 0;
    c->flags &= ~SC_CF_WANT_WRITABLE;
    if (c->ws) {
        /* the 101 of sc_ws_upgrade: from here on input is WebSocket frames */
        c->phase = SC_PH_WS;
        c->rflags = 0;
        c->head_start_ms = 0;
        if (!(c->flags & SC_CF_PROCESSING) && sc_buf_size(&c->in))
            sc_mark_pending(c);
        sc_conn_update_events(c);
        return;
    }
    if (c->rflags & SC_RF_CLOSE) {
        c->flags |= SC_CF_CLOSING;
        sc_mark_dirty(c);
        sc_conn_update_events(c);
        return;
    }
    if (c->phase == SC_PH_BODY)
        c->flags |= SC_CF_DISCARD;
    else if (c->phase == SC_PH_WAIT)
        c->phase = SC_PH_HEAD;
    if (!(c->flags & SC_CF_PROCESSING) && sc_buf_size(&c->in))
        sc_mark_pending(c);
    sc_conn_update_events(c);
}

/* A framing error in the body: the response in flight cannot be completed. */
static void sc_body_error(sc_conn *c, int status)
{
    if (c->res_gen) {
        if (c->rflags & SC_RF_HEAD_SENT) {
            sc_conn_close(c);
            return;
        }
        sc_handle h = sc_make_handle(c->res_gen, c->slot);
        c->res_gen = 0;
        sc_py_on_aborted(c->loop->owner, h);
        if (c->flags & SC_CF_CLOSED)
            return;
    }
    sc_conn_send_error(c, status);
}

static void sc_body_chunk(sc_conn *c, const char *p, size_t n, int end)
{
    if (c->res_gen && !(c->flags & SC_CF_DISCARD)) {
        sc_event *ev = &c->loop->event;
        ev->data = p;
        ev->len = n;
        ev->is_end = (uint32_t)end;
        sc_py_on_data(c->loop->owner, sc_make_handle(c->res_gen, c->slot));
    }
    if (!end)
        return;
    if ((c->flags & SC_CF_DISCARD) || !c->res_gen) {
        c->flags &= ~SC_CF_DISCARD;
        c->phase = SC_PH_HEAD;
    } else {
        c->phase = SC_PH_WAIT;
    }
}

/* One step of body reading; returns 0 when more bytes are needed. */
static int sc_http_body(sc_conn *c, char *buf, size_t *pos, size_t *len)
{
    size_t avail = *len - *pos;
    char *p = buf + *pos;
    if (!avail)
        return 0;
    if (!c->body_chunked) {
        size_t n = c->body_remaining < avail ? (size_t)c->body_remaining : avail;
        c->body_remaining -= n;
        *pos += n;
        sc_body_chunk(c, p, n, c->body_remaining == 0);
        return 1;
    }
    size_t n = avail;
    long r = sc_chunked_decode(&c->chunk, p, &n);
    if (r < 0 && r != SC_HTTP_INCOMPLETE) {
        sc_body_error(c, 400);
        return 0;
    }
    if (c->chunk.total > c->loop->settings.max_body_size) {
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
static size_t sc_http_run(sc_conn *c, char *buf, size_t *lenp)
{
    sc_loop *loop = c->loop;
    size_t pos = 0, len = *lenp;
    while (!(c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED))) {
        if (c->phase == SC_PH_WAIT)
            break;
        if (c->phase == SC_PH_WS) {
            pos += loop->ws_hooks->feed(c, buf + pos, len - pos);
            break;
        }
        if (c->phase == SC_PH_BODY) {
            if (!sc_http_body(c, buf, &pos, &len))
                break;
            continue;
        }
        if (pos == len) {
            c->head_start_ms = 0;
            break;
        }
        if (sc_buf_size(&c->out) > loop->settings.max_backpressure) {
            /* The client sends requests but does not read the answers: leave
             * the rest in the (bounded) read buffer until the output drains. */
            c->flags |= SC_CF_BACKLOG;
            break;
        }
        if (loop->draining) {
            c->flags |= SC_CF_CLOSING; /* no new request after drain */
            sc_mark_dirty(c);
            break;
        }
        if (!c->head_start_ms)
            c->head_start_ms = loop->now_ms ? loop->now_ms : 1;
        if (c->phase == SC_PH_PROXY) {
            long r = sc_proxy_parse(c, buf + pos, len - pos);
            if (r == SC_HTTP_INCOMPLETE)
                break;
            if (r < 0) {
                sc_conn_send_error(c, 400);
                break;
            }
            pos += (size_t)r;
            c->phase = SC_PH_HEAD;
            continue;
        }
        int r = sc_http_parse_request(buf + pos, len - pos, &loop->req, &loop->limits);
        if (r == SC_HTTP_INCOMPLETE)
            break;
        if (r < 0) {
            sc_conn_send_error(c, -r);
            break;
        }
        pos += (size_t)r;
        c->head_start_ms = 0;
        sc_start_request(c);
    }
    *lenp = len;
    return pos;
}

void sc_conn_feed(sc_conn *c, char *buf, size_t len)
{
    c->flags |= SC_CF_PROCESSING;
    size_t n = len;
    size_t pos = sc_http_run(c, buf, &n);
    c->flags &= ~SC_CF_PROCESSING;
    if (c->flags & SC_CF_CLOSED)
        return;
    if (pos < n && sc_buf_append(&c->in, buf + pos, n - pos) < 0) {
        sc_conn_close(c);
        return;
    }
    sc_conn_update_events(c);
}

void sc_conn_process(sc_conn *c)
{
    if (c->flags & (SC_CF_CLOSED | SC_CF_PAUSED | SC_CF_PROCESSING))
        return;
    if (!sc_buf_size(&c->in))
        return;
    c->flags |= SC_CF_PROCESSING;
    size_t n = sc_buf_size(&c->in);
    size_t pos = sc_http_run(c, c->in.data + c->in.off, &n);
    c->in.len = c->in.off + n;
    c->flags &= ~SC_CF_PROCESSING;
    sc_buf_consume(&c->in, pos);
    sc_conn_update_events(c);
}
