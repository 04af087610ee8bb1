/* topics.h - pub/sub: topics, subscribers and shared published messages.
 *
 * Internal to the core (not seen by cffi).  One sc_pubsub per loop.
 *
 * Subscribers are opaque uint64 ids (a WebSocket's sc_handle), so the table
 * never holds a pointer to a connection; 0 is not a valid id.  Topics are
 * byte strings (any bytes, any length).  Every subscription is one member
 * record linked from both sides: the topic's array (order not kept: removal
 * swaps the last one in, O(1)) and the subscriber's array (subscription
 * order kept, which is what get_topics() shows).  Hence:
 *   subscribe / unsubscribe / is_subscribed  O(1) expected plus a scan of
 *                                            the shorter of the two arrays
 *   sc_pubsub_unsubscribe_all                O(the subscriber's topics)
 * A topic disappears with its last subscriber, a subscriber record with its
 * last topic.  sc_pubsub_free frees everything.
 *
 * The hook reports every change as (subscriber, topic, new_count,
 * old_count), the counts being the topic's subscribers after and before.
 * While the hook or a sc_pubsub_for_each visitor runs, the table is busy:
 * calls that would change it return SC_ESTATE.  (Publishing code that may
 * close connections while it sends should use sc_pubsub_collect, which
 * copies the ids out, and then send.)
 *
 * sc_shared_msg: a refcounted byte buffer, meant for queueing one published
 * frame on every subscriber by reference.  Not used yet: today sc_loop_publish
 * (ws_api.c) encodes (and compresses) a message once and copies that frame into
 * each subscriber's output buffer; sharing it needs a queue of buffers in the
 * I/O layer.  Single-threaded: the loop owns it.
 */
#ifndef SC_PUBSUB_H
#define SC_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "socketify.h"

typedef struct sc_pubsub sc_pubsub;

typedef void (*sc_pubsub_hook)(void *ctx, uint64_t sub, const char *topic, size_t topic_len,
                               uint32_t new_count, uint32_t old_count);
/* Return non-zero to stop the iteration. */
typedef int (*sc_pubsub_visit)(void *ctx, uint64_t sub);

/* hook may be NULL.  NULL when out of memory. */
sc_pubsub *sc_pubsub_new(sc_pubsub_hook hook, void *ctx);
void sc_pubsub_free(sc_pubsub *ps); /* no hook calls */

/* 1 subscribed now, 0 was already; SC_EINVAL (sub 0), SC_ENOMEM, SC_ESTATE. */
int sc_pubsub_subscribe(sc_pubsub *ps, uint64_t sub, const char *topic, size_t len);
/* 1 unsubscribed, 0 was not subscribed; SC_ESTATE. */
int sc_pubsub_unsubscribe(sc_pubsub *ps, uint64_t sub, const char *topic, size_t len);
int sc_pubsub_is_subscribed(const sc_pubsub *ps, uint64_t sub, const char *topic, size_t len);
/* A connection closed: drop all its subscriptions, reporting each one to
 * the hook when notify is set.  Returns how many there were, or SC_ESTATE. */
int sc_pubsub_unsubscribe_all(sc_pubsub *ps, uint64_t sub, int notify);

uint32_t sc_pubsub_num_subscribers(const sc_pubsub *ps, const char *topic, size_t len);
uint32_t sc_pubsub_num_topics(const sc_pubsub *ps); /* topics with subscribers */

/* A subscriber's topics, in subscription order: count, then index access.
 * The name stays valid until that subscription ends. */
uint32_t sc_pubsub_topic_count(const sc_pubsub *ps, uint64_t sub);
int sc_pubsub_topic_at(const sc_pubsub *ps, uint64_t sub, uint32_t index, const char **name,
                       size_t *len); /* SC_OK or SC_EINVAL */

/* Publishing: every subscriber of topic except `except` (0: nobody). */
/* Calls visit for each; returns how many were visited. */
uint32_t sc_pubsub_for_each(sc_pubsub *ps, const char *topic, size_t len, uint64_t except,
                            sc_pubsub_visit visit, void *ctx);
/* Copies up to cap ids into out; returns how many there are in all (call
 * again with a larger out when that is more than cap). */
uint32_t sc_pubsub_collect(const sc_pubsub *ps, const char *topic, size_t len, uint64_t except,
                           uint64_t *out, uint32_t cap);

/* ---- shared messages ------------------------------------------------------ */

typedef struct sc_shared_msg {
    uint32_t refs;
    uint32_t tag; /* free for the caller (opcode, flags) */
    size_t len;
    uint8_t data[];
} sc_shared_msg;

/* refs = 1; copies data when it is not NULL (else data is uninitialised).
 * NULL when out of memory. */
sc_shared_msg *sc_shared_msg_new(const void *data, size_t len);
/* One more reference; returns m (NULL when the count would overflow). */
sc_shared_msg *sc_shared_msg_acquire(sc_shared_msg *m);
/* Drop a reference; frees on the last one.  NULL is ignored. */
void sc_shared_msg_release(sc_shared_msg *m);

#endif
