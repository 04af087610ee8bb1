/* loop.c - the reactor: epoll, the slot table, batches, timers, drain.
 *
 * The bottom of the core: owns sc_loop and, with io.c, the core part of each
 * sc_conn (slot, generation, c->flags, the dirty/pending/dead lists).  It
 * creates a connection over a bottom I/O layer (sc_conn_new) and reaches the
 * protocol only through c->proto (on_open, on_tick, on_going_away,
 * release) and the I/O only through io.c; it never names HTTP or
 * WebSocket (tests/c/test_layers.c links it without them).  sc_loop_create
 * takes the protocol of new connections; sc_loop_new (http_conn.c) is the
 * HTTP/1.1 one.
 *
 * Every entry point that can produce output or call Python runs inside a
 * batch (sc_batch_begin/end).  Writes inside a batch only append to the
 * connection's output buffer and put it on the dirty list; the outermost
 * batch_end flushes each dirty connection with one write.  sc_loop_poll and
 * sc_mem_feed are the batches that may also run Python callbacks for
 * buffered input (the pending list); other calls only wake the epoll fd
 * (an eventfd) so the next poll does it, which keeps Python from being
 * re-entered from inside a response call.
 *
 * The timerfd ticks only while connections exist, so an idle server never
 * wakes.  Its period is a quarter of the smallest timeout, clamped to
 * 10 ms .. 1 s.
 */
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void sc_settings_default(sc_settings *s)
{
    s->max_header_size = 16384;
    s->max_headers = 100;
    s->max_url_size = 8192;
    s->max_body_size = 16u * 1024u * 1024u;
    s->idle_timeout_ms = 10000;
    s->header_timeout_ms = 10000;
    s->max_backpressure = 16u * 1024u * 1024u;
    s->proxy_protocol = 0;
    s->max_pipelined_output = 64u * 1024u;
    s->lingering_timeout_ms = 5000;
    s->max_lingering_bytes = 64u * 1024u * 1024u;
}

uint64_t sc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int sc_ep_add(sc_loop *loop, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
}

sc_loop *sc_loop_create(const sc_settings *settings, uint32_t owner_id, const sc_proto_ops *proto)
{
    sc_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    if (settings)
        loop->settings = *settings;
    else
        sc_settings_default(&loop->settings);
    loop->owner = owner_id;
    loop->thread = pthread_self();
    loop->proto = proto;
    /* a request head never needs more, and the protocols consume the rest
     * as it arrives (bodies, WebSocket frames) */
    loop->max_held_input = (size_t)loop->settings.max_header_size + 4096u;
    loop->next_gen = 1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->scratch = malloc(SC_SCRATCH_SIZE);
    loop->scratch_size = SC_SCRATCH_SIZE;
    if (loop->epfd < 0 || loop->timerfd < 0 || loop->wakefd < 0 || !loop->scratch ||
        sc_ep_add(loop, loop->timerfd, EPOLLIN, SC_TAG_TIMER) < 0 ||
        sc_ep_add(loop, loop->wakefd, EPOLLIN, SC_TAG_WAKE) < 0) {
        sc_loop_free(loop);
        return NULL;
    }
    uint32_t smallest = 0;
    uint32_t t[2] = {loop->settings.idle_timeout_ms, loop->settings.header_timeout_ms};
    for (int i = 0; i < 2; i++)
        if (t[i] && (!smallest || t[i] < smallest))
            smallest = t[i];
    loop->tick_ms = smallest / 4;
    if (loop->tick_ms < 10)
        loop->tick_ms = 10;
    if (loop->tick_ms > 1000)
        loop->tick_ms = 1000;
    return loop;
}

int sc_malloc_trim_threshold(uint64_t bytes)
{
#if defined(__GLIBC__)
    if (bytes == 0 || bytes > INT_MAX)
        return SC_EINVAL;
    return mallopt(M_TRIM_THRESHOLD, (int)bytes) == 1 ? SC_OK : SC_EINVAL;
#else
    (void)bytes;
    return SC_EINVAL;
#endif
}

int sc_loop_set_read_buffer(sc_loop *loop, char *buf, size_t size)
{
    if (!loop || !buf || size < 16384 || loop->num_conns)
        return SC_EINVAL;
    SC_ON_LOOP_THREAD(loop);
    if (!loop->scratch_lent)
        free(loop->scratch);
    loop->scratch = buf;
    loop->scratch_size = size;
    loop->scratch_lent = 1;
    return SC_OK;
}

void sc_loop_free(sc_loop *loop)
{
    if (!loop)
        return;
    for (uint32_t i = 0; i < loop->num_slots; i++) {
        sc_conn *c = loop->slots[i];
        if (!c)
            continue;
        c->proto->release(c);
        sc_io_release(c); /* closes a socket's descriptor */
        free(c);
    }
    if (loop->wsl_free)
        loop->wsl_free(loop);
    sc_loop_close_listeners(loop);
    free(loop->listeners);
    free(loop->slots);
    free(loop->free_slots);
    if (!loop->scratch_lent)
        free(loop->scratch);
    free(loop->file_buf);
    free(loop->http.headers); /* the HTTP part's allocations (sc_loop_new, the body pool) */
    for (uint32_t i = 0; i < loop->http.body_pool_len; i++)
        sc_buf_free(&loop->http.body_pool[i]);
    if (loop->epfd >= 0)
        close(loop->epfd);
    if (loop->timerfd >= 0)
        close(loop->timerfd);
    if (loop->wakefd >= 0)
        close(loop->wakefd);
    free(loop);
}

int sc_loop_fd(sc_loop *loop)
{
    return loop->epfd;
}

uint32_t sc_loop_num_connections(sc_loop *loop)
{
    return loop->num_conns;
}

const sc_stats *sc_loop_stats(sc_loop *loop)
{
    return &loop->stats;
}

sc_event *sc_loop_event_view(sc_loop *loop)
{
    return &loop->event;
}

uint64_t sc_next_gen(sc_loop *loop)
{
    return loop->next_gen++;
}

/* ---- the slot table ------------------------------------------------------- */

/* A connection over a new bottom I/O layer (bottom_size bytes, an sc_io
 * first), which lives in the same allocation; fd is the descriptor to watch
 * (-1 for none).  Its protocol is the loop's, set up by proto->on_open. */
sc_conn *sc_conn_new(sc_loop *loop, const sc_io_ops *bottom, size_t bottom_size, int fd)
{
    uint32_t slot;
    if (loop->num_free) {
        slot = loop->free_slots[--loop->num_free];
    } else {
        if (loop->num_slots == SC_MAX_SLOTS)
            return NULL;
        if (loop->num_slots == loop->cap_slots) {
            uint32_t cap = loop->cap_slots ? loop->cap_slots * 2 : 64;
            sc_conn **s = realloc(loop->slots, cap * sizeof *s);
            if (!s)
                return NULL;
            loop->slots = s;
            uint32_t *f = realloc(loop->free_slots, cap * sizeof *f);
            if (!f)
                return NULL;
            loop->free_slots = f;
            loop->cap_slots = cap;
        }
        slot = loop->num_slots++;
        loop->slots[slot] = NULL;
    }
    /* the bottom layer's state follows the struct, aligned for any member */
    size_t head = (sizeof(sc_conn) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1);
    sc_conn *c = calloc(1, head + bottom_size);
    if (!c) {
        loop->free_slots[loop->num_free++] = slot;
        return NULL;
    }
    c->loop = loop;
    c->slot = slot;
    c->io.bottom = (sc_io *)((char *)c + head);
    c->io.bottom->ops = bottom;
    c->io.bottom->conn = c;
    c->io.top = c->io.bottom;
    c->io.fd = fd;
    if (fd >= 0)
        c->flags |= SC_CF_HAS_FD;
    c->conn_gen = sc_next_gen(loop);
    c->proto = loop->proto;
    c->proto->on_open(c);
    /* The idle clock's time: inside a batch the batch's (what the tick of this
     * poll compares with; the wall clock may be ahead of it by now and
     * now - last would wrap), outside one the wall clock (now_ms may be old). */
    c->io.last_active_ms = loop->batch ? loop->now_ms : sc_now_ms();
    loop->slots[slot] = c;
    loop->num_conns++;
    loop->stats.connections_total++;
    sc_timer_update(loop);
    return c;
}

int sc_conn_watch(sc_conn *c)
{
    if (sc_ep_add(c->loop, c->io.fd, EPOLLIN, sc_make_handle(c->conn_gen, c->slot)) < 0)
        return -1;
    c->io.ep_mask = EPOLLIN;
    return 0;
}

void sc_conn_abandon(sc_conn *c)
{
    c->flags |= SC_CF_CLOSED;
    c->loop->num_conns--;
    c->conn_gen = 0;
    sc_conn_free(c);
}

void sc_conn_free(sc_conn *c)
{
    sc_loop *loop = c->loop;
    loop->slots[c->slot] = NULL;
    loop->free_slots[loop->num_free++] = c->slot;
    c->proto->release(c);
    sc_io_release(c);
    int had_fd = (c->flags & SC_CF_HAS_FD) != 0;
    free(c);
    if (had_fd && loop->accept_paused)
        sc_listeners_arm(loop, 1); /* a descriptor was given back */
}

sc_conn *sc_conn_by_handle(sc_loop *loop, sc_handle h)
{
    uint64_t gen;
    sc_conn *c = sc_handle_slot(loop, h, &gen);
    return (c && c->conn_gen == gen) ? c : NULL;
}

/* ---- batches -------------------------------------------------------------- */

void sc_mark_dirty(sc_conn *c)
{
    if (c->flags & (SC_CF_DIRTY | SC_CF_CLOSED))
        return;
    c->flags |= SC_CF_DIRTY;
    c->next_dirty = c->loop->dirty;
    c->loop->dirty = c;
}

void sc_mark_pending(sc_conn *c)
{
    sc_loop *loop = c->loop;
    if (c->flags & (SC_CF_PENDING | SC_CF_CLOSED))
        return;
    c->flags |= SC_CF_PENDING;
    c->next_pending = loop->pending;
    loop->pending = c;
    if (!loop->in_poll && !loop->woken) {
        uint64_t one = 1;
        if (write(loop->wakefd, &one, sizeof one) == (ssize_t)sizeof one)
            loop->woken = 1;
    }
}

void sc_batch_begin(sc_loop *loop)
{
    if (loop->batch++ == 0)
        loop->now_ms = sc_now_ms();
}

void sc_batch_end(sc_loop *loop)
{
    if (loop->batch > 1) {
        loop->batch--;
        return;
    }
    /* Still at depth 1: callbacks run from here nest as inner batches, and
     * whatever they write or close is picked up by the next round. */
    for (int round = 0; round < 64 && (loop->pending || loop->dirty); round++) {
        if (loop->in_poll || loop->in_feed) {
            sc_conn *p = loop->pending;
            loop->pending = NULL;
            while (p) {
                sc_conn *next = p->next_pending;
                p->flags &= ~SC_CF_PENDING;
                sc_conn_resume_input(p);
                p = next;
            }
        }
        sc_conn *d = loop->dirty;
        loop->dirty = NULL;
        while (d) {
            sc_conn *next = d->next_dirty;
            d->flags &= ~SC_CF_DIRTY;
            if (!(d->flags & SC_CF_USER_CORK) || loop->in_poll)
                sc_conn_flush(d);
            d = next;
        }
        if (!(loop->in_poll || loop->in_feed))
            break;
    }
    sc_conn *dead = loop->dead;
    loop->dead = NULL;
    while (dead) {
        sc_conn *next = dead->next_dead;
        sc_conn_free(dead);
        dead = next;
    }
    loop->batch = 0;
    sc_timer_update(loop);
}

/* ---- timers --------------------------------------------------------------- */

void sc_timer_update(sc_loop *loop)
{
    int want = (loop->num_conns > 0 && (loop->settings.idle_timeout_ms ||
                                        loop->settings.header_timeout_ms || loop->always_tick)) ||
               loop->accept_paused;
    if (want == loop->timer_armed)
        return;
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (want) {
        its.it_interval.tv_sec = loop->tick_ms / 1000;
        its.it_interval.tv_nsec = (long)(loop->tick_ms % 1000) * 1000000L;
        its.it_value = its.it_interval;
    }
    if (timerfd_settime(loop->timerfd, 0, &its, NULL) == 0)
        loop->timer_armed = want;
}

void sc_timer_tick_at_most(sc_loop *loop, uint32_t ms)
{
    if (ms < 10)
        ms = 10;
    if (ms >= loop->tick_ms)
        return;
    loop->tick_ms = ms;
    if (loop->timer_armed) {
        loop->timer_armed = 0; /* re-arm with the new period */
        struct itimerspec off;
        memset(&off, 0, sizeof off);
        timerfd_settime(loop->timerfd, 0, &off, NULL);
    }
    sc_timer_update(loop);
}

/* ---- the process-wide buffer budget (max_buffered_bytes) ------------------ */

typedef struct sc_holder {
    size_t held;
    sc_conn *c;
} sc_holder;

/* What a connection makes the process hold: a large buffer's allocation, a
 * small kept one's contents (every idle connection keeps one of those). */
static size_t sc_buf_held(const sc_buf *b)
{
    return b->cap > SC_BUF_KEEP ? b->cap : sc_buf_size(b);
}

static size_t sc_conn_held(const sc_conn *c)
{
    return sc_buf_held(&c->io.in) + sc_buf_held(&c->io.out);
}

static int sc_holder_cmp(const void *a, const void *b)
{
    size_t x = ((const sc_holder *)a)->held, y = ((const sc_holder *)b)->held;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Over the cap: close the connections holding the most until under it. */
static void sc_budget_enforce(sc_loop *loop)
{
    uint64_t cap = loop->settings.max_buffered_bytes;
    uint64_t total = 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < loop->num_slots; i++) {
        sc_conn *c = loop->slots[i];
        if (c && !(c->flags & SC_CF_CLOSED) && sc_conn_held(c)) {
            total += sc_conn_held(c);
            n++;
        }
    }
    if (total <= cap)
        return;
    sc_holder *h = malloc((size_t)n * sizeof *h);
    if (!h)
        return; /* the next tick tries again */
    uint32_t k = 0;
    for (uint32_t i = 0; i < loop->num_slots && k < n; i++) {
        sc_conn *c = loop->slots[i];
        if (c && !(c->flags & SC_CF_CLOSED) && sc_conn_held(c))
            h[k++] = (sc_holder){sc_conn_held(c), c};
    }
    qsort(h, k, sizeof *h, sc_holder_cmp);
    for (uint32_t i = 0; i < k && total > cap; i++) {
        total -= h[i].held;
        sc_conn_close(h[i].c); /* a response in flight is aborted; a WebSocket hears 1006 */
        loop->budget_closed++;
    }
    free(h);
}

uint64_t sc_loop_budget_closed(sc_loop *loop)
{
    return loop ? loop->budget_closed : 0;
}

static void sc_on_tick(sc_loop *loop)
{
    uint64_t expirations;
    if (read(loop->timerfd, &expirations, sizeof expirations) < 0)
        return;
    uint64_t now = loop->now_ms;
    if (loop->accept_paused)
        sc_listeners_arm(loop, 1);
    for (uint32_t i = 0; i < loop->num_slots; i++) {
        sc_conn *c = loop->slots[i];
        if (!c || (c->flags & SC_CF_CLOSED))
            continue;
        if (c->io.top != c->io.bottom) {
            sc_io_tick(c, now); /* a layer's own deadlines (TLS handshake) */
            if (c->flags & SC_CF_CLOSED)
                continue;
        }
        if (c->flags & SC_CF_LINGERING)
            sc_conn_linger_tick(c, now);
        else
            c->proto->on_tick(c, now);
    }
    if (loop->settings.max_buffered_bytes)
        sc_budget_enforce(loop);
}

/* ---- poll ----------------------------------------------------------------- */

void sc_conn_update_events(sc_conn *c)
{
    if (c->io.fd < 0 || (c->flags & SC_CF_CLOSED))
        return;
    uint32_t want = 0;
    size_t in_limit = c->loop->max_held_input;
    if (c->flags & SC_CF_LINGERING)
        want = EPOLLIN; /* only the reads that drop input: CLOSING keeps the rest off */
    if (!(c->flags & (SC_CF_PAUSED | SC_CF_CLOSING)) && sc_buf_size(&c->io.in) < in_limit)
        want |= EPOLLIN;
    /* PERF: EPOLLOUT only once the socket refused bytes.  Output queued during a
     * batch leaves at its end anyway; arming and disarming EPOLLOUT around it
     * cost two epoll_ctl calls per request. */
    if ((c->flags & SC_CF_BLOCKED) && (sc_conn_pending(c) || (c->flags & SC_CF_WANT_WRITABLE)))
        want |= EPOLLOUT;
    /* Asked for on_writable after the socket already took everything (a write past
     * max_backpressure whose batch then flushed whole): the next writable event says so. */
    if ((c->flags & SC_CF_WANT_WRITABLE) && !sc_conn_pending(c))
        want |= EPOLLOUT;
    if (c->io.top != c->io.bottom) {
        uint32_t layers = sc_io_stack_wants(c); /* e.g. TLS mid-handshake */
        if (layers & SC_IO_WANT_READ)
            want |= EPOLLIN;
        if (layers & SC_IO_WANT_WRITE)
            want |= EPOLLOUT;
    }
    if (want == c->io.ep_mask)
        return;
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = want;
    ev.data.u64 = sc_make_handle(c->conn_gen, c->slot);
    if (epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->io.fd, &ev) == 0)
        c->io.ep_mask = want;
}

int sc_loop_poll(sc_loop *loop, int timeout_ms)
{
    if (loop->batch || loop->in_poll)
        return SC_ESTATE;          /* called from inside a callback */
    loop->thread = pthread_self(); /* the loop's thread from now on (SC_ON_LOOP_THREAD) */
    struct epoll_event events[SC_MAX_EVENTS];
    if (loop->pending)
        timeout_ms = 0;
    int n = epoll_wait(loop->epfd, events, SC_MAX_EVENTS, timeout_ms);
    if (n < 0) {
        if (errno != EINTR)
            return SC_EIO;
        n = 0;
    }
    loop->in_poll = 1;
    sc_batch_begin(loop);
    for (int i = 0; i < n; i++) {
        uint64_t tag = events[i].data.u64;
        uint32_t ev = events[i].events;
        if (tag == SC_TAG_TIMER) {
            sc_on_tick(loop);
        } else if (tag == SC_TAG_WAKE) {
            uint64_t v;
            if (read(loop->wakefd, &v, sizeof v) < 0) {
                /* nothing to drain */
            }
            loop->woken = 0;
        } else if (tag < (1u << SC_SLOT_BITS)) {
            if (tag >= SC_TAG_LISTENER)
                sc_listener_accept(loop, (uint32_t)(tag - SC_TAG_LISTENER));
        } else {
            sc_conn *c = sc_conn_by_handle(loop, tag);
            if (!c || (c->flags & SC_CF_CLOSED))
                continue;
            if (ev & EPOLLOUT)
                sc_conn_on_writable_ev(c);
            if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && !(c->flags & SC_CF_CLOSED))
                sc_conn_on_readable(c);
        }
    }
    sc_batch_end(loop);
    loop->in_poll = 0;
    return n;
}

/* ---- graceful stop -------------------------------------------------------- */

void sc_loop_drain(sc_loop *loop)
{
    sc_batch_begin(loop);
    loop->draining = 1;
    for (uint32_t i = 0; i < loop->num_slots; i++) {
        sc_conn *c = loop->slots[i];
        if (!c || (c->flags & SC_CF_CLOSED))
            continue;
        c->proto->on_going_away(c);
    }
    sc_batch_end(loop);
}
