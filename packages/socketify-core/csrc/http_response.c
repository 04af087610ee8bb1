/* http_response.c - the response writer (sc_res_*).
 *
 * Owns the response part of a connection (c->http.res: its generation, the
 * framing flags, write_offset, total_size); appends to the output through
 * io.c (sc_out_reserve/commit, sc_out_append, sc_conn_write_now).
 *
 * Python renders the status line's tail and its own headers ("200 OK\r\n
 * Name: value\r\n"); the core adds "HTTP/1.1 ", the cached Date header, the
 * framing (Content-Length on end/try_end, chunked when a body is streamed
 * without a length, nothing for 1xx/204/304), Connection: close when the
 * connection ends after this response, and the blank line.
 *
 * Every call runs as a batch: output goes to c->io.out and leaves when the
 * outermost batch ends, so everything written during one sc_loop_poll leaves
 * in one write per connection.  Outside a poll a call writes at once unless
 * the connection is corked (sc_res_cork).  What the I/O layers do not take
 * stays in c->io.out (backpressure) and SC_EAGAIN tells Python once more than
 * max_backpressure is held; sc_res_try_end instead never buffers body bytes
 * past what the I/O layers take.
 */
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SC_DIRECT_MIN 16384 /* bodies this big skip the copy into c->io.out */

enum { SC_MODE_STREAM, SC_MODE_END, SC_MODE_TRY };

static const char sc_wday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char sc_month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void sc_date_refresh(sc_loop *loop)
{
    time_t now = time(NULL);
    if (now == loop->http.date_sec && loop->http.date_len)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(
        loop->http.date, sizeof loop->http.date, "Date: %s, %02u %s %04u %02u:%02u:%02u GMT\r\n",
        sc_wday[(unsigned)tm.tm_wday % 7u], (unsigned)tm.tm_mday % 100u,
        sc_month[(unsigned)tm.tm_mon % 12u], (unsigned)(tm.tm_year + 1900) % 10000u,
        (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u);
    loop->http.date_len = n > 0 && (size_t)n < sizeof loop->http.date ? (size_t)n : 0;
    loop->http.date_sec = now;
}

/* The connection whose response h names, while that response is in flight. */
sc_conn *sc_res_by_handle(sc_loop *loop, sc_handle h)
{
    uint64_t gen;
    sc_conn *c = sc_handle_slot(loop, h, &gen);
    return (c && c->http.res.gen == gen && !(c->flags & SC_CF_CLOSED)) ? c : NULL;
}

/* PERF: decimal digits without printf's format parsing (one per response). */
static char *sc_put_u64(char *w, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n)
        *w++ = tmp[--n];
    return w;
}

#define SC_PUT(lit) (memcpy(w, lit, sizeof(lit) - 1), w += sizeof(lit) - 1)

/* The value of a Content-Length line that Python rendered into the head
 * (SC_W_HAS_LENGTH).  Returns 0 and the value, or -1 when there is none. */
static int sc_head_content_length(const char *head, size_t len, uint64_t *out)
{
    static const char name[] = "content-length:";
    const size_t nlen = sizeof(name) - 1;
    for (size_t i = 0; i + nlen < len; i++) {
        if (i && head[i - 1] != '\n')
            continue;
        size_t k = 0;
        while (k < nlen && (head[i + k] | 0x20) == name[k])
            k++;
        if (k != nlen)
            continue;
        size_t p = i + nlen;
        while (p < len && (head[p] == ' ' || head[p] == '\t'))
            p++;
        uint64_t v = 0;
        size_t digits = 0;
        for (; p < len && head[p] >= '0' && head[p] <= '9' && digits < 19; p++, digits++)
            v = v * 10u + (uint64_t)(head[p] - '0');
        while (p < len && (head[p] == ' ' || head[p] == '\t'))
            p++;
        if (!digits || p >= len || head[p] != '\r')
            return -1;
        *out = v;
        return 0;
    }
    return -1;
}

/* Status line and headers of the response in flight.  length is the body
 * size for SC_MODE_END and the total for SC_MODE_TRY. */
static int sc_render_head(sc_conn *c, const char *head, size_t head_len, uint32_t flags, int mode,
                          uint64_t length)
{
    sc_loop *loop = c->loop;
    if (head_len == 0) {
        head = "200 OK\r\n";
        head_len = 8;
    }
    if (head_len < 5 || head[0] < '1' || head[0] > '5' || head[1] < '0' || head[1] > '9' ||
        head[2] < '0' || head[2] > '9' || (head[3] != ' ' && head[3] != '\r') ||
        head[head_len - 2] != '\r' || head[head_len - 1] != '\n')
        return SC_EINVAL;
    int status = (head[0] - '0') * 100 + (head[1] - '0') * 10 + (head[2] - '0');
    loop->stats.requests++;
    loop->stats.responses_by_class[status / 100]++; /* head[0] is 1..5 */
    char *w = sc_out_reserve(c, 9 + head_len + 160);
    if (!w)
        return SC_ENOMEM;
    char *start = w;
    sc_date_refresh(loop);
    uint32_t rf = c->http.res.flags;
    int close =
        (flags & SC_W_CLOSE) || !(rf & SC_RF_KEEP_ALIVE) || loop->draining || (rf & SC_RF_CLOSE);
    SC_PUT("HTTP/1.1 ");
    memcpy(w, head, head_len);
    w += head_len;
    memcpy(w, loop->http.date, loop->http.date_len);
    w += loop->http.date_len;
    if (status == 101) {
        /* Switching Protocols: no framing and no Connection header of ours;
         * the connection is closed after it until an upgrade hook exists. */
        rf |= SC_RF_NO_BODY;
        close = 1;
    } else if (status < 200 || status == 204 || status == 304) {
        rf |= SC_RF_NO_BODY;
    } else if ((flags & SC_W_NO_BODY) && !(flags & SC_W_HAS_LENGTH)) {
        /* No body, but the client must still see where this response ends. */
        if (!(rf & SC_RF_HEAD_REQ))
            SC_PUT("Content-Length: 0\r\n");
        rf |= SC_RF_NO_BODY | SC_RF_LENGTH;
    } else if ((flags & SC_W_NO_BODY)) {
        rf |= SC_RF_NO_BODY | SC_RF_LENGTH;
    } else if (flags & SC_W_HAS_LENGTH) {
        if (sc_head_content_length(head, head_len, &c->http.res.total_size) < 0)
            return SC_EINVAL;
        rf |= SC_RF_LENGTH | SC_RF_DECLARED;
    } else if (mode != SC_MODE_STREAM) {
        SC_PUT("Content-Length: ");
        w = sc_put_u64(w, length);
        SC_PUT("\r\n");
        rf |= SC_RF_LENGTH;
    } else if (rf & SC_RF_HTTP10) {
        rf |= SC_RF_UNTIL_CLOSE; /* no chunked in HTTP/1.0: the close ends the body */
        close = 1;
    } else {
        SC_PUT("Transfer-Encoding: chunked\r\n");
        rf |= SC_RF_CHUNKED;
    }
    if (close && status != 101)
        SC_PUT("Connection: close\r\n");
    else if (!close && (rf & SC_RF_HTTP10))
        SC_PUT("Connection: keep-alive\r\n");
    SC_PUT("\r\n");
    if (close)
        rf |= SC_RF_CLOSE;
    c->http.res.flags = rf | SC_RF_HEAD_SENT;
    sc_out_commit(c, (size_t)(w - start));
    return SC_OK;
}

/* The handler's own Content-Length (SC_RF_DECLARED) rules the body: len
 * body bytes are cut to what it leaves, and a cut closes the connection after
 * this response, so a keep-alive client never reads the bytes past it as the
 * next response (nor waits for bytes that never come: see sc_res_write). */
static uint64_t sc_res_clip_declared(sc_conn *c, uint64_t len)
{
    uint64_t done = c->http.res.write_offset;
    uint64_t room = c->http.res.total_size > done ? c->http.res.total_size - done : 0;
    if (len > room) {
        len = room;
        c->http.res.flags |= SC_RF_CLOSE;
    }
    return len;
}

/* Out of memory part way through a response's bytes (a chunk's size line
 * queued without its data, a head without its body): the response cannot be
 * framed any more, so the connection closes (the response is aborted) rather
 * than send the client bytes it would misread. */
static int sc_res_out_of_memory(sc_conn *c)
{
    sc_conn_close(c);
    return SC_ENOMEM;
}

/* What sc_res_write and sc_res_try_end check first: the loop's thread, the
 * response in flight (*out), the pointers, and a head on the first write only.
 * PERF: always inlined, it is on every response. */
static SC_ALWAYS_INLINE int sc_res_for_write(sc_loop *loop, sc_handle res, const char *head,
                                             size_t head_len, const char *body, size_t body_len,
                                             sc_conn **out)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    if ((head_len && !head) || (body_len && !body))
        return SC_EINVAL;
    if ((c->http.res.flags & SC_RF_HEAD_SENT) && head_len)
        return SC_ESTATE;
    *out = c;
    return SC_OK;
}

/* After a write: flush now unless corked; report backpressure. */
static int sc_after_write(sc_conn *c, int ended)
{
    sc_loop *loop = c->loop;
    /* Alone (a write from a task: only this call's batch is open) the bytes leave now;
     * inside a poll, a memory feed or sc_loop_batch (res.cork from a task) they leave
     * with that batch, one write per connection. */
    if (loop->batch <= 1 && !(c->flags & SC_CF_USER_CORK))
        sc_conn_flush(c);
    if (c->flags & SC_CF_CLOSED)
        return ended ? SC_OK : SC_EIO;
    if (sc_conn_pending(c) > loop->settings.max_backpressure) {
        if (!ended)
            sc_conn_want_writable(c, 1);
        sc_conn_update_events(c);
        return SC_EAGAIN;
    }
    return SC_OK;
}

int sc_res_end(sc_loop *loop, sc_handle res, const char *body, size_t body_len)
{
    return sc_res_write(loop, res, NULL, 0, body, body_len, SC_W_END);
}

int sc_res_write(sc_loop *loop, sc_handle res, const char *head, size_t head_len, const char *body,
                 size_t body_len, uint32_t flags)
{
    sc_conn *c;
    int rc = sc_res_for_write(loop, res, head, head_len, body, body_len, &c);
    if (rc < 0)
        return rc;
    int end = (flags & SC_W_END) != 0;
    sc_batch_begin(loop);
    if (!(c->http.res.flags & SC_RF_HEAD_SENT)) {
        rc = sc_render_head(c, head, head_len, flags, end ? SC_MODE_END : SC_MODE_STREAM, body_len);
        if (rc < 0)
            goto out;
    } else if (flags & SC_W_CLOSE) {
        c->http.res.flags |= SC_RF_CLOSE;
    }
    if (c->http.res.flags & SC_RF_DECLARED) {
        body_len = (size_t)sc_res_clip_declared(c, body_len);
        if (end && c->http.res.write_offset + body_len < c->http.res.total_size)
            c->http.res.flags |= SC_RF_CLOSE; /* short of it: the client must not wait */
    }
    int send_body = !(c->http.res.flags & (SC_RF_NO_BODY | SC_RF_HEAD_REQ));
    int direct = 0;
    if (send_body && (c->http.res.flags & SC_RF_CHUNKED)) {
        if (body_len) {
            char size[24];
            int n = snprintf(size, sizeof size, "%zx\r\n", body_len);
            if (sc_out_append(c, size, (size_t)n) < 0 || sc_out_append(c, body, body_len) < 0 ||
                sc_out_append(c, "\r\n", 2) < 0)
                rc = SC_ENOMEM;
        }
        if (end && sc_out_append(c, "0\r\n\r\n", 5) < 0)
            rc = SC_ENOMEM;
    } else if (send_body && body_len) {
        /* PERF: a big body leaves at once with what is held (one writev) instead of
         * being copied into the cork buffer, inside a poll too: the copy costs more
         * than the extra write it may cause for a later pipelined response. */
        direct = body_len >= SC_DIRECT_MIN && !(c->flags & SC_CF_USER_CORK);
        if (!direct && sc_out_append(c, body, body_len) < 0)
            rc = SC_ENOMEM;
    }
    if (rc < 0) {
        rc = sc_res_out_of_memory(c);
        goto out;
    }
    c->http.res.write_offset += body_len;
    if (end) {
        sc_conn_end_cork(c); /* the cork belongs to the response: release it */
        sc_http_response_ended(c);
    }
    if (direct && sc_conn_write_now(c, body, body_len, 1) < 0) {
        rc = end ? SC_OK : SC_EIO;
        goto out;
    }
    rc = sc_after_write(c, end);
out:
    sc_batch_end(loop);
    return rc;
}

static int sc_trailer_fields_ok(const char *fields, size_t len)
{
    if (!len)
        return 1;
    if (!fields || len < 4 || fields[len - 2] != '\r' || fields[len - 1] != '\n')
        return 0;
    if (fields[0] == '\r' || fields[0] == '\n' || fields[0] == ' ' || fields[0] == '\t')
        return 0;
    for (size_t i = 0; i < len; i++) {
        /* CR and LF only as a line's end; no empty line (it would end the section) */
        if (fields[i] == '\r' && (i + 1 == len || fields[i + 1] != '\n'))
            return 0;
        if (fields[i] == '\n' &&
            (fields[i - 1] != '\r' ||
             (i + 1 < len && (fields[i + 1] == '\r' || fields[i + 1] == '\n'))))
            return 0;
    }
    return 1;
}

int sc_res_end_trailers(sc_loop *loop, sc_handle res, const char *fields, size_t fields_len)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    if (!sc_trailer_fields_ok(fields, fields_len))
        return SC_EINVAL;
    uint32_t rf = c->http.res.flags;
    if (!(rf & SC_RF_HEAD_SENT))
        return SC_ESTATE;
    if (!(rf & SC_RF_CHUNKED) || (rf & (SC_RF_NO_BODY | SC_RF_HEAD_REQ)))
        return sc_res_write(loop, res, NULL, 0, NULL, 0, SC_W_END);
    sc_batch_begin(loop);
    int rc = SC_OK;
    if (sc_out_append(c, "0\r\n", 3) < 0 || sc_out_append(c, fields, fields_len) < 0 ||
        sc_out_append(c, "\r\n", 2) < 0) {
        rc = sc_res_out_of_memory(c);
    } else {
        sc_conn_end_cork(c);
        sc_http_response_ended(c);
        rc = sc_after_write(c, 1);
    }
    sc_batch_end(loop);
    return rc;
}

int sc_res_try_end(sc_loop *loop, sc_handle res, const char *head, size_t head_len,
                   const char *body, size_t body_len, uint64_t total_size, uint32_t flags)
{
    sc_conn *c;
    int rc = sc_res_for_write(loop, res, head, head_len, body, body_len, &c);
    if (rc < 0)
        return rc;
    if (c->http.res.flags & SC_RF_HEAD_SENT) {
        if (c->http.res.flags & SC_RF_CHUNKED)
            return SC_ESTATE; /* a streamed response has no total */
        total_size = c->http.res.total_size;
    } else if ((flags & SC_W_HAS_LENGTH) &&
               sc_head_content_length(head, head_len, &total_size) < 0) {
        return SC_EINVAL; /* the head's own Content-Length is the total */
    }
    uint64_t sent = c->http.res.write_offset; /* overridable: the sum could wrap */
    if (sent > total_size || body_len > total_size - sent)
        return SC_EINVAL;
    sc_batch_begin(loop);
    if (!(c->http.res.flags & SC_RF_HEAD_SENT)) {
        rc = sc_render_head(c, head, head_len, flags & ~(uint32_t)SC_W_NO_BODY, SC_MODE_TRY,
                            total_size);
        if (rc < 0)
            goto out;
        c->http.res.total_size = total_size;
    } else if (flags & SC_W_CLOSE) {
        c->http.res.flags |= SC_RF_CLOSE;
    }
    size_t taken = body_len;
    if (body_len && !(c->http.res.flags & (SC_RF_NO_BODY | SC_RF_HEAD_REQ))) {
        ssize_t w = sc_conn_write_now(c, body, body_len, 0);
        if (w < 0) {
            rc = SC_EIO;
            goto out;
        }
        taken = (size_t)w;
    }
    c->http.res.write_offset += taken;
    int ok = taken == body_len;
    int done = c->http.res.write_offset >= c->http.res.total_size;
    if (done) {
        sc_http_response_ended(c);
    } else if (!ok) {
        sc_conn_want_writable(c, 1); /* sc_conn_write_now set SC_CF_BLOCKED */
        sc_conn_update_events(c);
    }
    if (!loop->in_poll && !(c->flags & SC_CF_USER_CORK))
        sc_conn_flush(c);
    rc = (ok ? 1 : 0) | (done ? 2 : 0);
out:
    sc_batch_end(loop);
    return rc;
}

int sc_res_sendfile(sc_loop *loop, sc_handle res, const char *head, size_t head_len, int fd,
                    uint64_t offset, uint64_t count, uint32_t flags)
{
    if (fd < 0)
        return SC_EINVAL;
    /* fd is ours from here on: every path below closes it or queues it */
    if (loop && !pthread_equal(loop->thread, pthread_self())) {
        close(fd);
        return SC_ETHREAD;
    }
    sc_conn *c = sc_res_by_handle(loop, res);
    int rc = SC_OK;
    if (!c)
        rc = SC_ESTALE;
    else if ((head_len && !head) || (flags & SC_W_NO_BODY) || offset > (uint64_t)INT64_MAX ||
             count > (uint64_t)INT64_MAX - offset)
        rc = SC_EINVAL;
    else if (((c->http.res.flags & SC_RF_HEAD_SENT) && head_len) || (c->flags & SC_CF_FILE))
        rc = SC_ESTATE; /* a head twice, or a file of this response still queued */
    if (rc < 0) {
        close(fd);
        return rc;
    }
    sc_batch_begin(loop);
    if (!(c->http.res.flags & SC_RF_HEAD_SENT)) {
        rc = sc_render_head(c, head, head_len, flags & ~(uint32_t)SC_W_END,
                            (flags & SC_W_END) ? SC_MODE_END : SC_MODE_STREAM, count);
        if (rc < 0) {
            close(fd);
            goto out;
        }
    } else if (flags & SC_W_CLOSE) {
        c->http.res.flags |= SC_RF_CLOSE;
    }
    if (c->http.res.flags & SC_RF_DECLARED)
        count = sc_res_clip_declared(c, count);
    int queued = 0;
    if (count && !(c->http.res.flags & (SC_RF_NO_BODY | SC_RF_HEAD_REQ))) {
        char size[24];
        int n = 0;
        if (c->http.res.flags & SC_RF_CHUNKED)
            n = snprintf(size, sizeof size, "%llx\r\n", (unsigned long long)count);
        if (n && sc_out_append(c, size, (size_t)n) < 0) {
            close(fd);
            rc = SC_ENOMEM;
            goto out;
        }
        rc = sc_conn_queue_file(c, fd, offset, count);
        if (rc < 0)
            goto out;
        if (n && sc_out_append(c, "\r\n", 2) < 0) {
            rc = sc_res_out_of_memory(c); /* the chunk is queued without its end */
            goto out;
        }
        queued = 1;
    } else {
        close(fd); /* HEAD, no body or nothing to send: counted, not read */
    }
    c->http.res.write_offset += count;
    if (queued)
        sc_conn_want_writable(c, 1); /* on_writable once the file is out */
    if (loop->batch <= 1 && !(c->flags & SC_CF_USER_CORK))
        sc_conn_flush(c);
    rc = (c->flags & SC_CF_CLOSED) ? SC_EIO : queued ? SC_OK : 1;
out:
    sc_batch_end(loop);
    return rc;
}

uint64_t sc_res_write_offset(sc_loop *loop, sc_handle res)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? c->http.res.write_offset : 0;
}

int sc_res_override_write_offset(sc_loop *loop, sc_handle res, uint64_t offset)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    c->http.res.write_offset = offset;
    return SC_OK;
}

int sc_res_write_continue(sc_loop *loop, sc_handle res)
{
    SC_ON_LOOP_THREAD(loop);
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    if (c->http.res.flags & SC_RF_HEAD_SENT)
        return SC_ESTATE;
    sc_batch_begin(loop);
    int rc = sc_out_append(c, cont, sizeof cont - 1);
    if (rc == SC_OK)
        rc = sc_after_write(c, 0);
    sc_batch_end(loop);
    return rc;
}

int sc_res_want_writable(sc_loop *loop, sc_handle res, int on)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    sc_conn_want_writable(c, on);
    sc_conn_update_events(c);
    return SC_OK;
}

int sc_res_cork(sc_loop *loop, sc_handle res, int on)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? sc_conn_cork(c, on) : SC_ESTALE;
}

static int sc_res_set_paused(sc_loop *loop, sc_handle res, int on)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    sc_conn_pause(c, on); /* resumed: buffered input is delivered by the next poll */
    return SC_OK;
}

int sc_res_pause(sc_loop *loop, sc_handle res)
{
    return sc_res_set_paused(loop, res, 1);
}

int sc_res_resume(sc_loop *loop, sc_handle res)
{
    return sc_res_set_paused(loop, res, 0);
}

int sc_res_close(sc_loop *loop, sc_handle res)
{
    SC_ON_LOOP_THREAD(loop);
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return SC_ESTALE;
    sc_batch_begin(loop);
    sc_conn_close(c);
    sc_batch_end(loop);
    return SC_OK;
}

int sc_res_alive(sc_loop *loop, sc_handle res)
{
    return sc_res_by_handle(loop, res) ? 1 : 0;
}

int sc_res_remote_address(sc_loop *loop, sc_handle res, char *buf, size_t cap)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? sc_addr_text(&c->io.remote, buf, cap) : SC_ESTALE;
}

int sc_res_remote_port(sc_loop *loop, sc_handle res)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? (int)c->io.remote.port : SC_ESTALE;
}

uint64_t sc_res_conn_id(sc_loop *loop, sc_handle res)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    if (!c)
        return 0;
    return (c->conn_gen << 1) | (sc_io_info(c, SC_TLS_INFO_VERSION, NULL, 0) > 0 ? 1u : 0u);
}

int sc_res_remote_bytes(sc_loop *loop, sc_handle res, char *buf, size_t cap)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? sc_addr_bytes(&c->io.remote, buf, cap) : SC_ESTALE;
}

int sc_res_proxied_address(sc_loop *loop, sc_handle res, char *buf, size_t cap)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? sc_addr_text(&c->http.proxied, buf, cap) : SC_ESTALE;
}

int sc_res_proxied_bytes(sc_loop *loop, sc_handle res, char *buf, size_t cap)
{
    sc_conn *c = sc_res_by_handle(loop, res);
    return c ? sc_addr_bytes(&c->http.proxied, buf, cap) : SC_ESTALE;
}
