/* topics.h - pub/sub: topics and subscribers.
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
 * sc_loop_publish (ws_api.c) encodes (and compresses) a message once; a large
 * frame is then queued by reference on every subscriber whose output is empty
 * (sc_shared_msg, shared.h; io.c sends it before anything queued after it) and
 * copied only into the buffers of subscribers that already have output waiting.
 */
#ifndef SC_PUBSUB_H
#define SC_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "shared.h"
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

#endif
