/* ws_api.c - what Python does with a WebSocket: send, close, topics,
 * publish (the sc_ws_* calls).  See socketify.h for the contract and
 * ws_conn.h for the state (c->ws, owned with ws_conn.c).
 *
 * Every call finds its connection by handle (sc_ws_conn) and does nothing to
 * a closed one.  Frames are rendered straight into the connection's output
 * buffer (header and payload in one reservation); like the HTTP writer, the
 * call runs as a batch, so inside a poll the output waits for the poll's one
 * write and outside it leaves at once unless the WebSocket is corked.
 *
 * Publish builds the frame once (plus, with SC_WS_SEND_COMPRESS, one
 * compressed frame from the shared compressor for the subscribers that use
 * it; a subscriber with a dedicated compressor gets the plain frame, since a
 * foreign message inside its compression context would corrupt it) and
 * appends those bytes to every subscriber's buffer.  Subscribers are copied
 * out of the topic table first, so closing a connection that is past its
 * backpressure limit (after the sends) cannot disturb the iteration.
 */
#include "ws_conn.h"

#include <stdlib.h>
#include <string.h>

enum { SC_FRAG_NONE = 0, SC_FRAG_SENDING = 1, SC_FRAG_DROPPING = 2 };

sc_conn *sc_ws_conn(sc_loop *loop, sc_handle ws)
{
    sc_conn *c = sc_conn_by_handle(loop, ws);
    if (!c || !c->ws || c->ws->told || (c->flags & (SC_CF_CLOSED | SC_CF_CLOSING)))
        return NULL;
    return c;
}

int sc_ws_put_frame(sc_conn *c, unsigned opcode, uint32_t wire_flags, const void *data, size_t len)
{
    uint8_t head[SC_WS_MAX_HEADER];
    size_t hl = sc_ws_write_header(head, opcode, len, wire_flags);
    /* PERF: one reservation, two copies; no intermediate frame buffer */
    char *w = sc_out_reserve(c, hl + len);
    if (!w)
        return SC_ENOMEM;
    memcpy(w, head, hl);
    if (len)
        memcpy(w + hl, data, len);
    sc_out_commit(c, hl + len);
    return SC_OK;
}

void sc_ws_send_close(sc_conn *c, uint32_t code, const char *reason, size_t reason_len)
{
    uint8_t payload[125];
    int n = sc_ws_close_payload(payload, code, reason, reason_len);
    if (n < 0)
        n = 0;
    sc_ws_put_frame(c, SC_WS_OP_CLOSE, SC_WS_W_FIN, payload, (size_t)n);
    c->ws->sent_close = 1;
    c->ws->close_deadline_ms = c->loop->now_ms + SC_WS_CLOSE_GRACE_MS;
}

/* ---- sending -------------------------------------------------------------- */

/* The frame's payload: data, or its compressed form (RSV1 added to *wire). */
static const void *sc_ws_maybe_compress(sc_conn *c, const char *data, size_t *len, uint32_t *wire)
{
    struct sc_ws_loop *w = c->loop->wsl;
    sc_ws *ws = c->ws;
    sc_ws_deflater *d = ws->compress == SC_WZ_DEDICATED ? ws->zd : w->zshared;
    w->zbuf.len = 0;
    if (sc_ws_deflate_message(d, (const uint8_t *)data, *len, &w->zbuf) != SC_OK)
        return data;
    /* A dedicated compressor with context takeover has taken these bytes into
     * its window: its output must be sent, whatever its size. */
    if (ws->compress == SC_WZ_SHARED && w->zbuf.len >= *len)
        return data;
    *len = w->zbuf.len;
    *wire |= SC_WS_W_RSV1;
    return w->zbuf.data;
}

int sc_ws_send(sc_loop *loop, sc_handle h, uint32_t opcode, const char *data, size_t len,
               uint32_t flags)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_ws_conn(loop, h);
    if (!c)
        return SC_WS_STATUS_DROPPED;
    if (len && !data)
        return SC_EINVAL;
    sc_ws *ws = c->ws;
    int more = (flags & SC_WS_SEND_MORE) != 0;
    switch (opcode) {
    case SC_WS_OP_TEXT:
    case SC_WS_OP_BINARY:
        if (ws->frag_out)
            return SC_ESTATE; /* finish the fragmented message first */
        break;
    case SC_WS_OP_CONTINUATION:
        if (ws->frag_out == SC_FRAG_NONE)
            return SC_ESTATE;
        if (ws->frag_out == SC_FRAG_DROPPING) {
            if (!more)
                ws->frag_out = SC_FRAG_NONE;
            return SC_WS_STATUS_DROPPED;
        }
        break;
    case SC_WS_OP_PING:
    case SC_WS_OP_PONG:
        if (len > 125 || more)
            return SC_EINVAL;
        break;
    default:
        return SC_EINVAL;
    }
    const sc_ws_behavior *b = sc_ws_behavior_of(c);
    if (b->s.max_backpressure && sc_conn_pending(c) > b->s.max_backpressure &&
        opcode != SC_WS_OP_CONTINUATION) {
        if (b->s.flags & SC_WSS_CLOSE_ON_BACKPRESSURE) {
            sc_batch_begin(loop);
            sc_conn_close(c);
            sc_batch_end(loop);
        } else if (more) {
            ws->frag_out = SC_FRAG_DROPPING; /* the rest of this message goes too */
        }
        loop->stats.backpressure_drops++;
        return SC_WS_STATUS_DROPPED;
    }
    sc_batch_begin(loop);
    uint32_t wire = more ? 0 : SC_WS_W_FIN;
    const void *payload = data;
    if ((flags & SC_WS_SEND_COMPRESS) && ws->compress && !more && opcode <= SC_WS_OP_BINARY &&
        opcode != SC_WS_OP_CONTINUATION)
        payload = sc_ws_maybe_compress(c, data, &len, &wire);
    int rc = sc_ws_put_frame(c, opcode, wire, payload, len);
    if (opcode <= SC_WS_OP_BINARY)
        ws->frag_out = more ? SC_FRAG_SENDING : SC_FRAG_NONE;
    if (b->s.flags & SC_WSS_RESET_IDLE_ON_SEND)
        ws->last_active_ms = loop->now_ms;
    sc_batch_end(loop); /* may flush, close and even free c */
    if (rc < 0)
        return rc;
    c = sc_conn_by_handle(loop, h);
    if (!c || (c->flags & SC_CF_CLOSED))
        return SC_WS_STATUS_DROPPED;
    if ((c->flags & SC_CF_BLOCKED) && sc_conn_pending(c)) {
        sc_conn_want_writable(c, 1); /* drain fires once it is out */
        return SC_WS_STATUS_BACKPRESSURE;
    }
    return SC_WS_STATUS_SUCCESS;
}

int sc_ws_end(sc_loop *loop, sc_handle h, uint32_t code, const char *reason, size_t reason_len)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_ws_conn(loop, h);
    if (!c)
        return SC_ESTALE;
    if ((reason_len && !reason) ||
        (code && code != SC_WS_CLOSE_NO_STATUS && !sc_ws_close_code_valid(code)))
        return SC_EINVAL;
    if (code == SC_WS_CLOSE_NO_STATUS)
        code = 0;
    sc_batch_begin(loop);
    if (!c->ws->sent_close)
        sc_ws_send_close(c, code, reason, reason_len);
    sc_ws_tell_closed(c, code ? code : SC_WS_CLOSE_NO_STATUS, reason, reason_len);
    sc_batch_end(loop);
    return SC_OK;
}

int sc_ws_close(sc_loop *loop, sc_handle h)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_conn_by_handle(loop, h);
    if (!c || !c->ws || (c->flags & SC_CF_CLOSED))
        return SC_ESTALE;
    sc_batch_begin(loop);
    sc_conn_close(c); /* Python hears 1006 unless it was told already */
    sc_batch_end(loop);
    return SC_OK;
}

int sc_ws_cork(sc_loop *loop, sc_handle h, int on)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_ws_conn(loop, h);
    return c ? sc_conn_cork(c, on) : SC_ESTALE;
}

size_t sc_ws_buffered(sc_loop *loop, sc_handle h)
{
    sc_conn *c = sc_ws_conn(loop, h);
    if (!c)
        return 0;
    size_t held = sc_conn_pending(c);
    if (held)
        sc_conn_want_writable(c, 1); /* whoever asks waits for drain: it will fire */
    return held;
}

int sc_ws_alive(sc_loop *loop, sc_handle h)
{
    return sc_ws_conn(loop, h) ? 1 : 0;
}

int sc_ws_remote_address(sc_loop *loop, sc_handle h, char *buf, size_t cap)
{
    sc_conn *c = sc_ws_conn(loop, h);
    return c ? sc_addr_text(&c->io.remote, buf, cap) : SC_ESTALE;
}

int sc_ws_remote_bytes(sc_loop *loop, sc_handle h, char *buf, size_t cap)
{
    sc_conn *c = sc_ws_conn(loop, h);
    return c ? sc_addr_bytes(&c->io.remote, buf, cap) : SC_ESTALE;
}

/* ---- topics --------------------------------------------------------------- */

static void sc_ws_subscription_hook(void *ctx, uint64_t sub, const char *topic, size_t len,
                                    uint32_t new_count, uint32_t old_count)
{
    sc_loop *loop = ctx;
    sc_event *ev = &loop->event;
    /* PERF: only the first and the last subscriber of a topic reach Python here */
    if (loop->watch_topics && (old_count == 0 || new_count == 0)) {
        ev->data = topic;
        ev->len = len;
        ev->is_end = 1;
        sc_py_topic_interest(loop->owner, new_count ? 1u : 0u);
    }
    sc_conn *c = sc_conn_by_handle(loop, sub);
    if (!c || !c->ws || !(sc_ws_behavior_of(c)->s.flags & SC_WSS_ON_SUBSCRIPTION))
        return;
    ev->data = topic;
    ev->len = len;
    ev->is_end = 1;
    sc_py_ws_subscription(loop->owner, sub, new_count, old_count);
}

sc_pubsub *sc_ws_pubsub(sc_loop *loop)
{
    struct sc_ws_loop *w = loop->wsl;
    if (!w->ps)
        w->ps = sc_pubsub_new(sc_ws_subscription_hook, loop);
    return w->ps;
}

int sc_ws_subscribe(sc_loop *loop, sc_handle h, const char *topic, size_t len)
{
    SC_ON_LOOP_THREAD(loop);
    if (!sc_ws_conn(loop, h))
        return SC_ESTALE;
    if (len && !topic)
        return SC_EINVAL;
    sc_pubsub *ps = sc_ws_pubsub(loop);
    return ps ? sc_pubsub_subscribe(ps, h, topic, len) : SC_ENOMEM;
}

int sc_ws_unsubscribe(sc_loop *loop, sc_handle h, const char *topic, size_t len)
{
    SC_ON_LOOP_THREAD(loop);
    if (!sc_ws_conn(loop, h))
        return SC_ESTALE;
    if (len && !topic)
        return SC_EINVAL;
    sc_pubsub *ps = loop->wsl->ps;
    return ps ? sc_pubsub_unsubscribe(ps, h, topic, len) : 0;
}

int sc_ws_is_subscribed(sc_loop *loop, sc_handle h, const char *topic, size_t len)
{
    if (!sc_ws_conn(loop, h) || (len && !topic))
        return 0;
    sc_pubsub *ps = loop->wsl->ps;
    return ps ? sc_pubsub_is_subscribed(ps, h, topic, len) : 0;
}

uint32_t sc_ws_topic_count(sc_loop *loop, sc_handle h)
{
    if (!sc_ws_conn(loop, h) || !loop->wsl->ps)
        return 0;
    return sc_pubsub_topic_count(loop->wsl->ps, h);
}

int sc_ws_topic_at(sc_loop *loop, sc_handle h, uint32_t index, const char **name, size_t *len)
{
    if (!sc_ws_conn(loop, h) || !loop->wsl->ps)
        return SC_ESTALE;
    if (!name || !len)
        return SC_EINVAL;
    return sc_pubsub_topic_at(loop->wsl->ps, h, index, name, len);
}

uint32_t sc_loop_num_subscribers(sc_loop *loop, const char *topic, size_t len)
{
    if (!loop || !loop->wsl || !loop->wsl->ps || (len && !topic))
        return 0;
    return sc_pubsub_num_subscribers(loop->wsl->ps, topic, len);
}

int sc_loop_watch_topics(sc_loop *loop, int on)
{
    if (!loop)
        return SC_EINVAL;
    loop->watch_topics = on ? 1 : 0;
    return SC_OK;
}

int sc_loop_batch(sc_loop *loop, int on)
{
    SC_ON_LOOP_THREAD(loop);
    if (!loop)
        return SC_EINVAL;
    if (on) {
        loop->py_batches++;
        sc_batch_begin(loop);
        return SC_OK;
    }
    if (loop->py_batches <= 0)
        return SC_ESTATE;
    loop->py_batches--;
    sc_batch_end(loop);
    return SC_OK;
}

/* ---- publish -------------------------------------------------------------- */

#define SC_SHARE_MIN 16384u /* published frames this big are shared, not copied */

static size_t sc_ws_render(sc_ws_buf *b, unsigned opcode, uint32_t wire, const void *p, size_t n)
{
    size_t start = b->len;
    if (sc_ws_buf_reserve(b, SC_WS_MAX_HEADER + n) != SC_OK)
        return 0;
    b->len += sc_ws_write_header(b->data + b->len, opcode, n, wire);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return b->len - start;
}

/* Copy the subscribers of topic (but sender) into w->ids; returns the count. */
static int sc_ws_collect(struct sc_ws_loop *w, const char *topic, size_t tlen, sc_handle sender)
{
    uint32_t n = sc_pubsub_collect(w->ps, topic, tlen, sender, w->ids, w->ids_cap);
    if (n > w->ids_cap) {
        uint64_t *ids = realloc(w->ids, (size_t)n * sizeof *ids);
        if (!ids)
            return SC_ENOMEM;
        w->ids = ids;
        w->ids_cap = n;
        n = sc_pubsub_collect(w->ps, topic, tlen, sender, w->ids, w->ids_cap);
    }
    return (int)n;
}

int sc_loop_publish(sc_loop *loop, sc_handle sender, const char *topic, size_t topic_len,
                    const char *data, size_t len, uint32_t opcode, uint32_t flags)
{
    SC_ON_LOOP_THREAD(loop);
    if (!loop || (topic_len && !topic) || (len && !data) ||
        (opcode != SC_WS_OP_TEXT && opcode != SC_WS_OP_BINARY))
        return SC_EINVAL;
    if (sender && !sc_ws_conn(loop, sender))
        return SC_ESTALE;
    struct sc_ws_loop *w = loop->wsl;
    if (!w || !w->ps)
        return 0;
    int n = sc_ws_collect(w, topic, topic_len, sender);
    if (n <= 0)
        return n;
    /* the frames: plain, then (when some subscriber can take it) compressed */
    w->frame.len = 0;
    size_t plain = sc_ws_render(&w->frame, opcode, SC_WS_W_FIN, data, len);
    if (!plain)
        return SC_ENOMEM;
    size_t packed = 0;
    if ((flags & SC_WS_SEND_COMPRESS) && w->zshared) {
        w->zbuf.len = 0;
        if (sc_ws_deflate_message(w->zshared, (const uint8_t *)data, len, &w->zbuf) == SC_OK &&
            w->zbuf.len < len)
            packed = sc_ws_render(&w->frame, opcode, SC_WS_W_FIN | SC_WS_W_RSV1, w->zbuf.data,
                                  w->zbuf.len);
    }
    /* A large frame is shared by reference among the subscribers whose output is
     * empty (one allocation for all of them) instead of copied into each. */
    sc_shared_msg *shared[2] = {NULL, NULL}; /* plain, compressed */
    if (n > 1 && plain >= SC_SHARE_MIN) {
        shared[0] = sc_shared_msg_new(w->frame.data, plain);
        if (packed)
            shared[1] = sc_shared_msg_new(w->frame.data + plain, packed);
    }
    sc_batch_begin(loop);
    int sent = 0, nclose = 0;
    for (int i = 0; i < n; i++) {
        sc_conn *c = sc_conn_by_handle(loop, w->ids[i]);
        if (!c || !c->ws || c->ws->told || c->ws->sent_close || c->ws->frag_out ||
            (c->flags & (SC_CF_CLOSED | SC_CF_CLOSING)))
            continue;
        const sc_ws_behavior *b = sc_ws_behavior_of(c);
        if (b->s.max_backpressure && sc_conn_pending(c) > b->s.max_backpressure) {
            loop->stats.backpressure_drops++;
            if (b->s.flags & SC_WSS_CLOSE_ON_BACKPRESSURE)
                w->ids[nclose++] = w->ids[i]; /* i >= nclose: a visited slot */
            continue;
        }
        const char *frame = (const char *)w->frame.data;
        size_t size = plain;
        sc_shared_msg *m = shared[0];
        if (packed && c->ws->compress == SC_WZ_SHARED)
            frame += plain, size = packed, m = shared[1];
        if ((m ? sc_out_append_shared(c, m) : sc_out_append(c, frame, size)) < 0)
            continue;
        if (b->s.flags & SC_WSS_RESET_IDLE_ON_SEND)
            c->ws->last_active_ms = loop->now_ms;
        sent++;
    }
    if (nclose) {
        /* Closing calls Python, which may publish again into w->ids: the array is
         * taken from w for the closes (a publish meanwhile makes its own), so
         * closing the slow subscribers needs no allocation that could fail. */
        uint64_t *doomed = w->ids;
        uint32_t cap = w->ids_cap;
        w->ids = NULL;
        w->ids_cap = 0;
        for (int i = 0; i < nclose; i++) {
            sc_conn *c = sc_conn_by_handle(loop, doomed[i]);
            if (c && !(c->flags & SC_CF_CLOSED))
                sc_conn_close(c);
        }
        if (w->ids_cap >= cap) {
            free(doomed); /* a publish meanwhile made one at least as large */
        } else {
            free(w->ids);
            w->ids = doomed;
            w->ids_cap = cap;
        }
    }
    loop->stats.pubsub_deliveries += (uint64_t)sent;
    sc_batch_end(loop); /* flushes: most subscribers send the shared frame right here */
    sc_shared_msg_release(shared[0]);
    sc_shared_msg_release(shared[1]);
    return sent;
}
