/* topics.c - pub/sub: two chained hash tables (topic name -> topic,
 * subscriber id -> subscriber) joined by member records.  See topics.h. */
#include "topics.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct ps_topic ps_topic;
typedef struct ps_sub ps_sub;

typedef struct ps_member {
    ps_topic *topic;
    ps_sub *sub;
    uint32_t ti; /* index in topic->members */
    uint32_t si; /* index in sub->members */
} ps_member;

/* a growable array of member pointers */
typedef struct ps_list {
    ps_member **items;
    uint32_t count;
    uint32_t cap;
} ps_list;

struct ps_topic {
    ps_topic *next; /* bucket chain */
    uint64_t hash;
    ps_list members;
    size_t len;
    char name[];
};

struct ps_sub {
    ps_sub *next;
    uint64_t id;
    ps_list members;
};

struct sc_pubsub {
    ps_topic **topics;
    size_t topic_mask; /* buckets - 1 */
    uint32_t ntopics;
    ps_sub **subs;
    size_t sub_mask;
    uint32_t nsubs;
    uint64_t seed;
    int busy; /* inside the hook or a visitor */
    sc_pubsub_hook hook;
    void *ctx;
};

#define INITIAL_BUCKETS 16

/* ---- hashing -------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

/* Seeded per table, so colliding names cannot be prepared in advance
 * without learning the seed. */
static uint64_t hash_name(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ull);
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = mix64(h ^ w) + 0x632BE59BD9B4E019ull;
    }
    uint64_t tail = 0;
    if (n > i)
        memcpy(&tail, s + i, n - i);
    return mix64(h ^ tail ^ ((uint64_t)(n - i) << 59));
}

/* ---- lists ---------------------------------------------------------------- */

static int list_push(ps_list *l, ps_member *m)
{
    if (l->count == l->cap) {
        if (l->cap > UINT32_MAX / 2)
            return SC_ENOMEM;
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        ps_member **items = realloc(l->items, (size_t)cap * sizeof *items);
        if (!items)
            return SC_ENOMEM;
        l->items = items;
        l->cap = cap;
    }
    l->items[l->count++] = m;
    return SC_OK;
}

/* ---- lookups -------------------------------------------------------------- */

static ps_topic *find_topic(const sc_pubsub *ps, const char *name, size_t len, uint64_t h)
{
    for (ps_topic *t = ps->topics[h & ps->topic_mask]; t; t = t->next)
        if (t->hash == h && t->len == len && (len == 0 || memcmp(t->name, name, len) == 0))
            return t;
    return NULL;
}

static ps_sub *find_sub(const sc_pubsub *ps, uint64_t id)
{
    for (ps_sub *s = ps->subs[mix64(id ^ ps->seed) & ps->sub_mask]; s; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static ps_member *find_member(ps_topic *t, ps_sub *s)
{
    /* scan the shorter side */
    if (t->members.count < s->members.count) {
        for (uint32_t i = 0; i < t->members.count; i++)
            if (t->members.items[i]->sub == s)
                return t->members.items[i];
    } else {
        for (uint32_t i = 0; i < s->members.count; i++)
            if (s->members.items[i]->topic == t)
                return s->members.items[i];
    }
    return NULL;
}

/* Double a bucket array when the load passes 1; failure only costs speed. */
static void grow_topics(sc_pubsub *ps)
{
    if (ps->ntopics <= ps->topic_mask + 1 || ps->topic_mask >= (SIZE_MAX >> 2))
        return;
    size_t n = (ps->topic_mask + 1) * 2;
    ps_topic **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i <= ps->topic_mask; i++) {
        ps_topic *t = ps->topics[i];
        while (t) {
            ps_topic *next = t->next;
            t->next = b[t->hash & (n - 1)];
            b[t->hash & (n - 1)] = t;
            t = next;
        }
    }
    free(ps->topics);
    ps->topics = b;
    ps->topic_mask = n - 1;
}

static void grow_subs(sc_pubsub *ps)
{
    if (ps->nsubs <= ps->sub_mask + 1 || ps->sub_mask >= (SIZE_MAX >> 2))
        return;
    size_t n = (ps->sub_mask + 1) * 2;
    ps_sub **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i <= ps->sub_mask; i++) {
        ps_sub *s = ps->subs[i];
        while (s) {
            ps_sub *next = s->next;
            size_t k = mix64(s->id ^ ps->seed) & (n - 1);
            s->next = b[k];
            b[k] = s;
            s = next;
        }
    }
    free(ps->subs);
    ps->subs = b;
    ps->sub_mask = n - 1;
}

/* ---- records -------------------------------------------------------------- */

static void unlink_topic(sc_pubsub *ps, ps_topic *t)
{
    ps_topic **pp = &ps->topics[t->hash & ps->topic_mask];
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
    ps->ntopics--;
    free(t->members.items);
    free(t);
}

static void unlink_sub(sc_pubsub *ps, ps_sub *s)
{
    ps_sub **pp = &ps->subs[mix64(s->id ^ ps->seed) & ps->sub_mask];
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    ps->nsubs--;
    free(s->members.items);
    free(s);
}

/* Take m out of its topic's array (swap the last one in). */
static void detach_from_topic(ps_member *m)
{
    ps_list *l = &m->topic->members;
    ps_member *last = l->items[--l->count];
    l->items[m->ti] = last;
    last->ti = m->ti;
}

/* Take m out of its subscriber's array, keeping the order. */
static void detach_from_sub(ps_member *m)
{
    ps_list *l = &m->sub->members;
    for (uint32_t i = m->si + 1; i < l->count; i++) {
        l->items[i - 1] = l->items[i];
        l->items[i - 1]->si = i - 1;
    }
    l->count--;
}

static void report(sc_pubsub *ps, uint64_t sub, const ps_topic *t, uint32_t now, uint32_t before)
{
    if (!ps->hook)
        return;
    ps->busy++;
    ps->hook(ps->ctx, sub, t->name, t->len, now, before);
    ps->busy--;
}

/* ---- public --------------------------------------------------------------- */

sc_pubsub *sc_pubsub_new(sc_pubsub_hook hook, void *ctx)
{
    sc_pubsub *ps = calloc(1, sizeof *ps);
    if (!ps)
        return NULL;
    ps->topics = calloc(INITIAL_BUCKETS, sizeof *ps->topics);
    ps->subs = calloc(INITIAL_BUCKETS, sizeof *ps->subs);
    if (!ps->topics || !ps->subs) {
        free(ps->topics);
        free(ps->subs);
        free(ps);
        return NULL;
    }
    ps->topic_mask = ps->sub_mask = INITIAL_BUCKETS - 1;
    ps->hook = hook;
    ps->ctx = ctx;
    /* the table's own address (ASLR) and the clock: enough to make the
     * bucket of a name unpredictable from outside */
    ps->seed =
        mix64((uint64_t)(uintptr_t)ps ^ mix64((uint64_t)time(NULL)) ^ mix64((uint64_t)clock()));
    return ps;
}

void sc_pubsub_free(sc_pubsub *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i <= ps->sub_mask; i++) {
        ps_sub *s = ps->subs[i];
        while (s) {
            ps_sub *next = s->next;
            for (uint32_t k = 0; k < s->members.count; k++)
                free(s->members.items[k]);
            free(s->members.items);
            free(s);
            s = next;
        }
    }
    for (size_t i = 0; i <= ps->topic_mask; i++) {
        ps_topic *t = ps->topics[i];
        while (t) {
            ps_topic *next = t->next;
            free(t->members.items);
            free(t);
            t = next;
        }
    }
    free(ps->subs);
    free(ps->topics);
    free(ps);
}

int sc_pubsub_subscribe(sc_pubsub *ps, uint64_t sub, const char *topic, size_t len)
{
    if (sub == 0 || (topic == NULL && len))
        return SC_EINVAL;
    if (ps->busy)
        return SC_ESTATE;
    uint64_t h = hash_name(ps->seed, topic, len);
    ps_topic *t = find_topic(ps, topic, len, h);
    ps_sub *s = find_sub(ps, sub);
    if (t && s && find_member(t, s))
        return 0;

    int new_topic = 0, new_sub = 0;
    if (!t) {
        if (len > SIZE_MAX - sizeof *t - 1 || (t = calloc(1, sizeof *t + len + 1)) == NULL)
            return SC_ENOMEM;
        t->hash = h;
        t->len = len;
        if (len)
            memcpy(t->name, topic, len);
        t->next = ps->topics[h & ps->topic_mask];
        ps->topics[h & ps->topic_mask] = t;
        ps->ntopics++;
        new_topic = 1;
    }
    if (!s) {
        if ((s = calloc(1, sizeof *s)) == NULL)
            goto oom;
        s->id = sub;
        size_t k = mix64(sub ^ ps->seed) & ps->sub_mask;
        s->next = ps->subs[k];
        ps->subs[k] = s;
        ps->nsubs++;
        new_sub = 1;
    }
    ps_member *m = malloc(sizeof *m);
    if (!m)
        goto oom;
    m->topic = t, m->sub = s;
    m->ti = t->members.count, m->si = s->members.count;
    if (list_push(&t->members, m) != SC_OK) {
        free(m);
        goto oom;
    }
    if (list_push(&s->members, m) != SC_OK) {
        t->members.count--;
        free(m);
        goto oom;
    }
    grow_topics(ps);
    grow_subs(ps);
    report(ps, sub, t, t->members.count, t->members.count - 1);
    return 1;
oom:
    if (new_sub && s)
        unlink_sub(ps, s);
    if (new_topic)
        unlink_topic(ps, t);
    return SC_ENOMEM;
}

int sc_pubsub_unsubscribe(sc_pubsub *ps, uint64_t sub, const char *topic, size_t len)
{
    if (ps->busy)
        return SC_ESTATE;
    ps_topic *t = find_topic(ps, topic, len, hash_name(ps->seed, topic, len));
    ps_sub *s = find_sub(ps, sub);
    ps_member *m = t && s ? find_member(t, s) : NULL;
    if (!m)
        return 0;
    detach_from_topic(m);
    detach_from_sub(m);
    free(m);
    report(ps, sub, t, t->members.count, t->members.count + 1);
    if (t->members.count == 0)
        unlink_topic(ps, t);
    if (s->members.count == 0)
        unlink_sub(ps, s);
    return 1;
}

int sc_pubsub_is_subscribed(const sc_pubsub *ps, uint64_t sub, const char *topic, size_t len)
{
    ps_topic *t = find_topic(ps, topic, len, hash_name(ps->seed, topic, len));
    ps_sub *s = t ? find_sub(ps, sub) : NULL;
    return s && find_member(t, s) ? 1 : 0;
}

int sc_pubsub_unsubscribe_all(sc_pubsub *ps, uint64_t sub, int notify)
{
    if (ps->busy)
        return SC_ESTATE;
    ps_sub *s = find_sub(ps, sub);
    if (!s)
        return 0;
    uint32_t n = s->members.count;
    for (uint32_t i = 0; i < n; i++) {
        ps_member *m = s->members.items[i];
        ps_topic *t = m->topic;
        detach_from_topic(m);
        free(m);
        if (notify)
            report(ps, sub, t, t->members.count, t->members.count + 1);
        if (t->members.count == 0)
            unlink_topic(ps, t);
    }
    s->members.count = 0;
    unlink_sub(ps, s);
    return (int)n;
}

uint32_t sc_pubsub_num_subscribers(const sc_pubsub *ps, const char *topic, size_t len)
{
    ps_topic *t = find_topic(ps, topic, len, hash_name(ps->seed, topic, len));
    return t ? t->members.count : 0;
}

uint32_t sc_pubsub_num_topics(const sc_pubsub *ps)
{
    return ps->ntopics;
}

uint32_t sc_pubsub_topic_count(const sc_pubsub *ps, uint64_t sub)
{
    ps_sub *s = find_sub(ps, sub);
    return s ? s->members.count : 0;
}

int sc_pubsub_topic_at(const sc_pubsub *ps, uint64_t sub, uint32_t index, const char **name,
                       size_t *len)
{
    ps_sub *s = find_sub(ps, sub);
    if (!s || index >= s->members.count)
        return SC_EINVAL;
    ps_topic *t = s->members.items[index]->topic;
    *name = t->name;
    *len = t->len;
    return SC_OK;
}

uint32_t sc_pubsub_for_each(sc_pubsub *ps, const char *topic, size_t len, uint64_t except,
                            sc_pubsub_visit visit, void *ctx)
{
    ps_topic *t = find_topic(ps, topic, len, hash_name(ps->seed, topic, len));
    if (!t)
        return 0;
    uint32_t visited = 0;
    ps->busy++;
    for (uint32_t i = 0; i < t->members.count; i++) {
        uint64_t id = t->members.items[i]->sub->id;
        if (id == except)
            continue;
        visited++;
        if (visit(ctx, id))
            break;
    }
    ps->busy--;
    return visited;
}

uint32_t sc_pubsub_collect(const sc_pubsub *ps, const char *topic, size_t len, uint64_t except,
                           uint64_t *out, uint32_t cap)
{
    ps_topic *t = find_topic(ps, topic, len, hash_name(ps->seed, topic, len));
    if (!t)
        return 0;
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->members.count; i++) {
        uint64_t id = t->members.items[i]->sub->id;
        if (id == except)
            continue;
        if (n < cap)
            out[n] = id;
        n++;
    }
    return n;
}
