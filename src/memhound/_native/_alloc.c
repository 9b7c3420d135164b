/* memhound's allocation engine: hooks on CPython's MEM and OBJ allocator domains.
 *
 * Every allocation made while at least one block is active is recorded against its site (the
 * top N Python frames, each as code object + bytecode offset; line numbers are resolved later
 * in Python, so the hook never walks a line table). A live table maps each recorded pointer to
 * (site, size, epoch) in 16 bytes; frees remove the entry. Each block keeps per-site allocated
 * counters, per-site live bytes and a copy of them taken near its peak.
 *
 * Sampled mode (start() with an interval T > 0): allocations are sampled by bytes, as tcmalloc,
 * Go and jemalloc do. Every allocated byte is marked with probability 1/T, independently; an
 * allocation holding a marked byte is recorded. The distance to the next mark is exponential
 * with mean T (drawn after each sample: the marks are memoryless, so an allocation spanning
 * several marks is one sample and the next gap starts at its end). The fast path of an
 * unsampled allocation is a counter decrement. A block of s bytes is sampled with probability
 * p = 1 - exp(-s/T) and stands for s/p bytes and 1/p allocations (Horvitz-Thompson), weights
 * that depend only on s and T, so a free subtracts exactly what the allocation added and
 * allocated and live bytes by site are unbiased estimates. Only sampled blocks enter the live
 * table; a counting filter on the pointer (FILTER_SIZE one-byte counters) lets the free of an
 * unsampled block skip the table. The generator is one per process (the GIL serialises the
 * hooks), reseeded in a fork child.
 *
 * Both hooked domains are called with the GIL held, so the state below needs no lock. The hooks
 * chain to the allocator that was installed before them (pymalloc, tracemalloc's hooks, the
 * debug hooks), so every pointer is allocated and freed by the same underlying allocator.
 * Our own tables live in libc malloc, never in a hooked domain. Nothing here calls a Python API
 * that allocates while a hook runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if PY_VERSION_HEX >= 0x030B0000
#define Py_BUILD_CORE 1
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
#else
#include <frameobject.h>
#endif

#ifdef Py_GIL_DISABLED
#define MEMHOUND_NATIVE_SUPPORTED 0
#else
#define MEMHOUND_NATIVE_SUPPORTED 1
#endif

#define MAX_FRAMES 64
#define MAX_BLOCKS 32
#define PEAK_MARGIN_MIN (64 * 1024)
/* PyGC_Head (internal from 3.9): two words on 3.10-3.13 with the GIL (tests check it) */
#define GC_HEAD_SIZE (2 * sizeof(uintptr_t))

typedef struct {
    PyCodeObject *code;
    int offset; /* bytecode offset in bytes, -1 if unknown */
} mh_frame;

/* One live allocation in 16 bytes, as there is one per live block allocated in a block (the
 * table is most of what profiling costs in memory: 9.5 million entries at the sales report's
 * peak).
 *   hi: the pointer (48 bits: user-space addresses on x86-64 and arm64; a pointer above that is
 *       not recorded) | the epoch it was allocated in (16 bits); 0 = an empty slot
 *   lo: the size (32 bits, or SIZE_BIG: the size is in big[], 4 GiB and more) | the site
 *       (31 bits) | allocated in the OBJ domain (1 bit)
 * Epochs replace a serial number per allocation: the counter moves only when a block starts or
 * ends, so "allocated while block b counted" is start_epoch <= epoch < end_epoch. */
typedef struct {
    uint64_t hi, lo;
} mh_entry;
#define SIZE_BIG UINT32_MAX
#define PTR_BITS 48
#define PTR_MASK ((UINT64_C(1) << PTR_BITS) - 1)
#define EPOCH_MAX 0xFFFFu
#define SITE_MAX 0x7FFFFFFEu
#define E_PTR(e) ((void *)(uintptr_t)((e)->hi & PTR_MASK))
#define E_EPOCH(e) ((uint32_t)((e)->hi >> PTR_BITS))
#define E_SIZE32(e) ((uint32_t)((e)->lo >> 32))
#define E_SITE(e) ((uint32_t)(((e)->lo >> 1) & 0x7FFFFFFFu))
#define E_OBJ(e) ((int)((e)->lo & 1))
#define E_USED(e) ((e)->hi != 0)

/* Strings freed inside a block, counted at free time: (first bytes of the text, site). */
#define STR_DATA 64
#define STR_TABLE_MAX (1 << 13) /* distinct strings a block holds at once */
typedef struct {
    uint64_t hash;
    uint64_t count, bytes;
    Py_ssize_t length; /* in characters */
    uint32_t site;
    uint8_t kind, used, ndata;
    char data[STR_DATA];
} mh_string;

typedef struct {
    int active; /* 1 while counting, 0 after end() */
    int in_use;
    uint32_t start_epoch, end_epoch; /* end_epoch: exclusive, set by end() */
    int64_t current, peak, snap_current;
    uint64_t total_count, total_bytes;
    size_t cap;
    uint64_t *alloc_count, *alloc_bytes;
    int64_t *live_bytes, *live_count;
    int64_t *snap_bytes, *snap_count;
    /* sampled mode: samples behind each figure (allocated, live, the copy at the peak) */
    uint64_t *alloc_samples;
    int64_t *live_samples, *snap_samples;
    uint64_t total_samples;
    mh_string *strings; /* open addressing, str_cap slots (0 until the first string) */
    size_t str_cap, str_len;
    uint64_t str_dropped; /* strings not counted: the table was full */
    int str_no_prune;     /* pruning freed too little: new strings are dropped from now on */
} mh_block;

/* -- state (the GIL guards all of it) ---------------------------------------------------- */
static PyMemAllocatorEx prev_mem, prev_obj;
static PyMemAllocatorEx hook_mem, hook_obj;
static int installed = 0;   /* our hooks are (or may still be) in the allocator chain */
static int recording = 0;   /* number of active blocks */
static int suspended = 0;   /* > 0: allocations are not recorded (frees still are) */
static int in_hook = 0;
static int probing = 0, probe_seen = 0; /* see hooks_in_chain() */
static int nframes = 1;
static int degraded = 0;    /* a table could not grow: recording stopped, counts are partial */
static uint32_t epoch = 1;

/* -- sampled mode (see the top of the file) ---------------------------------------------- */
#define COUNT_ONE 65536 /* in sampled mode, object counts are kept in 1/65536ths */
#define FILTER_BITS 16
#define FILTER_SIZE (1u << FILTER_BITS)
static int64_t sample_T = 0;           /* mean interval in bytes; 0: exact mode */
static int64_t sample_countdown = 0;   /* bytes to go before the next sampled byte */
static uint64_t rng_state = 0;
static uint64_t rng_seed = 0;          /* 0: seeded from the clock, the pid and an address */
static uint8_t *filter = NULL;         /* counting filter of sampled pointers (saturating) */

static inline uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed_now(void) {
    uint64_t x = rng_seed;
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&ts;
    }
    rng_state = x ^ ((uint64_t)getpid() << 32);
    for (int i = 0; i < 4; i++) (void)splitmix64(&rng_state);
}

/* The next gap: exponential with mean T, at least 1 byte. */
static int64_t sample_gap(void) {
    double u = (double)((splitmix64(&rng_state) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double g = -log(u) * (double)sample_T;
    if (g < 1.0) g = 1.0;
    if (g > 4.0e18) g = 4.0e18;
    return (int64_t)g;
}

/* The weights of a sampled block of `size` bytes: bytes and COUNT_ONE-scaled objects. */
static inline void sample_weights(size_t size, int64_t *wbytes, int64_t *wcount) {
    if (sample_T == 0) {
        *wbytes = (int64_t)size;
        *wcount = 1;
        return;
    }
    double s = size > 0 ? (double)size : 1.0;
    double p = -expm1(-s / (double)sample_T); /* 1 - exp(-s/T) */
    *wbytes = (int64_t)llround((double)size / p);
    *wcount = (int64_t)llround((double)COUNT_ONE / p);
}

static inline size_t filter_slot(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    return (size_t)(x >> (64 - FILTER_BITS));
}

/* Built with -DMEMHOUND_NO_FILTER, frees ask the live table directly (for bench/: what the
 * filter saves). */
#ifdef MEMHOUND_NO_FILTER
#define MAY_BE_SAMPLED(p) 1
#else
#define MAY_BE_SAMPLED(p) (filter[filter_slot(p)] != 0)
#endif

static inline void filter_add(const void *p) {
    uint8_t *c = &filter[filter_slot(p)];
    if (*c != 0xFF) (*c)++;
}

static inline void filter_del(const void *p) {
    uint8_t *c = &filter[filter_slot(p)];
    if (*c != 0xFF && *c != 0) (*c)--; /* a saturated counter stays: a probe too many */
}

/* A fork child samples on its own: a new stream and a new gap (the tables, copies of the
 * parent's like the heap they describe, stay valid). */
static void after_fork_child(void) {
    rng_seed_now();
    if (sample_T > 0) sample_countdown = sample_gap();
}

/* The live table is split into 256 shards by the hash's top byte, each growing on its own, so
 * a growth copies 1/256 of the table instead of having the old and the new whole table in
 * memory at once (at 9.5 million entries that transient was 600 MB). */
#define SHARD_BITS 8
#define NSHARDS (1 << SHARD_BITS)
typedef struct {
    mh_entry *t;
    size_t cap, len;
} mh_shard;
static mh_shard shards[NSHARDS];
static size_t live_len = 0, live_peak = 0;

static mh_frame *site_frames = NULL; /* site i at site_frames[i * nframes] */
static uint16_t *site_n = NULL;
static uint32_t *site_hash = NULL;
static size_t site_len = 0, site_cap = 0;
static uint32_t *site_index = NULL; /* open addressing: site id + 1, 0 = empty */
static size_t site_index_cap = 0;

static mh_block blocks[MAX_BLOCKS];
static int nslots = 0; /* blocks[nslots:] are all unused */

static void count_slots(void) {
    nslots = 0;
    for (int b = 0; b < MAX_BLOCKS; b++)
        if (blocks[b].in_use) nslots = b + 1;
}

/* -- hashing --------------------------------------------------------------------------- */
static inline size_t ptr_hash(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* -- sizes of 4 GiB and more (rare: a short list searched linearly) ---------------------- */
typedef struct {
    void *ptr;
    size_t size;
} mh_big;
static mh_big *big = NULL;
static size_t big_len = 0, big_cap = 0;

static size_t big_size(const void *ptr) {
    for (size_t i = 0; i < big_len; i++)
        if (big[i].ptr == ptr) return big[i].size;
    return 0;
}

static int big_set(void *ptr, size_t size) {
    for (size_t i = 0; i < big_len; i++)
        if (big[i].ptr == ptr) {
            big[i].size = size;
            return 0;
        }
    if (big_len == big_cap) {
        size_t ncap = big_cap ? big_cap * 2 : 16;
        mh_big *n = realloc(big, ncap * sizeof(mh_big));
        if (n == NULL) return -1;
        big = n;
        big_cap = ncap;
    }
    big[big_len].ptr = ptr;
    big[big_len].size = size;
    big_len++;
    return 0;
}

static void big_del(const void *ptr) {
    for (size_t i = 0; i < big_len; i++)
        if (big[i].ptr == ptr) {
            big[i] = big[--big_len];
            return;
        }
}

static inline size_t E_SIZE(const mh_entry *e) {
    return E_SIZE32(e) != SIZE_BIG ? (size_t)E_SIZE32(e) : big_size(E_PTR(e));
}

/* -- live table ------------------------------------------------------------------------
 * 256 shards (the hash's top byte), each with linear probing and backward-shift deletion, at
 * most 80% full and grown by half: any capacity, the home slot by multiplying the hash's low
 * 32 bits by it (no power-of-two mask), so the table is 53-80% full instead of 35-70%. */
#define LOAD_MAX_NUM 4
#define LOAD_MAX_DEN 5
static inline mh_shard *shard_of(size_t h) {
    return &shards[(h >> (sizeof(size_t) * 8 - SHARD_BITS)) & (NSHARDS - 1)];
}

static inline size_t home_slot(size_t h, size_t cap) {
    return (size_t)(((uint64_t)(uint32_t)h * (uint64_t)cap) >> 32);
}

static inline size_t next_slot(size_t i, size_t cap) {
    return i + 1 == cap ? 0 : i + 1;
}

static int shard_grow(mh_shard *sh) {
    size_t ncap = sh->cap ? sh->cap + sh->cap / 2 : 256;
    if (ncap > UINT32_MAX) return -1;
    mh_entry *n = calloc(ncap, sizeof(mh_entry));
    if (n == NULL) return -1;
    for (size_t i = 0; i < sh->cap; i++) {
        if (!E_USED(&sh->t[i])) continue;
        size_t j = home_slot(ptr_hash(E_PTR(&sh->t[i])), ncap);
        while (E_USED(&n[j])) j = next_slot(j, ncap);
        n[j] = sh->t[i];
    }
    free(sh->t);
    sh->t = n;
    sh->cap = ncap;
    return 0;
}

static mh_entry *live_find(const void *ptr, mh_shard **where) {
    if (live_len == 0) return NULL;
    size_t h = ptr_hash(ptr);
    mh_shard *sh = shard_of(h);
    if (sh->len == 0) return NULL;
    size_t i = home_slot(h, sh->cap);
    while (E_USED(&sh->t[i])) {
        if (E_PTR(&sh->t[i]) == ptr) {
            if (where != NULL) *where = sh;
            return &sh->t[i];
        }
        i = next_slot(i, sh->cap);
    }
    return NULL;
}

/* 0 when recorded, -1 when out of memory, 1 when the pointer cannot be a key (above 48 bits). */
static int live_insert(void *ptr, size_t size, uint32_t site, int obj) {
    uint64_t key = (uint64_t)(uintptr_t)ptr;
    if (key & ~PTR_MASK) return 1;
    size_t h = ptr_hash(ptr);
    mh_shard *sh = shard_of(h);
    if ((sh->len + 1) * LOAD_MAX_DEN > sh->cap * LOAD_MAX_NUM && shard_grow(sh) < 0) return -1;
    if (size >= SIZE_BIG && big_set(ptr, size) < 0) return -1;
    size_t i = home_slot(h, sh->cap);
    while (E_USED(&sh->t[i])) {
        if (E_PTR(&sh->t[i]) == ptr) break; /* stale entry for a reused address */
        i = next_slot(i, sh->cap);
    }
    if (!E_USED(&sh->t[i])) {
        sh->len++;
        if (++live_len > live_peak) live_peak = live_len;
    }
    sh->t[i].hi = key | ((uint64_t)epoch << PTR_BITS);
    sh->t[i].lo = ((uint64_t)(size >= SIZE_BIG ? SIZE_BIG : (uint32_t)size) << 32) |
                  ((uint64_t)site << 1) | (obj ? 1u : 0u);
    return 0;
}

static void live_remove(mh_shard *sh, mh_entry *e) {
    size_t i = (size_t)(e - sh->t), j = i;
    if (E_SIZE32(e) == SIZE_BIG) big_del(E_PTR(e));
    sh->t[i].hi = 0;
    sh->len--;
    live_len--;
    for (;;) {
        j = next_slot(j, sh->cap);
        if (!E_USED(&sh->t[j])) return;
        size_t k = home_slot(ptr_hash(E_PTR(&sh->t[j])), sh->cap);
        /* move j back to i unless its home slot k lies cyclically in (i, j] */
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            sh->t[i] = sh->t[j];
            sh->t[j].hi = 0;
            i = j;
        }
    }
}

static size_t live_table_bytes(void) {
    size_t n = 0;
    for (int k = 0; k < NSHARDS; k++) n += shards[k].cap * sizeof(mh_entry);
    return n;
}

static void live_clear(void) {
    for (int k = 0; k < NSHARDS; k++) {
        free(shards[k].t);
        shards[k].t = NULL;
        shards[k].cap = shards[k].len = 0;
    }
    live_len = live_peak = 0;
}

/* -- epochs ---------------------------------------------------------------------------- */
static uint32_t rank_of(uint32_t x, const uint32_t *bounds, int nb) {
    uint32_t r = 0;
    for (int i = 0; i < nb && bounds[i] <= x; i++) r++;
    return r;
}

/* When the 16-bit epoch would run out, every epoch is renumbered to its rank among the
 * boundaries still in use (the blocks' start and end epochs and the current one): the order of
 * an entry against each boundary, all that a block's test asks, is kept. At most 65 ranks
 * remain, so this happens once per ~65,000 block starts and ends. */
static void epochs_renumber(void) {
    uint32_t bounds[2 * MAX_BLOCKS + 1];
    int nb = 0;
    bounds[nb++] = epoch;
    for (int b = 0; b < MAX_BLOCKS; b++) {
        if (!blocks[b].in_use) continue;
        bounds[nb++] = blocks[b].start_epoch;
        if (!blocks[b].active) bounds[nb++] = blocks[b].end_epoch;
    }
    for (int i = 1; i < nb; i++) /* insertion sort, then unique */
        for (int j = i; j > 0 && bounds[j - 1] > bounds[j]; j--) {
            uint32_t t = bounds[j];
            bounds[j] = bounds[j - 1];
            bounds[j - 1] = t;
        }
    int u = 0;
    for (int i = 0; i < nb; i++)
        if (u == 0 || bounds[u - 1] != bounds[i]) bounds[u++] = bounds[i];
    nb = u;
    for (int k = 0; k < NSHARDS; k++) {
        mh_shard *sh = &shards[k];
        for (size_t i = 0; i < sh->cap; i++) {
            mh_entry *e = &sh->t[i];
            if (!E_USED(e)) continue;
            e->hi = (e->hi & PTR_MASK) | ((uint64_t)rank_of(E_EPOCH(e), bounds, nb) << PTR_BITS);
        }
    }
    for (int b = 0; b < MAX_BLOCKS; b++) {
        if (!blocks[b].in_use) continue;
        blocks[b].start_epoch = rank_of(blocks[b].start_epoch, bounds, nb);
        if (!blocks[b].active) blocks[b].end_epoch = rank_of(blocks[b].end_epoch, bounds, nb);
    }
    epoch = rank_of(epoch, bounds, nb);
}

static void epoch_advance(void) {
    if (epoch >= EPOCH_MAX) epochs_renumber();
    epoch++;
}

static inline int in_block(const mh_block *bl, const mh_entry *e) {
    uint32_t x = E_EPOCH(e);
    return x >= bl->start_epoch && (bl->active || x < bl->end_epoch);
}

/* -- blocks ---------------------------------------------------------------------------- */
static int block_fit(mh_block *b, size_t need) {
    if (need <= b->cap) return 0;
    size_t ncap = b->cap ? b->cap : 1024;
    while (ncap < need) ncap *= 2;
#define GROW(field, T)                                                        \
    do {                                                                      \
        T *n_ = realloc(b->field, ncap * sizeof(T));                          \
        if (n_ == NULL) return -1;                                            \
        memset(n_ + b->cap, 0, (ncap - b->cap) * sizeof(T));                  \
        b->field = n_;                                                        \
    } while (0)
    GROW(alloc_count, uint64_t);
    GROW(alloc_bytes, uint64_t);
    GROW(live_bytes, int64_t);
    GROW(live_count, int64_t);
    GROW(snap_bytes, int64_t);
    GROW(snap_count, int64_t);
    GROW(alloc_samples, uint64_t);
    GROW(live_samples, int64_t);
    GROW(snap_samples, int64_t);
#undef GROW
    b->cap = ncap;
    return 0;
}

static void block_free(mh_block *b) {
    free(b->strings);
    free(b->alloc_count);
    free(b->alloc_bytes);
    free(b->live_bytes);
    free(b->live_count);
    free(b->snap_bytes);
    free(b->snap_count);
    free(b->alloc_samples);
    free(b->live_samples);
    free(b->snap_samples);
    memset(b, 0, sizeof(*b));
}

static void block_snapshot(mh_block *b) {
    memcpy(b->snap_bytes, b->live_bytes, site_len * sizeof(int64_t));
    memcpy(b->snap_count, b->live_count, site_len * sizeof(int64_t));
    memcpy(b->snap_samples, b->live_samples, site_len * sizeof(int64_t));
    b->snap_current = b->current;
}

/* -- frames and sites ------------------------------------------------------------------ */
static PyThreadState *current_tstate(void) {
#if PY_VERSION_HEX >= 0x030D0000
    return PyThreadState_GetUnchecked();
#else
    return _PyThreadState_UncheckedGet();
#endif
}

static int collect_frames(mh_frame *out) {
    PyThreadState *ts = current_tstate();
    int n = 0;
    if (ts == NULL) return 0;
#if PY_VERSION_HEX >= 0x030B0000
#if PY_VERSION_HEX >= 0x030D0000
    _PyInterpreterFrame *f = ts->current_frame;
#else
    _PyInterpreterFrame *f = ts->cframe ? ts->cframe->current_frame : NULL;
#endif
    while (f != NULL && n < nframes) {
#if PY_VERSION_HEX >= 0x030C0000
        if (f->owner == FRAME_OWNED_BY_CSTACK) {
            f = f->previous;
            continue;
        }
#endif
#if PY_VERSION_HEX >= 0x030D0000
        if (f->f_executable == NULL || !PyCode_Check(f->f_executable)) {
            f = f->previous;
            continue;
        }
#endif
        if (!_PyFrame_IsIncomplete(f)) {
#if PY_VERSION_HEX >= 0x030D0000
            out[n].code = (PyCodeObject *)f->f_executable;
#else
            out[n].code = f->f_code;
#endif
            out[n].offset = _PyInterpreterFrame_LASTI(f) * (int)sizeof(_Py_CODEUNIT);
            n++;
        }
        f = f->previous;
    }
#else
    PyFrameObject *f = ts->frame;
    while (f != NULL && n < nframes) {
        out[n].code = f->f_code;
        out[n].offset = f->f_lasti < 0 ? -1 : f->f_lasti * 2;
        n++;
        f = f->f_back;
    }
#endif
    return n;
}

static int site_index_grow(void) {
    size_t ncap = site_index_cap ? site_index_cap * 2 : 1 << 12;
    uint32_t *n = calloc(ncap, sizeof(uint32_t));
    if (n == NULL) return -1;
    for (size_t s = 0; s < site_len; s++) {
        size_t j = site_hash[s] & (ncap - 1);
        while (n[j]) j = (j + 1) & (ncap - 1);
        n[j] = (uint32_t)s + 1;
    }
    free(site_index);
    site_index = n;
    site_index_cap = ncap;
    return 0;
}

static inline int frames_equal(const mh_frame *a, const mh_frame *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i].code != b[i].code || a[i].offset != b[i].offset) return 0;
    return 1;
}

/* The site id of this stack, added if new; UINT32_MAX when a table cannot grow. */
static uint32_t site_of(const mh_frame *fr, int n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h = (h ^ (uint64_t)(uintptr_t)fr[i].code) * 1099511628211ULL;
        h = (h ^ (uint64_t)(uint32_t)fr[i].offset) * 1099511628211ULL;
    }
    uint32_t hh = (uint32_t)(h ^ (h >> 32));
    if ((site_len + 1) * 2 > site_index_cap && site_index_grow() < 0) return UINT32_MAX;
    size_t mask = site_index_cap - 1, j = hh & mask;
    while (site_index[j]) {
        uint32_t s = site_index[j] - 1;
        if (site_hash[s] == hh && site_n[s] == n &&
            frames_equal(&site_frames[(size_t)s * (size_t)nframes], fr, n))
            return s;
        j = (j + 1) & mask;
    }
    if (site_len >= UINT32_MAX - 1) return UINT32_MAX;
    if (site_len == site_cap) {
        size_t ncap = site_cap ? site_cap * 2 : 1024;
        mh_frame *nf = realloc(site_frames, ncap * (size_t)nframes * sizeof(mh_frame));
        if (nf == NULL) return UINT32_MAX;
        site_frames = nf;
        uint16_t *nn = realloc(site_n, ncap * sizeof(uint16_t));
        if (nn == NULL) return UINT32_MAX;
        site_n = nn;
        uint32_t *nh = realloc(site_hash, ncap * sizeof(uint32_t));
        if (nh == NULL) return UINT32_MAX;
        site_hash = nh;
        site_cap = ncap;
    }
    for (int b = 0; b < MAX_BLOCKS; b++)
        if (blocks[b].in_use && block_fit(&blocks[b], site_len + 1) < 0) return UINT32_MAX;
    uint32_t s = (uint32_t)site_len;
    memcpy(&site_frames[(size_t)s * (size_t)nframes], fr, (size_t)n * sizeof(mh_frame));
    for (int i = 0; i < n; i++) Py_INCREF((PyObject *)fr[i].code); /* keeps the pointer valid */
    site_n[s] = (uint16_t)n;
    site_hash[s] = hh;
    site_index[j] = s + 1;
    site_len++;
    return s;
}

/* -- recording ------------------------------------------------------------------------- */
/* A compact str being freed still has its header and text (tp_free runs last): when the block
 * holds one, read it within the bounds of the allocation. Non-compact strings are skipped (their
 * text buffer is freed first), as is anything whose header does not add up. */
static int freed_string(const mh_entry *e, const char **data, Py_ssize_t *length, int *kind) {
    size_t size = E_SIZE(e);
    if (!E_OBJ(e) || size < sizeof(PyASCIIObject)) return 0;
    PyASCIIObject *op = (PyASCIIObject *)E_PTR(e);
    if (Py_TYPE((PyObject *)op) != &PyUnicode_Type || !op->state.compact) return 0;
    size_t header = op->state.ascii ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject);
    int k = (int)op->state.kind;
    if (k != 1 && k != 2 && k != 4) return 0;
    if (op->length < 0 || header > size || (size_t)op->length >= (size - header) / (size_t)k)
        return 0;
    *data = (const char *)op + header;
    *length = op->length;
    *kind = k;
    return 1;
}

static void count_string(mh_block *bl, const mh_entry *e, const char *data, Py_ssize_t length,
                         int kind) {
    size_t n = (size_t)length * (size_t)kind;
    if (n > STR_DATA) n = STR_DATA;
    uint64_t h = 1469598103934665603ULL ^ ((uint64_t)E_SITE(e) << 8) ^ (uint64_t)kind;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
    h ^= (uint64_t)length * 0x9E3779B97F4A7C15ULL;
    if (bl->strings == NULL) {
        bl->strings = calloc(1024, sizeof(mh_string));
        if (bl->strings == NULL) {
            bl->str_dropped++;
            return;
        }
        bl->str_cap = 1024;
    }
    size_t mask = bl->str_cap - 1, i = (size_t)h & mask;
    while (bl->strings[i].used) {
        mh_string *s = &bl->strings[i];
        if (s->hash == h && s->site == E_SITE(e) && s->kind == kind && s->length == length &&
            s->ndata == n && memcmp(s->data, data, n) == 0) {
            s->count++;
            s->bytes += E_SIZE(e);
            return;
        }
        i = (i + 1) & mask;
    }
    if ((bl->str_len + 1) * 2 > bl->str_cap) {
        /* full: forget the strings seen only once so far (lossy counting keeps the repeated
         * ones), or, when that frees too little, stop taking new ones */
        int prune = bl->str_cap >= STR_TABLE_MAX * 2;
        if (prune && bl->str_no_prune) {
            bl->str_dropped++;
            return;
        }
        size_t ncap = prune ? bl->str_cap : bl->str_cap * 2;
        mh_string *ns = calloc(ncap, sizeof(mh_string));
        if (ns == NULL) {
            bl->str_dropped++;
            return;
        }
        size_t kept = 0;
        for (size_t j = 0; j < bl->str_cap; j++) {
            if (!bl->strings[j].used) continue;
            if (prune && bl->strings[j].count < 2) {
                bl->str_dropped += bl->strings[j].count;
                continue;
            }
            kept++;
            size_t k = (size_t)bl->strings[j].hash & (ncap - 1);
            while (ns[k].used) k = (k + 1) & (ncap - 1);
            ns[k] = bl->strings[j];
        }
        free(bl->strings);
        bl->strings = ns;
        bl->str_cap = ncap;
        bl->str_len = kept;
        if (prune && kept * 4 > ncap) bl->str_no_prune = 1;
        mask = ncap - 1;
        i = (size_t)h & mask;
        while (bl->strings[i].used) i = (i + 1) & mask;
    }
    mh_string *s = &bl->strings[i];
    s->hash = h;
    s->count = 1;
    s->bytes = E_SIZE(e);
    s->length = length;
    s->site = E_SITE(e);
    s->kind = (uint8_t)kind;
    s->ndata = (uint8_t)n;
    s->used = 1;
    memcpy(s->data, data, n);
    bl->str_len++;
}

/* peek: the memory is still ours to read (a free hook, before the real free; never realloc,
 * whose old block is already gone when we hear of it). */
static void record_free(void *ptr, int peek) {
    mh_shard *sh = NULL;
    mh_entry *e = live_find(ptr, &sh);
    if (e == NULL) return;
    const char *sdata = NULL;
    Py_ssize_t slen = 0;
    int skind = 0, is_str = sample_T ? 0 : -1; /* freed strings: exact mode only */
    int64_t size, count;
    sample_weights(E_SIZE(e), &size, &count);
    for (int b = 0; b < nslots; b++) {
        mh_block *bl = &blocks[b];
        if (bl->active && E_EPOCH(e) >= bl->start_epoch) {
            if (is_str < 0) is_str = peek && freed_string(e, &sdata, &slen, &skind);
            if (is_str) count_string(bl, e, sdata, slen, skind);
            bl->current -= size;
            bl->live_bytes[E_SITE(e)] -= size;
            bl->live_count[E_SITE(e)] -= count;
            bl->live_samples[E_SITE(e)] -= 1;
        }
    }
    if (filter != NULL) filter_del(ptr);
    live_remove(sh, e);
}

/* grown: how many bytes to count as newly allocated (a realloc counts what it added; in
 * sampled mode its new size, as the sampler does not know an unsampled block's old size) */
static void record_alloc(void *ptr, size_t size, size_t grown, int obj) {
    mh_frame fr[MAX_FRAMES];
    int n = collect_frames(fr);
    uint32_t s = site_of(fr, n);
    int r = s > SITE_MAX ? -1 : live_insert(ptr, size, s, obj);
    if (r < 0) {
        degraded = 1;
        return;
    }
    int64_t wbytes, wcount;
    sample_weights(size, &wbytes, &wcount);
    uint64_t abytes = sample_T ? (uint64_t)wbytes : (uint64_t)grown;
    if (r == 0 && filter != NULL) filter_add(ptr);
    for (int b = 0; b < nslots; b++) {
        mh_block *bl = &blocks[b];
        if (!bl->active) continue;
        bl->alloc_count[s] += (uint64_t)wcount;
        bl->alloc_bytes[s] += abytes;
        bl->alloc_samples[s] += 1;
        bl->total_count += (uint64_t)wcount;
        bl->total_bytes += abytes;
        bl->total_samples += 1;
        if (r != 0) continue; /* not in the live table: its free will not be seen either */
        bl->live_bytes[s] += wbytes;
        bl->live_count[s] += wcount;
        bl->live_samples[s] += 1;
        bl->current += wbytes;
        if (bl->current > bl->peak) {
            bl->peak = bl->current;
            int64_t margin = bl->snap_current / 100;
            if (margin < PEAK_MARGIN_MIN) margin = PEAK_MARGIN_MIN;
            if (bl->current >= bl->snap_current + margin) block_snapshot(bl);
        }
    }
}

static inline int should_record(void) {
    return recording > 0 && !suspended && !in_hook && !degraded;
}

static inline int should_record_nohook(void) {
    return recording > 0 && !suspended && !degraded;
}

/* -- sampled mode's hooks: the fast paths are inline, the rest out of line ---------------
 * The countdown moves with every allocation the hooks see, recorded or not (suspended, inside
 * a hook, between end() and release()): the marks are a Poisson process over all bytes, so the
 * distance to the next mark at any recorded allocation is still exponential with mean T. */
#define NOINLINE __attribute__((noinline))

static NOINLINE void sampled_alloc_slow(void *p, size_t size, int obj) {
    sample_countdown = sample_gap();
    if (p == NULL || !should_record()) return;
    in_hook = 1;
    record_alloc(p, size, size, obj);
    in_hook = 0;
}

/* a realloc: the free of the old block (looked up only when it may be a sample) and an
 * allocation of `size` bytes in the sampled stream */
static NOINLINE void sampled_realloc_slow(void *old, void *p, size_t size, int obj, int had) {
    int take = sample_countdown <= 0;
    if (take) sample_countdown = sample_gap();
    if (p == NULL || in_hook) return; /* failed: the old block is still there */
    in_hook = 1;
    if (had && live_len != 0) record_free(old, 0);
    if (take && should_record_nohook()) record_alloc(p, size, size, obj);
    in_hook = 0;
}

static NOINLINE void sampled_free_slow(void *ptr, int peek) {
    if (in_hook || live_len == 0) return;
    in_hook = 1;
    record_free(ptr, peek);
    in_hook = 0;
}

/* What every hook does around the allocator it chains to: Python's two domains below, and
 * numpy's data handler further down. */
static inline void hook_alloc(void *p, size_t size, int obj) {
    if (sample_T) { /* the fast path of sampled mode: no sampled byte in this block */
        sample_countdown -= (int64_t)size;
        if (sample_countdown <= 0) sampled_alloc_slow(p, size, obj);
        return;
    }
    if (p != NULL && should_record()) {
        in_hook = 1;
        record_alloc(p, size, size, obj);
        in_hook = 0;
    }
}

static inline void hook_realloc(void *old, void *p, size_t size, int obj) {
    if (sample_T) {
        int had = old != NULL && MAY_BE_SAMPLED(old);
        sample_countdown -= (int64_t)size;
        if (had || sample_countdown <= 0) sampled_realloc_slow(old, p, size, obj, had);
        return;
    }
    if (p == NULL || in_hook || (live_len == 0 && !should_record_nohook())) return;
    in_hook = 1;
    size_t grown = size;
    if (old != NULL) {
        mh_entry *e = live_find(old, NULL);
        if (e != NULL) {
            size_t was = E_SIZE(e);
            grown = size > was ? size - was : 0;
            record_free(old, 0);
        }
    }
    if (should_record_nohook()) record_alloc(p, size, grown, obj);
    in_hook = 0;
}

/* peek: as for record_free (objects' memory may be read for the freed-strings count) */
static inline void hook_free(void *ptr, int peek) {
    if (filter != NULL) { /* sampled mode: only a pointer the filter may hold is looked up */
        if (ptr != NULL && MAY_BE_SAMPLED(ptr)) sampled_free_slow(ptr, peek);
        return;
    }
    if (ptr != NULL && !in_hook && live_len != 0) {
        in_hook = 1;
        record_free(ptr, peek);
        in_hook = 0;
    }
}

#define HOOKS(NAME, PREV, OBJ)                                                                \
    static void *NAME##_malloc(void *ctx, size_t size) {                                   \
        (void)ctx;                                                                         \
        if (probing) probe_seen |= 1 << OBJ;                                               \
        void *p = PREV.malloc(PREV.ctx, size);                                             \
        hook_alloc(p, size, OBJ);                                                          \
        return p;                                                                          \
    }                                                                                      \
    static void *NAME##_calloc(void *ctx, size_t nelem, size_t elsize) {                   \
        (void)ctx;                                                                         \
        void *p = PREV.calloc(PREV.ctx, nelem, elsize);                                    \
        hook_alloc(p, nelem * elsize, OBJ);                                                \
        return p;                                                                          \
    }                                                                                      \
    static void *NAME##_realloc(void *ctx, void *old, size_t size) {                       \
        (void)ctx;                                                                         \
        void *p = PREV.realloc(PREV.ctx, old, size);                                       \
        hook_realloc(old, p, size, OBJ);                                                   \
        return p;                                                                          \
    }                                                                                      \
    static void NAME##_free(void *ctx, void *ptr) {                                        \
        (void)ctx;                                                                         \
        hook_free(ptr, OBJ);                                                               \
        PREV.free(PREV.ctx, ptr);                                                          \
    }

HOOKS(mem, prev_mem, 0)
HOOKS(obj, prev_obj, 1)

/* -- numpy's data buffers ----------------------------------------------------------------
 * numpy allocates array data with its own handler (NEP 49), straight from malloc: none of it
 * passes through the domains hooked above, and a DataFrame's columns would be invisible. From
 * numpy 1.22 the handler can be replaced, per context (a ContextVar): ours records and chains
 * to the one it found. An array keeps the handler that allocated it and frees through it, so
 * ours, once handed out, stays a valid pass-through for good (the capsules are never freed).
 * The layouts below are numpy's PyDataMem_Handler; the functions come from its C-API table
 * (slots 304 and 305 since 1.22), so nothing is compiled against numpy. */
typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr, size_t size);
} np_allocator;
typedef struct {
    char name[127];
    uint8_t version;
    np_allocator allocator;
} np_handler;
#define NP_API_SET_HANDLER 304
#define NP_API_GET_HANDLER 305
#define NP_API_FEATURE_VERSION 211
#define NP_FEATURE_1_22 0x0000000f

static PyObject *(*np_set_handler)(PyObject *) = NULL;
static PyObject *(*np_get_handler)(void) = NULL;
static PyObject *np_prev_capsule = NULL, *np_our_capsule = NULL;
static np_handler np_ours;
static const np_handler *np_prev = NULL;

/* numpy may allocate and free without the GIL (in its own threads): those calls are passed
 * through unrecorded, since the live table is guarded by the GIL. */
static void *np_malloc(void *ctx, size_t size) {
    void *p = np_prev->allocator.malloc(np_prev->allocator.ctx, size);
    if (PyGILState_Check()) hook_alloc(p, size, 0);
    return p;
}

static void *np_calloc(void *ctx, size_t nelem, size_t elsize) {
    void *p = np_prev->allocator.calloc(np_prev->allocator.ctx, nelem, elsize);
    if (PyGILState_Check()) hook_alloc(p, nelem * elsize, 0);
    return p;
}

static void *np_realloc(void *ctx, void *old, size_t size) {
    void *p = np_prev->allocator.realloc(np_prev->allocator.ctx, old, size);
    if (PyGILState_Check()) hook_realloc(old, p, size, 0);
    return p;
}

static void np_free(void *ctx, void *ptr, size_t size) {
    if (PyGILState_Check()) hook_free(ptr, 0);
    np_prev->allocator.free(np_prev->allocator.ctx, ptr, size);
}

/* numpy_hook(api) -> bool: make ours numpy's handler in this context (api: numpy's _ARRAY_API
 * capsule). False when this numpy is older than 1.22 or its handler is not one we can wrap. */
static PyObject *py_numpy_hook(PyObject *self, PyObject *capsule) {
    if (np_our_capsule == NULL) {
        void **api = PyCapsule_GetPointer(capsule, NULL);
        if (api == NULL) return NULL;
        unsigned int (*feature)(void) = (unsigned int (*)(void))api[NP_API_FEATURE_VERSION];
        if (feature == NULL || feature() < NP_FEATURE_1_22) Py_RETURN_FALSE;
        np_set_handler = (PyObject * (*)(PyObject *)) api[NP_API_SET_HANDLER];
        np_get_handler = (PyObject * (*)(void)) api[NP_API_GET_HANDLER];
        if (np_set_handler == NULL || np_get_handler == NULL) Py_RETURN_FALSE;
        PyObject *prev = np_get_handler();
        if (prev == NULL) return NULL;
        const np_handler *h = PyCapsule_GetPointer(prev, "mem_handler");
        if (h == NULL || h->version != 1) {
            Py_DECREF(prev);
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
        np_prev_capsule = prev; /* kept for good: arrays we allocate free through it */
        np_prev = h;
        memset(&np_ours, 0, sizeof(np_ours));
        snprintf(np_ours.name, sizeof(np_ours.name), "memhound(%.100s)", h->name);
        np_ours.version = 1;
        np_ours.allocator = (np_allocator){NULL, np_malloc, np_calloc, np_realloc, np_free};
        np_our_capsule = PyCapsule_New(&np_ours, "mem_handler", NULL);
        if (np_our_capsule == NULL) return NULL;
    }
    PyObject *cur = np_get_handler();
    if (cur == NULL) return NULL;
    int ours = cur == np_our_capsule, same = cur == np_prev_capsule;
    Py_DECREF(cur);
    if (ours) Py_RETURN_TRUE;
    if (!same) Py_RETURN_FALSE; /* someone else's handler since: leave it alone */
    PyObject *old = np_set_handler(np_our_capsule);
    if (old == NULL) return NULL;
    Py_DECREF(old);
    Py_RETURN_TRUE;
}

/* Put numpy's own handler back in this context, if ours is the current one. */
static void numpy_unhook(void) {
    if (np_our_capsule == NULL) return;
    PyObject *cur = np_get_handler();
    if (cur == NULL) {
        PyErr_Clear();
        return;
    }
    int ours = cur == np_our_capsule;
    Py_DECREF(cur);
    if (!ours) return;
    PyObject *old = np_set_handler(np_prev_capsule);
    if (old == NULL)
        PyErr_Clear();
    else
        Py_DECREF(old);
}

static int numpy_hooked(void) {
    if (np_our_capsule == NULL) return 0;
    PyObject *cur = np_get_handler();
    if (cur == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ours = cur == np_our_capsule;
    Py_DECREF(cur);
    return ours;
}

static int hooks_are_ours(void) {
    PyMemAllocatorEx cur_mem, cur_obj;
    PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &cur_mem);
    PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &cur_obj);
    return cur_mem.malloc == mem_malloc && cur_obj.malloc == obj_malloc;
}

/* Which of our hooks an allocation still passes through (bit 0: MEM, bit 1: OBJ). Left in
 * the chain under someone else's hooks, ours may since have been dropped by them (tracemalloc
 * stopped restores what it found when it started). */
static int hooks_in_chain(void) {
    probing = 1;
    probe_seen = 0;
    PyMem_Free(PyMem_Malloc(1));
    PyObject_Free(PyObject_Malloc(1));
    probing = 0;
    return probe_seen;
}

static void install(void) {
    /* a domain whose chain still holds our hook must not get a second one (it would call
     * itself): only the domains we have left are hooked again */
    int present = installed ? hooks_in_chain() : 0;
    hook_mem = (PyMemAllocatorEx){NULL, mem_malloc, mem_calloc, mem_realloc, mem_free};
    hook_obj = (PyMemAllocatorEx){NULL, obj_malloc, obj_calloc, obj_realloc, obj_free};
    if (!(present & 1)) {
        PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &prev_mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &hook_mem);
    }
    if (!(present & 2)) {
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &prev_obj);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &hook_obj);
    }
    installed = 1;
}

/* Stop recording and drop every table. The hooks leave the chain when they are still on top
 * of it; when someone hooked in after us (tracemalloc started inside a block, say), removing
 * ours would unhook theirs too, so ours stay as a pass-through that only forwards. */
static void uninstall_and_clear(void) {
    if (installed && hooks_are_ours()) {
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &prev_mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &prev_obj);
        installed = 0;
    } else if (installed && hooks_in_chain() == 0) {
        installed = 0; /* someone took ours out of the chain already */
    }
    live_clear();
    epoch = 1;
    free(big);
    big = NULL;
    big_len = big_cap = 0;
    size_t n = site_len;
    mh_frame *frames = site_frames;
    uint16_t *ns = site_n;
    site_frames = NULL;
    site_n = NULL;
    free(site_hash);
    site_hash = NULL;
    free(site_index);
    site_index = NULL;
    site_len = site_cap = site_index_cap = 0;
    degraded = 0;
    free(filter);
    filter = NULL;
    sample_T = 0;
    sample_countdown = 0;
    for (size_t s = 0; s < n; s++)
        for (int i = 0; i < ns[s]; i++) Py_DECREF((PyObject *)frames[(size_t)s * (size_t)nframes + i].code);
    free(frames);
    free(ns);
}

/* -- Python API ------------------------------------------------------------------------ */
static PyObject *py_start(PyObject *self, PyObject *args) {
    int frames;
    long long interval = 0;
    unsigned long long seed = 0;
    if (!PyArg_ParseTuple(args, "i|LK", &frames, &interval, &seed)) return NULL;
    if (interval < 0) {
        PyErr_SetString(PyExc_ValueError, "the sampling interval must be >= 0 (0: exact)");
        return NULL;
    }
    if (!MEMHOUND_NATIVE_SUPPORTED) {
        PyErr_SetString(PyExc_RuntimeError, "free-threaded builds are not supported");
        return NULL;
    }
    int slot = -1;
    for (int b = 0; b < MAX_BLOCKS; b++)
        if (!blocks[b].in_use) {
            slot = b;
            break;
        }
    if (slot < 0) {
        PyErr_SetString(PyExc_RuntimeError, "too many nested profile blocks (32)");
        return NULL;
    }
    int first = 1;
    for (int b = 0; b < MAX_BLOCKS; b++)
        if (blocks[b].in_use) first = 0;
    if (first) {
        if (frames < 1) frames = 1;
        nframes = frames > MAX_FRAMES ? MAX_FRAMES : frames;
        free(filter); /* left by a first block that could not start */
        filter = NULL;
        sample_T = 0;
        if (interval > 0) { /* nested blocks take the outermost one's mode, as its frames */
            filter = calloc(FILTER_SIZE, 1);
            if (filter == NULL) return PyErr_NoMemory();
            sample_T = (int64_t)interval;
            rng_seed = (uint64_t)seed;
            rng_seed_now();
            sample_countdown = sample_gap();
        }
    }
    mh_block *bl = &blocks[slot];
    memset(bl, 0, sizeof(*bl));
    if (block_fit(bl, site_len + 1) < 0) {
        block_free(bl);
        return PyErr_NoMemory();
    }
    epoch_advance();
    bl->in_use = 1;
    bl->active = 1;
    bl->start_epoch = epoch;
    count_slots();
    if (first) install();
    recording++;
    return Py_BuildValue("(ii)", slot, nframes);
}

static mh_block *get_block(PyObject *args) {
    int slot;
    if (!PyArg_ParseTuple(args, "i", &slot)) return NULL;
    if (slot < 0 || slot >= MAX_BLOCKS || !blocks[slot].in_use) {
        PyErr_SetString(PyExc_ValueError, "no such profile block");
        return NULL;
    }
    return &blocks[slot];
}

/* end(block): stop counting for the block; its live objects can still be looked up. */
static PyObject *py_end(PyObject *self, PyObject *args) {
    mh_block *bl = get_block(args);
    if (bl == NULL) return NULL;
    if (bl->active) {
        epoch_advance();
        bl->end_epoch = epoch;
        bl->active = 0;
        recording--;
    }
    Py_RETURN_NONE;
}

static PyObject *py_suspend(PyObject *self, PyObject *args) {
    suspended++;
    Py_RETURN_NONE;
}

static PyObject *py_resume(PyObject *self, PyObject *args) {
    if (suspended > 0) suspended--;
    Py_RETURN_NONE;
}

/* Where an object's memory block starts: GC objects carry a header (and, from 3.11, pointers
 * for a managed __dict__ / weakref list) in front of the address id() gives. */
static void *alloc_address(PyObject *op) {
    PyTypeObject *tp = Py_TYPE(op);
    size_t pre = 0;
    if (PyType_IS_GC(tp)) pre += GC_HEAD_SIZE;
#if PY_VERSION_HEX >= 0x030C0000
    if (tp->tp_flags & (Py_TPFLAGS_MANAGED_DICT | Py_TPFLAGS_MANAGED_WEAKREF))
        pre += 2 * sizeof(PyObject *);
#elif PY_VERSION_HEX >= 0x030B0000
    if (tp->tp_flags & Py_TPFLAGS_MANAGED_DICT) pre += 2 * sizeof(PyObject *);
#endif
    return (char *)op - pre;
}

/* new_objects(block, objects) -> [(object, site, size)] for the objects allocated while the
 * block was counting and still alive. */
static PyObject *py_new_objects(PyObject *self, PyObject *args) {
    int slot;
    PyObject *seq;
    if (!PyArg_ParseTuple(args, "iO", &slot, &seq)) return NULL;
    if (slot < 0 || slot >= MAX_BLOCKS || !blocks[slot].in_use) {
        PyErr_SetString(PyExc_ValueError, "no such profile block");
        return NULL;
    }
    mh_block *bl = &blocks[slot];
    PyObject *fast = PySequence_Fast(seq, "objects must be a sequence");
    if (fast == NULL) return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        Py_DECREF(fast);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject **items = PySequence_Fast_ITEMS(fast);
    suspended++;
    for (Py_ssize_t i = 0; i < n; i++) {
        mh_entry *e = live_find(alloc_address(items[i]), NULL);
        if (e == NULL || !in_block(bl, e)) continue;
        PyObject *t = Py_BuildValue("(OIn)", items[i], E_SITE(e), (Py_ssize_t)E_SIZE(e));
        if (t == NULL || PyList_Append(out, t) < 0) {
            Py_XDECREF(t);
            Py_DECREF(out);
            Py_DECREF(fast);
            suspended--;
            return NULL;
        }
        Py_DECREF(t);
    }
    suspended--;
    Py_DECREF(fast);
    return out;
}

static PyObject *pair(uint64_t a, int64_t b) {
    return Py_BuildValue("(KL)", (unsigned long long)a, (long long)b);
}

/* results(block) -> dict: allocated, retained and at-peak counters by site, totals, sites. */
static PyObject *py_results(PyObject *self, PyObject *args) {
    mh_block *bl = get_block(args);
    if (bl == NULL) return NULL;
    size_t n = site_len;
    suspended++;
    PyObject *out = NULL, *allocated = NULL, *retained = NULL, *at_peak = NULL, *sites = NULL;
    PyObject *strings = NULL;
    PyObject *samples = NULL;
    uint64_t *ret_count = calloc(n + 1, sizeof(uint64_t));
    uint64_t *ret_bytes = calloc(n + 1, sizeof(uint64_t));
    uint64_t *ret_samples = calloc(n + 1, sizeof(uint64_t));
    char *used = calloc(n + 1, 1);
    if (ret_count == NULL || ret_bytes == NULL || ret_samples == NULL || used == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t retained_count = 0, retained_bytes = 0, retained_samples = 0;
    for (int k = 0; k < NSHARDS; k++) {
        mh_shard *sh = &shards[k];
        for (size_t i = 0; i < sh->cap; i++) {
            mh_entry *e = &sh->t[i];
            if (!E_USED(e) || !in_block(bl, e)) continue;
            int64_t size, count;
            sample_weights(E_SIZE(e), &size, &count);
            ret_count[E_SITE(e)] += (uint64_t)count;
            ret_bytes[E_SITE(e)] += (uint64_t)size;
            ret_samples[E_SITE(e)] += 1;
            retained_count += (uint64_t)count;
            retained_bytes += (uint64_t)size;
            retained_samples += 1;
        }
    }
    allocated = PyDict_New();
    retained = PyDict_New();
    at_peak = PyDict_New();
    sites = PyDict_New();
    samples = PyDict_New();
    if (!allocated || !retained || !at_peak || !sites || !samples) goto done;
    /* sampled mode: counts are in 1/COUNT_ONE objects; samples[site] = (allocated, retained,
     * at the peak) samples */
#define CNT(c) (sample_T ? ((uint64_t)(c) + COUNT_ONE / 2) / COUNT_ONE : (uint64_t)(c))
#define PUT(d, s, a, b)                                                     \
    do {                                                                    \
        PyObject *k_ = PyLong_FromSize_t(s), *v_ = pair((a), (b));          \
        int r_ = (k_ && v_) ? PyDict_SetItem((d), k_, v_) : -1;             \
        Py_XDECREF(k_);                                                     \
        Py_XDECREF(v_);                                                     \
        if (r_ < 0) goto done;                                              \
        used[s] = 1;                                                        \
    } while (0)
    for (size_t s = 0; s < n && s < bl->cap; s++) {
        if (bl->alloc_count[s])
            PUT(allocated, s, CNT(bl->alloc_count[s]), (int64_t)bl->alloc_bytes[s]);
        if (ret_count[s]) PUT(retained, s, CNT(ret_count[s]), (int64_t)ret_bytes[s]);
        if (bl->snap_count[s] > 0 && bl->snap_bytes[s] > 0)
            PUT(at_peak, s, CNT(bl->snap_count[s]), bl->snap_bytes[s]);
        if (sample_T && used[s]) {
            PyObject *k_ = PyLong_FromSize_t(s);
            PyObject *v_ = Py_BuildValue(
                "(KKL)", (unsigned long long)bl->alloc_samples[s],
                (unsigned long long)ret_samples[s],
                (long long)(bl->snap_samples[s] > 0 ? bl->snap_samples[s] : 0));
            int r_ = (k_ && v_) ? PyDict_SetItem(samples, k_, v_) : -1;
            Py_XDECREF(k_);
            Py_XDECREF(v_);
            if (r_ < 0) goto done;
        }
    }
#undef PUT
    strings = PyList_New(0);
    if (strings == NULL) goto done;
    for (size_t i = 0; i < bl->str_cap; i++) {
        mh_string *st = &bl->strings[i];
        if (!st->used || st->site >= n) continue;
        PyObject *t = Py_BuildValue("(y#inIKK)", st->data, (Py_ssize_t)st->ndata, (int)st->kind,
                                    st->length, st->site, (unsigned long long)st->count,
                                    (unsigned long long)st->bytes);
        if (t == NULL || PyList_Append(strings, t) < 0) {
            Py_XDECREF(t);
            goto done;
        }
        Py_DECREF(t);
        used[st->site] = 1;
    }
    for (size_t s = 0; s < n; s++) {
        if (!used[s]) continue;
        PyObject *frames = PyTuple_New(site_n[s]);
        if (frames == NULL) goto done;
        for (int i = 0; i < site_n[s]; i++) {
            mh_frame *f = &site_frames[s * (size_t)nframes + i];
            PyObject *t = Py_BuildValue("(Oi)", (PyObject *)f->code, f->offset);
            if (t == NULL) {
                Py_DECREF(frames);
                goto done;
            }
            PyTuple_SET_ITEM(frames, i, t);
        }
        PyObject *k = PyLong_FromSize_t(s);
        int r = k ? PyDict_SetItem(sites, k, frames) : -1;
        Py_XDECREF(k);
        Py_DECREF(frames);
        if (r < 0) goto done;
    }
    out = Py_BuildValue(
        "{s:O,s:O,s:O,s:O,s:O,s:K,s:K,s:K,s:K,s:K,s:L,s:L,s:i,s:i,s:L,s:O,s:K,s:K}",
        "allocated", allocated,
        "retained", retained, "at_peak", at_peak, "sites", sites, "freed_strings", strings,
        "freed_strings_dropped", (unsigned long long)bl->str_dropped, "allocated_count",
        (unsigned long long)CNT(bl->total_count), "allocated_bytes",
        (unsigned long long)bl->total_bytes, "retained_count",
        (unsigned long long)CNT(retained_count), "retained_bytes",
        (unsigned long long)retained_bytes, "peak_bytes", (long long)bl->peak, "peak_snapshot_bytes",
        (long long)bl->snap_current, "frames", nframes, "degraded", degraded, "sample_interval",
        (long long)sample_T, "samples", samples, "allocated_samples",
        (unsigned long long)bl->total_samples, "retained_samples",
        (unsigned long long)retained_samples);
#undef CNT
done:
    suspended--;
    free(ret_count);
    free(ret_bytes);
    free(ret_samples);
    free(used);
    Py_XDECREF(samples);
    Py_XDECREF(allocated);
    Py_XDECREF(retained);
    Py_XDECREF(at_peak);
    Py_XDECREF(sites);
    Py_XDECREF(strings);
    return out;
}

/* release(block): forget the block; the last one out removes the hooks and the tables. */
static PyObject *py_release(PyObject *self, PyObject *args) {
    mh_block *bl = get_block(args);
    if (bl == NULL) return NULL;
    if (bl->active) recording--;
    block_free(bl);
    count_slots();
    if (nslots > 0) Py_RETURN_NONE;
    recording = 0;
    uninstall_and_clear();
    numpy_unhook();
    Py_RETURN_NONE;
}

static PyObject *py_state(PyObject *self, PyObject *args) {
    int blocks_in_use = 0;
    for (int b = 0; b < MAX_BLOCKS; b++) blocks_in_use += blocks[b].in_use;
    return Py_BuildValue("{s:i,s:i,s:i,s:n,s:n,s:i,s:n,s:n,s:i,s:i,s:L}", "installed", installed,
                         "on_top", installed && hooks_are_ours(), "blocks", blocks_in_use,
                         "live", (Py_ssize_t)live_len, "live_peak", (Py_ssize_t)live_peak, "epoch", (int)epoch,
                         "live_table_bytes", (Py_ssize_t)live_table_bytes(), "sites",
                         (Py_ssize_t)site_len, "suspended", suspended, "numpy_hooked",
                         numpy_hooked(), "sample_interval", (long long)sample_T);
}

static PyMethodDef methods[] = {
    {"start", py_start, METH_VARARGS,
     "start(frames, interval=0, seed=0) -> (block, frames): begin a block; interval > 0 "
     "samples by bytes (the mean interval; nested blocks take the outermost's, see state())."},
    {"end", py_end, METH_VARARGS, "end(block): stop counting for the block."},
    {"suspend", py_suspend, METH_NOARGS, "Stop recording allocations (frees still count)."},
    {"resume", py_resume, METH_NOARGS, "Undo one suspend()."},
    {"new_objects", py_new_objects, METH_VARARGS,
     "new_objects(block, objects) -> [(object, site, size)] allocated in the block."},
    {"results", py_results, METH_VARARGS, "results(block) -> dict of counters by site."},
    {"release", py_release, METH_VARARGS, "release(block): forget it; unhook after the last."},
    {"state", py_state, METH_NOARGS, "Hooks, blocks and table sizes (for tests)."},
    {"numpy_hook", py_numpy_hook, METH_O,
     "numpy_hook(_ARRAY_API) -> bool: record numpy's data buffers in this context."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "memhound._native._alloc",
                                    "memhound's allocation engine (see _alloc.c).", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__alloc(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    static int atfork_done = 0;
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, after_fork_child);
        atfork_done = 1;
    }
    if (PyModule_AddIntConstant(m, "MAX_FRAMES", MAX_FRAMES) < 0 ||
        PyModule_AddIntConstant(m, "PEAK_MARGIN_MIN", PEAK_MARGIN_MIN) < 0 ||
        PyModule_AddIntConstant(m, "SUPPORTED", MEMHOUND_NATIVE_SUPPORTED) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
