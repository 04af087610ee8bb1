/* ws_conn.c - RFC 6455 connections: behaviors, the upgrade, input, timeouts.
 *
 * The WebSocket protocol of a connection (sc_ws_proto, core.h's protocol
 * ops): installed as c->proto by sc_http_upgraded once the 101 is queued;
 * loop.c and io.c reach it only through that table.  Owns c->ws and
 * loop->wsl (with ws_api.c), never the HTTP or I/O parts.
 *
 * Input: sc_ws_feed runs the incremental frame parser (ws_frame.c) over what
 * the socket delivered.  A message that arrives whole in one read is handed
 * to Python straight from the read buffer (zero copy); fragments are joined
 * in ws->msg; compressed messages are inflated into ws->msg (dedicated
 * decompressor, piece by piece) or, with the shared decompressor, collected
 * and inflated whole into the loop's buffer.  Text is checked as UTF-8 by the
 * parser (uncompressed) or after inflating.  Pings are answered here; pings,
 * pongs and messages go to Python only when it has a handler (SC_WSS_ON_*).
 *
 * Failing: a protocol error (1002), bad UTF-8 (1007), a message past
 * max_payload_length (1009) or an inflate failure sends a close frame with
 * that code, tells Python, and closes the connection once it is flushed.
 *
 * Timeouts (the loop's tick): no input for idle_timeout closes with 1006;
 * with SC_WSS_AUTO_PING a ping goes out after half of it.  max_lifetime
 * starts the closing handshake with 1001; so does sc_loop_drain.  A closing
 * handshake we started ends after SC_WS_CLOSE_GRACE_MS at the latest.
 */
#include "ws_conn.h"

#include <stdlib.h>
#include <string.h>

/* ---- behaviors ------------------------------------------------------------ */

/* dedicated compressor sizes 3KB..256KB: (window bits, memLevel) */
static const uint8_t sc_ws_zsizes[8][2] = {{9, 1},  {9, 2},  {10, 3}, {11, 4},
                                           {12, 5}, {13, 6}, {14, 7}, {15, 8}};

static void sc_ws_on_open(sc_conn *c);
static size_t sc_ws_feed(sc_conn *c, char *buf, size_t *len);
static void sc_ws_closed(sc_conn *c);
static void sc_ws_drained(sc_conn *c);
static void sc_ws_tick(sc_conn *c, uint64_t now);
static void sc_ws_going_away(sc_conn *c);
static void sc_ws_free_conn(sc_conn *c);
static void sc_ws_free_loop(sc_loop *loop);

/* The protocol of an upgraded connection (core.h); HTTP swaps it in when
 * the 101 is queued (sc_http_upgraded). */
/* Pongs are queued in order while at most this much output waits unread; past
 * it only the latest ping is answered, once the output drains. */
#define SC_WS_PONG_WINDOW 4096u

static const sc_proto_ops sc_ws_proto = {
    "websocket",   sc_ws_on_open, sc_ws_feed,       sc_ws_tick,
    sc_ws_drained, sc_ws_closed,  sc_ws_going_away, sc_ws_free_conn,
};

static void sc_ws_on_open(sc_conn *c)
{
    (void)c; /* never a connection's first protocol: sc_ws_attach sets c->ws up */
}

void sc_ws_settings_default(sc_ws_settings *s)
{
    memset(s, 0, sizeof *s);
    /* uWebSockets' defaults: a crowd of slow or hostile clients stays small */
    s->max_payload_length = 16u * 1024u;
    s->max_backpressure = 64u * 1024u;
    s->idle_timeout_ms = 120000;
    s->flags = SC_WSS_AUTO_PING;
}

static int sc_ws_compression_setup(sc_ws_behavior *b)
{
    unsigned comp = b->s.compression & 0xFFu, decomp = (b->s.compression >> 8) & 0xFFu;
    if (comp > 9 || decomp > 8 || (b->s.compression >> 16))
        return SC_EINVAL;
    memset(&b->zcfg, 0, sizeof b->zcfg);
    b->zcfg.server_max_window_bits = 15;
    b->zcfg.client_max_window_bits = 15;
    if (!comp && !decomp)
        return SC_OK;
    if (comp == 1) {
        b->compressor = SC_WZ_SHARED;
        b->zcfg.server_no_context_takeover = 1;
    } else if (comp >= 2) {
        b->compressor = SC_WZ_DEDICATED;
        b->zwindow = sc_ws_zsizes[comp - 2][0];
        b->zmem = sc_ws_zsizes[comp - 2][1];
        b->zcfg.server_max_window_bits = b->zwindow;
    }
    if (decomp >= 2) {
        b->decompressor = SC_WZ_DEDICATED;
        b->zcfg.client_max_window_bits = (uint8_t)(decomp + 7); /* 512B = 2^9 */
    } else {
        b->decompressor = SC_WZ_SHARED; /* also the default with a compressor only */
        b->zcfg.client_no_context_takeover = 1;
    }
    return SC_OK;
}

int sc_ws_behavior_new(sc_loop *loop, const sc_ws_settings *s)
{
    if (!loop || !s || s->max_payload_length == 0)
        return SC_EINVAL;
    if (!loop->wsl) {
        loop->wsl = calloc(1, sizeof *loop->wsl);
        if (!loop->wsl)
            return SC_ENOMEM;
        loop->wsl_free = sc_ws_free_loop;
        loop->always_tick = 1; /* idle timeouts, pings and close grace are per route */
    }
    struct sc_ws_loop *w = loop->wsl;
    sc_ws_behavior b;
    memset(&b, 0, sizeof b);
    b.s = *s;
    if (sc_ws_compression_setup(&b) < 0)
        return SC_EINVAL;
    if (w->num_behaviors >= 65535)
        return SC_EINVAL;
    sc_ws_behavior *list = realloc(w->behaviors, (w->num_behaviors + 1) * sizeof *list);
    if (!list)
        return SC_ENOMEM;
    w->behaviors = list;
    list[w->num_behaviors] = b;
    uint32_t t = s->idle_timeout_ms;
    if (t)
        sc_timer_tick_at_most(loop, t / 4 < 1000 ? t / 4 : 1000);
    if (s->max_lifetime_ms)
        sc_timer_tick_at_most(loop, 1000);
    sc_timer_tick_at_most(loop, 500); /* the close grace period */
    return (int)w->num_behaviors++;
}

/* ---- the upgrade ---------------------------------------------------------- */

int sc_ws_check_request(sc_loop *loop)
{
    sc_request *req = &loop->http.req;
    const char *key;
    uint32_t key_len;
    int r = sc_ws_handshake_check(req->headers, req->num_headers, &key, &key_len);
    if (r == SC_WS_HS_NO_UPGRADE)
        return 1;
    if (r != SC_WS_HS_OK)
        return sc_ws_handshake_status(r);
    if (req->method_len != 3 || memcmp(req->method, "GET", 3) != 0 || req->http_minor < 1 ||
        (req->flags & SC_REQ_HAS_BODY))
        return 400;
    return 0;
}

#define SC_PUT(lit) (memcpy(w, lit, sizeof(lit) - 1), w += sizeof(lit) - 1)

static int sc_ws_attach(sc_conn *c, int behavior, const sc_ws_deflate_params *z)
{
    sc_loop *loop = c->loop;
    const sc_ws_behavior *b = &loop->wsl->behaviors[behavior];
    sc_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return SC_ENOMEM;
    ws->behavior = (uint32_t)behavior;
    uint32_t options = SC_WS_P_UTF8;
    if (z) {
        options |= SC_WS_P_DEFLATE;
        if (b->decompressor == SC_WZ_DEDICATED || !z->client_no_context_takeover) {
            ws->zi = sc_ws_inflater_new(z->client_max_window_bits,
                                        z->client_no_context_takeover ? SC_WS_Z_NO_CONTEXT : 0);
        } else if (!loop->wsl->ishared) {
            loop->wsl->ishared = sc_ws_inflater_new(15, SC_WS_Z_SHARED);
        }
        if (b->compressor == SC_WZ_DEDICATED) {
            ws->zd = sc_ws_deflater_new(z->server_max_window_bits, b->zmem, -1,
                                        z->server_no_context_takeover ? SC_WS_Z_NO_CONTEXT : 0);
            ws->compress = ws->zd ? SC_WZ_DEDICATED : SC_WZ_NONE;
        } else if (b->compressor == SC_WZ_SHARED && z->server_max_window_bits == 15) {
            if (!loop->wsl->zshared)
                loop->wsl->zshared = sc_ws_deflater_new(15, 8, -1, SC_WS_Z_SHARED);
            ws->compress = loop->wsl->zshared ? SC_WZ_SHARED : SC_WZ_NONE;
        }
        if ((!ws->zi && !loop->wsl->ishared) || (b->compressor == SC_WZ_DEDICATED && !ws->zd)) {
            sc_ws_inflater_free(ws->zi);
            sc_ws_deflater_free(ws->zd);
            free(ws);
            return SC_ENOMEM;
        }
    }
    sc_ws_parser_init(&ws->parser, b->s.max_payload_length, options);
    ws->last_active_ms = ws->opened_ms = loop->now_ms ? loop->now_ms : sc_now_ms();
    c->ws = ws;
    loop->stats.websockets_open++; /* down in sc_ws_free_conn */
    return SC_OK;
}

int sc_ws_upgrade(sc_loop *loop, sc_handle res, const char *key, size_t key_len,
                  const char *protocol, size_t protocol_len, const char *extensions,
                  size_t extensions_len, const char *headers, size_t headers_len, int behavior,
                  sc_handle *out_ws)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    if (c->http.res.flags & SC_RF_HEAD_SENT)
        return SC_ESTATE;
    if (!loop->wsl || behavior < 0 || (uint32_t)behavior >= loop->wsl->num_behaviors || !out_ws ||
        (protocol_len && !protocol) || (extensions_len && !extensions) ||
        (headers_len && !headers) || c->ws)
        return SC_EINVAL;
    char accept[SC_WS_ACCEPT_LEN + 1];
    if (!key || sc_ws_accept_key(key, key_len, accept) < 0)
        return SC_EINVAL;
    const sc_ws_behavior *b = &loop->wsl->behaviors[behavior];

    /* the subprotocol: the first token of what we were given */
    const char *proto = NULL;
    size_t proto_len = 0;
    if (protocol_len) {
        const char *pos = protocol;
        if (sc_ws_list_next(&pos, protocol + protocol_len, &proto, &proto_len) != 1)
            proto = NULL, proto_len = 0;
    }
    sc_ws_deflate_params z;
    int deflate = 0;
    char ext[SC_WS_EXT_RESPONSE_MAX];
    int ext_len = 0;
    if (extensions_len && (b->compressor || b->decompressor) &&
        sc_ws_deflate_negotiate_value(extensions, extensions_len, &b->zcfg, &z) == 1) {
        ext_len = sc_ws_deflate_response(&z, ext, sizeof ext);
        deflate = ext_len > 0;
    }

    sc_batch_begin(loop);
    int rc = sc_ws_attach(c, behavior, deflate ? &z : NULL);
    if (rc < 0)
        goto out;
    /* the 101, corked with whatever the batch writes */
    char *w = sc_out_reserve(c, 160 + proto_len + (size_t)ext_len + headers_len);
    if (!w) {
        sc_ws_free_conn(c);
        rc = SC_ENOMEM;
        goto out;
    }
    char *start = w;
    SC_PUT("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: ");
    memcpy(w, accept, SC_WS_ACCEPT_LEN);
    w += SC_WS_ACCEPT_LEN;
    SC_PUT("\r\n");
    if (proto_len) {
        SC_PUT("Sec-WebSocket-Protocol: ");
        memcpy(w, proto, proto_len);
        w += proto_len;
        SC_PUT("\r\n");
    }
    if (deflate) {
        SC_PUT("Sec-WebSocket-Extensions: ");
        memcpy(w, ext, (size_t)ext_len);
        w += ext_len;
        SC_PUT("\r\n");
    }
    if (headers_len) {
        memcpy(w, headers, headers_len);
        w += headers_len;
    }
    SC_PUT("\r\n");
    sc_out_commit(c, (size_t)(w - start));
    sc_conn_end_cork(c);
    sc_conn_touch(c);
    sc_http_upgraded(c, &sc_ws_proto); /* input from here on is WebSocket frames */
    *out_ws = sc_ws_handle(c);
    rc = SC_OK;
out:
    sc_batch_end(loop);
    return rc;
}

/* ---- closing -------------------------------------------------------------- */

void sc_ws_tell_closed(sc_conn *c, uint32_t code, const char *reason, size_t reason_len)
{
    sc_ws *ws = c->ws;
    if (ws->told)
        return;
    ws->told = 1;
    sc_loop *loop = c->loop;
    sc_handle h = sc_ws_handle(c);
    if (loop->wsl->ps)
        sc_pubsub_unsubscribe_all(loop->wsl->ps, h, 1);
    sc_event *ev = &loop->event;
    ev->data = reason;
    ev->len = reason ? reason_len : 0;
    ev->is_end = 1;
    sc_py_ws_close(loop->owner, h, code);
}

/* Fail the connection: close frame with code, tell Python, close once sent. */
static void sc_ws_fail(sc_conn *c, uint32_t code)
{
    if (!c->ws->sent_close)
        sc_ws_send_close(c, code, NULL, 0);
    sc_ws_tell_closed(c, code, NULL, 0);
    sc_conn_close_after_flush(c);
}

static void sc_ws_closed(sc_conn *c)
{
    sc_ws_tell_closed(c, SC_WS_CLOSE_ABNORMAL, NULL, 0);
}

static void sc_ws_going_away(sc_conn *c)
{
    if (c->ws->told || c->ws->sent_close)
        return;
    sc_ws_send_close(c, SC_WS_CLOSE_GOING_AWAY, NULL, 0);
    sc_ws_tell_closed(c, SC_WS_CLOSE_GOING_AWAY, NULL, 0);
}

static void sc_ws_drained(sc_conn *c)
{
    sc_ws *ws = c->ws;
    sc_conn_want_writable(c, 0); /* asked again by the next send or buffered amount */
    if (ws->pong_due) {
        ws->pong_due = 0;
        if (!ws->sent_close && !ws->told)
            sc_ws_put_frame(c, SC_WS_OP_PONG, SC_WS_W_FIN, ws->pong, ws->pong_len);
    }
    if (!ws->told && (sc_ws_behavior_of(c)->s.flags & SC_WSS_ON_DRAIN))
        sc_py_ws_drain(c->loop->owner, sc_ws_handle(c));
}

static void sc_ws_tick(sc_conn *c, uint64_t now)
{
    sc_ws *ws = c->ws;
    const sc_ws_settings *s = &sc_ws_behavior_of(c)->s;
    if (ws->sent_close || ws->told) {
        if (now >= ws->close_deadline_ms)
            sc_conn_close(c);
        return;
    }
    uint64_t idle = now - ws->last_active_ms;
    if (s->idle_timeout_ms && idle >= s->idle_timeout_ms) {
        sc_conn_close(c); /* Python hears 1006 */
        return;
    }
    if (s->max_lifetime_ms && now - ws->opened_ms >= s->max_lifetime_ms) {
        sc_ws_going_away(c);
        return;
    }
    if ((s->flags & SC_WSS_AUTO_PING) && s->idle_timeout_ms && !ws->ping_sent &&
        idle >= s->idle_timeout_ms / 2) {
        ws->ping_sent = 1;
        sc_ws_put_frame(c, SC_WS_OP_PING, SC_WS_W_FIN, NULL, 0);
    }
}

static void sc_ws_free_conn(sc_conn *c)
{
    sc_ws *ws = c->ws;
    if (!ws)
        return;
    c->ws = NULL;
    c->loop->stats.websockets_open--;
    sc_ws_inflater_free(ws->zi);
    sc_ws_deflater_free(ws->zd);
    sc_ws_buf_free(&ws->msg);
    free(ws);
}

static void sc_ws_free_loop(sc_loop *loop)
{
    struct sc_ws_loop *w = loop->wsl;
    if (!w)
        return;
    loop->wsl = NULL;
    sc_pubsub_free(w->ps);
    sc_ws_deflater_free(w->zshared);
    sc_ws_inflater_free(w->ishared);
    sc_ws_buf_free(&w->zbuf);
    sc_ws_buf_free(&w->ibuf);
    sc_ws_buf_free(&w->frame);
    free(w->ids);
    free(w->behaviors);
    free(w);
}

/* ---- input ---------------------------------------------------------------- */

static void sc_ws_deliver(sc_conn *c, unsigned opcode, const void *data, size_t len)
{
    sc_event *ev = &c->loop->event;
    ev->data = data;
    ev->len = len;
    ev->is_end = 1;
    sc_py_ws_message(c->loop->owner, sc_ws_handle(c), opcode);
}

static void sc_ws_msg_reset(sc_ws *ws)
{
    ws->msg.len = 0;
    if (ws->msg.cap > SC_WS_MSG_KEEP)
        sc_ws_buf_free(&ws->msg);
}

/* A piece of a compressed message.  Returns 0 or a close code. */
static uint32_t sc_ws_inflate_piece(sc_conn *c, const sc_ws_chunk *ch)
{
    sc_ws *ws = c->ws;
    struct sc_ws_loop *w = c->loop->wsl;
    uint64_t limit = sc_ws_behavior_of(c)->s.max_payload_length;
    int end = (ch->flags & SC_WS_MSG_END) != 0;
    sc_ws_buf *out = &ws->msg;
    int rc = SC_OK;
    if (ws->zi) {
        rc = sc_ws_inflate(ws->zi, ch->data, ch->len, end, limit, &ws->msg);
    } else {
        /* shared decompressor: whole messages only */
        if (ch->len) {
            if (sc_ws_buf_reserve(&ws->msg, ch->len) != SC_OK)
                return SC_WS_CLOSE_INTERNAL;
            memcpy(ws->msg.data + ws->msg.len, ch->data, ch->len);
            ws->msg.len += ch->len;
        }
        if (!end)
            return 0;
        w->ibuf.len = 0;
        out = &w->ibuf;
        rc = sc_ws_inflate(w->ishared, ws->msg.data, ws->msg.len, 1, limit, out);
        if (rc < 0)
            sc_ws_inflater_reset(w->ishared);
    }
    if (rc < 0)
        return rc == -SC_WS_CLOSE_TOO_BIG || rc == -SC_WS_CLOSE_INVALID_DATA ? (uint32_t)-rc
                                                                             : SC_WS_CLOSE_INTERNAL;
    if (!end)
        return 0;
    if (ch->msg_opcode == SC_WS_OP_TEXT && !sc_utf8_valid(out->data, out->len))
        return SC_WS_CLOSE_INVALID_DATA;
    sc_ws_deliver(c, ch->msg_opcode, out->data, out->len);
    if (c->ws)
        sc_ws_msg_reset(c->ws);
    if (out == &w->ibuf && w->ibuf.cap > SC_WS_MSG_KEEP)
        sc_ws_buf_free(&w->ibuf);
    return 0;
}

/* A piece of a data message.  Returns 0 or a close code. */
static uint32_t sc_ws_data(sc_conn *c, const sc_ws_chunk *ch)
{
    sc_ws *ws = c->ws;
    if (ws->sent_close || ws->told)
        return 0; /* closing: data is read and dropped */
    if (ch->flags & SC_WS_COMPRESSED)
        return sc_ws_inflate_piece(c, ch);
    uint32_t whole = SC_WS_MSG_START | SC_WS_MSG_END;
    if ((ch->flags & whole) == whole) {
        sc_ws_deliver(c, ch->msg_opcode, ch->data, ch->len); /* PERF: zero copy */
        return 0;
    }
    if (ch->len) {
        if (sc_ws_buf_reserve(&ws->msg, ch->len) != SC_OK)
            return SC_WS_CLOSE_INTERNAL;
        memcpy(ws->msg.data + ws->msg.len, ch->data, ch->len);
        ws->msg.len += ch->len;
    }
    if (ch->flags & SC_WS_MSG_END) {
        sc_ws_deliver(c, ch->msg_opcode, ws->msg.data, ws->msg.len);
        if (c->ws)
            sc_ws_msg_reset(c->ws);
    }
    return 0;
}

static void sc_ws_control(sc_conn *c, const sc_ws_chunk *ch)
{
    sc_ws *ws = c->ws;
    sc_loop *loop = c->loop;
    uint32_t flags = sc_ws_behavior_of(c)->s.flags;
    sc_event *ev = &loop->event;
    switch (ch->opcode) {
    case SC_WS_OP_PING:
        if (ws->sent_close || ws->told)
            return;
        if (sc_conn_pending(c) <= SC_WS_PONG_WINDOW) {
            sc_ws_put_frame(c, SC_WS_OP_PONG, SC_WS_W_FIN, ch->data, ch->len);
        } else {
            /* The client does not read: hold one pong, the latest ping's, until the
             * output drains (sc_ws_drained), so a ping flood queues nothing more. */
            memcpy(ws->pong, ch->data, ch->len);
            ws->pong_len = (uint8_t)ch->len;
            ws->pong_due = 1;
            sc_conn_want_writable(c, 1);
        }
        if (flags & SC_WSS_ON_PING) {
            ev->data = (const char *)ch->data, ev->len = ch->len, ev->is_end = 1;
            sc_py_ws_ping(loop->owner, sc_ws_handle(c));
        }
        return;
    case SC_WS_OP_PONG:
        if (!ws->told && (flags & SC_WSS_ON_PONG)) {
            ev->data = (const char *)ch->data, ev->len = ch->len, ev->is_end = 1;
            sc_py_ws_pong(loop->owner, sc_ws_handle(c));
        }
        return;
    default: /* close */
        if (!ws->sent_close) {
            /* echo the code (none for an empty close), then close the TCP side */
            uint32_t code = ch->close_code == SC_WS_CLOSE_NO_STATUS ? 0 : ch->close_code;
            sc_ws_send_close(c, code, NULL, 0);
        }
        sc_ws_tell_closed(c, ch->close_code, (const char *)ch->reason, ch->reason_len);
        sc_conn_close_after_flush(c);
    }
}

static size_t sc_ws_feed(sc_conn *c, char *buf, size_t *lenp)
{
    sc_ws *ws = c->ws;
    size_t len = *lenp;
    if (c->flags & (SC_CF_CLOSED | SC_CF_CLOSING | SC_CF_PAUSED))
        return 0;
    size_t pos = 0, used;
    sc_ws_chunk ch;
    ws->last_active_ms = c->loop->now_ms;
    ws->ping_sent = 0;
    uint64_t limit = sc_ws_behavior_of(c)->s.max_backpressure;
    for (;;) {
        if (limit && sc_conn_pending(c) > limit) {
            /* The client does not read what we send: stop reading it (its pings,
             * messages and pongs wait in the bounded input buffer and the kernel)
             * or close it when the route says so. */
            if (sc_ws_behavior_of(c)->s.flags & SC_WSS_CLOSE_ON_BACKPRESSURE) {
                sc_conn_close(c);
                return len;
            }
            sc_conn_backlog(c, (size_t)limit);
            return pos;
        }
        int r = sc_ws_parse(&ws->parser, (uint8_t *)buf + pos, len - pos, &used, &ch);
        pos += used;
        if (r == SC_WS_NEED_MORE)
            return pos;
        uint32_t fail = r < 0 ? (uint32_t)-r : 0;
        if (!fail && ch.opcode < SC_WS_OP_CLOSE)
            fail = sc_ws_data(c, &ch);
        else if (!fail)
            sc_ws_control(c, &ch);
        if (fail && !(c->flags & SC_CF_CLOSED))
            sc_ws_fail(c, fail);
        /* Python may have closed or ended it from a callback */
        if (c->flags & (SC_CF_CLOSED | SC_CF_CLOSING) || !c->ws)
            return len;
        ws = c->ws;
    }
}
