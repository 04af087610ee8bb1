/* fuzz_topics.c - libFuzzer target for the topic table (topics.c).
 *
 * The input is a program: each byte pair is one operation on 8 subscribers and 8
 * topics (subscribe, unsubscribe, drop everything of a subscriber, publish-visit,
 * list a subscriber's topics), run against topics.c and against a plain table of
 * bits.  Without libFuzzer (gcc), -DSC_FUZZ_STANDALONE adds a main() that replays
 * the files named on the command line (fuzz_replay.h).
 *
 * Properties: every return value equals the model's; the subscriber and topic counts
 * match it after each step; the hook reports each change once with the right counts;
 * a publish visits exactly the subscribers but the excepted one; freeing the table
 * with subscriptions left leaks nothing (ASan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "topics.h"

#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define FZ_SUBS 8
#define FZ_TOPICS 8

static const char *const fz_names[FZ_TOPICS] = {
    "a", "b", "room/1", "room/2", "", "a long topic name that hashes elsewhere", "\xff\x00z", "ab",
};
static const size_t fz_lens[FZ_TOPICS] = {1, 1, 6, 6, 0, 39, 3, 2};

typedef struct fz_model {
    uint8_t bits[FZ_SUBS + 1]; /* bits[sub] has bit t set when sub is on topic t */
    int hook_calls;
    int expect_new, expect_old;
    uint32_t visited;
    uint64_t except;
} fz_model;

static uint32_t fz_count(const fz_model *m, int t)
{
    uint32_t n = 0;
    for (int s = 1; s <= FZ_SUBS; s++)
        n += (m->bits[s] >> t) & 1u;
    return n;
}

static void fz_hook(void *ctx, uint64_t sub, const char *topic, size_t len, uint32_t new_count,
                    uint32_t old_count)
{
    fz_model *m = ctx;
    FZ_CHECK(sub >= 1 && sub <= FZ_SUBS);
    FZ_CHECK(topic != NULL || len == 0);
    FZ_CHECK(new_count == old_count + 1 || new_count + 1 == old_count);
    m->hook_calls++;
}

static int fz_visit(void *ctx, uint64_t sub)
{
    fz_model *m = ctx;
    FZ_CHECK(sub >= 1 && sub <= FZ_SUBS && sub != m->except);
    m->visited++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_model m;
    memset(&m, 0, sizeof m);
    sc_pubsub *ps = sc_pubsub_new(fz_hook, &m);
    if (!ps)
        return 0;
    for (size_t i = 0; i + 1 < size; i += 2) {
        unsigned op = data[i] % 5u;
        uint64_t sub = 1u + (data[i + 1] & 7u);
        int t = (data[i + 1] >> 3) & 7;
        const char *name = fz_names[t];
        size_t len = fz_lens[t];
        int was = (m.bits[sub] >> t) & 1;
        int calls = m.hook_calls;
        switch (op) {
        case 0: {
            int rc = sc_pubsub_subscribe(ps, sub, name, len);
            FZ_CHECK(rc == (was ? 0 : 1));
            m.bits[sub] |= (uint8_t)(1u << t);
            FZ_CHECK(m.hook_calls == calls + (was ? 0 : 1));
            break;
        }
        case 1: {
            int rc = sc_pubsub_unsubscribe(ps, sub, name, len);
            FZ_CHECK(rc == (was ? 1 : 0));
            m.bits[sub] &= (uint8_t) ~(1u << t);
            FZ_CHECK(m.hook_calls == calls + (was ? 1 : 0));
            break;
        }
        case 2: {
            int had = 0;
            for (int k = 0; k < FZ_TOPICS; k++)
                had += (m.bits[sub] >> k) & 1;
            int notify = data[i] & 8;
            FZ_CHECK(sc_pubsub_unsubscribe_all(ps, sub, notify) == had);
            m.bits[sub] = 0;
            FZ_CHECK(m.hook_calls == calls + (notify ? had : 0));
            break;
        }
        case 3: {
            m.except = (data[i] & 8) ? sub : 0;
            m.visited = 0;
            uint32_t n = sc_pubsub_for_each(ps, name, len, m.except, fz_visit, &m);
            uint32_t want = fz_count(&m, t) - ((m.except && was) ? 1u : 0u);
            FZ_CHECK(n == want && m.visited == want);
            uint64_t ids[FZ_SUBS];
            FZ_CHECK(sc_pubsub_collect(ps, name, len, m.except, ids, FZ_SUBS) == want);
            break;
        }
        default: {
            uint32_t count = sc_pubsub_topic_count(ps, sub);
            uint32_t want = 0;
            for (int k = 0; k < FZ_TOPICS; k++)
                want += (m.bits[sub] >> k) & 1u;
            FZ_CHECK(count == want);
            for (uint32_t k = 0; k < count; k++) {
                const char *got = NULL;
                size_t got_len = 0;
                FZ_CHECK(sc_pubsub_topic_at(ps, sub, k, &got, &got_len) == SC_OK);
                int found = -1;
                for (int j = 0; j < FZ_TOPICS; j++)
                    if (fz_lens[j] == got_len && (!got_len || !memcmp(fz_names[j], got, got_len)))
                        found = j;
                FZ_CHECK(found >= 0 && ((m.bits[sub] >> found) & 1));
            }
            break;
        }
        }
        FZ_CHECK(sc_pubsub_is_subscribed(ps, sub, name, len) == ((m.bits[sub] >> t) & 1));
        FZ_CHECK(sc_pubsub_num_subscribers(ps, name, len) == fz_count(&m, t));
        uint32_t topics = 0;
        for (int k = 0; k < FZ_TOPICS; k++)
            topics += fz_count(&m, k) > 0;
        FZ_CHECK(sc_pubsub_num_topics(ps) == topics);
    }
    sc_pubsub_free(ps);
    return 0;
}

#include "fuzz_replay.h"
