/* The compiled search core: successor generation, the exact quotients, partial-order
 * reduction, fingerprints and breadth-first search, over states that are byte strings.
 *
 * It knows nothing of the model: the translated step functions come before this file
 * (dispatch_step, dispatch_guard, f_all_done), and everything about one configuration
 * (thread tables, the symmetry and POR parameters, the model's data) is in KD, an int32
 * array the Python side packs.  The layout of KD's header is HDR_* below and
 * mmuspec/native/build.py's pack(); both must change together.
 *
 * Every rule here mirrors the Python engine exactly (explore/bfs.py, explore/por.py,
 * model/symmetry.py): the same successors in the same order, the same representatives,
 * the same numbering of states, the same first witness per event, so that both engines
 * give the same counts and the same shortest traces.
 */

enum {
    HDR_WIDTH, HDR_NTHREADS, HDR_THREADS, HDR_DEADLOCK_ACTION, HDR_DEADLOCK_BIT_LO, HDR_DEADLOCK_BIT_HI,
    HDR_SEQ_ON, HDR_SEQ_INDEX, HDR_VCPUS_ON, HDR_NV, HDR_VBASES, HDR_VWIDTH, HDR_VSNAP, HDR_LIVE_LO,
    HDR_LIVE_HI, HDR_VALUES_ON, HDR_NVALUES, HDR_VALUE_FIELDS, HDR_LAST_WRITTEN, HDR_POR_ON, HDR_POR_NT,
    HDR_POR_PC_AT, HDR_POR_DONE, HDR_POR_BLOCKERS, HDR_ENGINE_END
};

/* ---- one state's successors ------------------------------------------------------ */

#define MAX_WIDTH 4096
#define MAX_OUT 512

typedef struct {
    int n;
    uint16_t action[MAX_OUT];
    uint64_t events[MAX_OUT];
    uint8_t *states; /* n * width bytes */
} Out;

/* memcmp's order; vCPU blocks are a few bytes, too short for a library call to pay */
static inline int cmp_blocks(const uint8_t *a, const uint8_t *b, int w) {
    for (int i = 0; i < w; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* model/symmetry.py: canon_seq, sort_vcpus, rename_values, in that order. */
static void canon(Cx *cx, uint8_t *m) {
    if (KD[HDR_SEQ_ON]) {
        int seq = m[KD[HDR_SEQ_INDEX]];
        uint64_t live = (uint64_t)(uint32_t)KD[HDR_LIVE_LO] | ((uint64_t)(uint32_t)KD[HDR_LIVE_HI] << 32);
        m[KD[HDR_SEQ_INDEX]] = 0;
        for (int i = 0; i < KD[HDR_NV]; i++) {
            int b = KD[KD[HDR_VBASES] + i];
            int snap = b + KD[HDR_VSNAP];
            if (m[b] < 64 && (live >> m[b] & 1))
                m[snap] = m[snap] == seq ? 0 : 255;
            else
                m[snap] = 0;
        }
    }
    if (KD[HDR_VCPUS_ON] && KD[HDR_NV] > 1) {
        int nv = KD[HDR_NV], w = KD[HDR_VWIDTH];
        int first = KD[KD[HDR_VBASES]];
        uint8_t tmp[MAX_WIDTH];
        /* insertion sort of the blocks, which are contiguous */
        for (int i = 1; i < nv; i++) {
            memcpy(tmp, m + first + i * w, (size_t)w);
            int j = i;
            while (j > 0 && cmp_blocks(m + first + (j - 1) * w, tmp, w) > 0) {
                memcpy(m + first + j * w, m + first + (j - 1) * w, (size_t)w);
                j--;
            }
            if (j != i) memcpy(m + first + j * w, tmp, (size_t)w);
        }
    }
    if (KD[HDR_VALUES_ON]) {
        /* names[v] is valid when named[v] == round: no clearing of 256 entries per call */
        uint8_t *names = cx->names;
        uint32_t *named = cx->named;
        uint32_t round = ++cx->round;
        if (round == 0) { memset(cx->named, 0, sizeof cx->named); round = cx->round = 1; }
        int count = 1;
        names[0] = 0; named[0] = round;
        for (int i = 0; i < KD[HDR_NVALUES]; i++) {
            int f = KD[KD[HDR_VALUE_FIELDS] + i];
            int v = m[f];
            if (named[v] != round) { named[v] = round; names[v] = (uint8_t)count++; }
            m[f] = names[v];
        }
        m[KD[HDR_LAST_WRITTEN]] = (uint8_t)(count - 1 > 1 ? count - 1 : 1);
    }
}


/* The steps of thread t enabled in s, each taken on a copy; returns -1 on a model error. */
static int thread_successors(Cx *cx, const uint8_t *s, int t, int canonical, Out *out) {
    int base = KD[KD[HDR_THREADS] + 4 * t];
    int npcs = KD[KD[HDR_THREADS] + 4 * t + 2];
    int pcs = KD[KD[HDR_THREADS] + 4 * t + 3];
    int pc = s[base];
    if (pc >= npcs) return 0;
    int start = KD[pcs + 2 * pc], count = KD[pcs + 2 * pc + 1];
    for (int i = 0; i < count; i++) {
        int e = start + 4 * i;
        int action = KD[e], step = KD[e + 1], guard = KD[e + 2], arg = KD[e + 3];
        if (guard >= 0) {
            ERR = 0;
            long ok = dispatch_guard(cx, guard, (uint8_t *)s, t, arg);
            if (ERR) return -1;
            if (!ok) continue;
        }
        if (out->n >= MAX_OUT) { ERR = ERR_TOO_MANY; return -1; }
        uint8_t *m = out->states + (size_t)out->n * (size_t)W;
        memcpy(m, s, (size_t)W);
        EV = 0;
        ERR = 0;
        dispatch_step(cx, step, m, t, arg);
        if (ERR) return -1;
        if (canonical) canon(cx, m);
        out->action[out->n] = (uint16_t)action;
        out->events[out->n] = EV;
        out->n++;
    }
    return 0;
}

static int all_successors(Cx *cx, const uint8_t *s, int canonical, Out *out) {
    out->n = 0;
    for (int t = 0; t < KD[HDR_NTHREADS]; t++)
        if (thread_successors(cx, s, t, canonical, out) < 0) return -1;
    if (out->n == 0) {
        ERR = 0;
        long done = f_all_done(cx, (uint8_t *)s);
        if (ERR) return -1;
        if (!done) {
            memcpy(out->states, s, (size_t)W);
            out->action[0] = (uint16_t)KD[HDR_DEADLOCK_ACTION];
            out->events[0] = (uint64_t)(uint32_t)KD[HDR_DEADLOCK_BIT_LO] |
                             ((uint64_t)(uint32_t)KD[HDR_DEADLOCK_BIT_HI] << 32);
            out->n = 1;
        }
    }
    return 0;
}

/* explore/por.py: the first candidate thread whose steps are enabled and all raise the
 * sum of program counters; 1 if out holds that reduced expansion. */
static int progress_of(Cx *cx, const uint8_t *s) {
    int sum = 0;
    for (int t = 0; t < KD[HDR_POR_NT]; t++) sum += s[KD[KD[HDR_POR_PC_AT] + t]];
    return sum;
}

static int reduced_successors(Cx *cx, const uint8_t *s, int canonical, Out *out) {
    int nt = KD[HDR_POR_NT];
    int before = -1;
    for (int t = 0; t < nt; t++) {
        int pc = s[KD[KD[HDR_POR_PC_AT] + t]];
        if (pc == KD[KD[HDR_POR_DONE] + t]) continue;
        /* blockers of (t, pc): KD[bl + 2*t] -> per-pc (offset, count) table */
        int table = KD[KD[HDR_POR_BLOCKERS] + 2 * t];
        int npc = KD[KD[HDR_POR_BLOCKERS] + 2 * t + 1];
        if (pc >= npc) continue;
        int off = KD[table + 2 * pc], cnt = KD[table + 2 * pc + 1];
        int alone = 1;
        for (int i = 0; i < cnt; i++) {
            int u = KD[off + i];
            if (s[KD[KD[HDR_POR_PC_AT] + u]] != KD[KD[HDR_POR_DONE] + u]) { alone = 0; break; }
        }
        if (!alone) continue;
        if (before < 0) before = progress_of(cx, s);
        out->n = 0;
        if (thread_successors(cx, s, t, canonical, out) < 0) return -1;
        if (out->n == 0) continue;
        int ok = 1;
        for (int i = 0; i < out->n && ok; i++)
            if (progress_of(cx, out->states + (size_t)i * (size_t)W) <= before) ok = 0;
        if (ok) return 1;
    }
    return 0;
}

static int expand(Cx *cx, const uint8_t *s, int canonical, int por, Out *out) {
    if (por && KD[HDR_POR_ON]) {
        int r = reduced_successors(cx, s, canonical, out);
        if (r != 0) return r < 0 ? -1 : 0;
    }
    return all_successors(cx, s, canonical, out);
}

/* ---- fingerprints ------------------------------------------------------------------ */

/* A wyhash-style fingerprint: one 64x64->128-bit multiply per 16 bytes, folded. */
static inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read8(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* One wyhash-style pass over the bytes, keyed by three constants. */
static inline uint64_t keyed_hash(const uint8_t *p, int n, uint64_t k0, uint64_t k1, uint64_t k2) {
    uint64_t h = k0 ^ (uint64_t)n;
    int i = 0;
    for (; i + 16 <= n; i += 16) h = mum(read8(p + i) ^ k1, read8(p + i + 8) ^ h);
    uint8_t tail[16] = {0};
    memcpy(tail, p + i, (size_t)(n - i));
    h = mum(read8(tail) ^ k1, read8(tail + 8) ^ h ^ k2);
    return mum(h ^ k1, (uint64_t)n ^ k2);
}

static uint64_t fingerprint(const uint8_t *p, int n) {
    uint64_t h = keyed_hash(p, n, 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL, 0x8ebc6af09c88c6e3ULL);
    return h ? h : 1; /* 0 marks an empty slot */
}

/* A second, independent 64-bit hash of the same bytes (other constants), for the compact
 * table, which keeps 56 bits of it and finds the rest of the identity in the bucket. */
static uint64_t fingerprint2(const uint8_t *p, int n) {
    return keyed_hash(p, n, 0x589965cc75374cc3ULL, 0x1d8e4e27c47d124fULL, 0xeb44accab455d165ULL);
}

/* ---- one configuration: a handle ------------------------------------------------------ */

/* The packed configuration (read-only once made), so that any number of them live in one
 * process and any number of threads read one at once.  Per-call scratch is a Cx. */
typedef struct Model { int32_t *kd; int w; } Model;

static void cx_init(Cx *cx, const Model *m) {
    cx->kd = m->kd; cx->w = m->w; cx->err = 0; cx->ev = 0; cx->round = 0;
    memset(cx->named, 0, sizeof cx->named);
}

EXPORT Model *ms_model_new(const int32_t *kd, int n, int *status) {
    *status = 0;
    if (n <= HDR_ENGINE_END || kd[HDR_WIDTH] > MAX_WIDTH || kd[HDR_WIDTH] <= 0) { *status = -2; return NULL; }
    Model *m = calloc(1, sizeof *m);
    if (m) m->kd = malloc((size_t)n * sizeof(int32_t));
    if (!m || !m->kd) { free(m); *status = -1; return NULL; }
    memcpy(m->kd, kd, (size_t)n * sizeof(int32_t));
    m->w = kd[HDR_WIDTH];
    return m;
}

EXPORT void ms_model_free(Model *m) {
    if (!m) return;
    free(m->kd);
    free(m);
}

EXPORT int ms_width(const Model *m) { return m->w; }

/* Successors of one state, for tests and the interpreter's cross-checks; thread-safe. */
EXPORT int ms_successors(const Model *m, const uint8_t *s, int canonical, int por, uint8_t *states,
                         uint16_t *actions, uint64_t *events, int max_out) {
    Cx cx_; Cx *cx = &cx_;
    cx_init(cx, m);
    Out *out = malloc(sizeof *out);
    if (!out) return -100;
    out->states = malloc((size_t)MAX_OUT * (size_t)m->w);
    if (!out->states) { free(out); return -100; }
    int r;
    if (expand(cx, s, canonical, por, out) < 0) r = -ERR - 1;
    else if (out->n > max_out) r = -100;
    else {
        memcpy(states, out->states, (size_t)out->n * (size_t)W);
        memcpy(actions, out->action, (size_t)out->n * sizeof(uint16_t));
        memcpy(events, out->events, (size_t)out->n * sizeof(uint64_t));
        r = out->n;
    }
    free(out->states);
    free(out);
    return r;
}

EXPORT uint64_t ms_fingerprint(const Model *m, const uint8_t *s) { return fingerprint(s, m->w); }

/* ---- the visited set ------------------------------------------------------------------- */

/* Buckets of 8 slots, one cache line each; a state's home bucket is its fingerprint scaled
 * to the bucket count (so the count need not be a power of two), and a full bucket spills
 * into the next (linear probing by buckets).  Slots are only ever filled, in probe order, so
 * a state is present iff it appears before the first empty slot of its probe sequence; a
 * slot is claimed with a compare-and-swap, which lets threads insert at once.
 *
 * Growable tables (the default) keep the whole 64-bit fingerprint, so they can be rehashed
 * into a bigger table.  A compact table (a memory budget is given) has a fixed size and
 * keeps, per state, 56 bits of a second, independent hash and the state's distance from its
 * home bucket: the home bucket stands for log2(buckets) more bits of identity, so a
 * 1e9-state table tells states apart by about 56 + 27 bits in 8 bytes. */
#define BUCKET 8
#define MAX_DISP 254

typedef struct {
    uint64_t *slots;
    size_t nb;           /* buckets */
    size_t used, limit;  /* states held; the most it may hold */
    int compact;
} Table;

static inline size_t home_of(uint64_t h1, size_t nb) { return (size_t)(((__uint128_t)h1 * nb) >> 64); }
static inline uint64_t want_of(const Table *t, uint64_t h1, uint64_t h2, size_t d) {
    return t->compact ? ((h2 & ~(uint64_t)0xFF) | (uint64_t)(d + 1)) : h1;
}

/* Slots come zeroed from the kernel, page by page as they are first touched, in huge
 * pages where the kernel allows: a probe is a random access, and 4 KB pages would make
 * most of them a TLB miss as well as a cache miss. */
static uint64_t *slots_map(size_t nb) {
    size_t size = nb * BUCKET * sizeof(uint64_t);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (size >= (size_t)2 << 20) (void)madvise(p, size, MADV_HUGEPAGE);
    return p;
}

static void slots_unmap(uint64_t *slots, size_t nb) {
    if (slots) munmap(slots, nb * BUCKET * sizeof(uint64_t));
}

static int table_new(Table *t, size_t nb, int compact, double max_load) {
    t->nb = nb < 1 ? 1 : nb;
    t->slots = slots_map(t->nb);
    if (!t->slots) return -1;
    t->used = 0;
    t->compact = compact;
    t->limit = (size_t)((double)(t->nb * BUCKET) * max_load);
    return 0;
}

static inline void table_prefetch(const Table *t, uint64_t h1) {
    __builtin_prefetch(t->slots + home_of(h1, t->nb) * BUCKET);
}

/* 1 if present; else 0 with *at the first empty slot (NULL: nowhere within MAX_DISP) and
 * *disp its bucket's distance from home.  Not to be called while others insert. */
static inline int table_find(const Table *t, uint64_t h1, uint64_t h2, uint64_t **at, size_t *disp) {
    size_t b = home_of(h1, t->nb);
    for (size_t d = 0;; d++) {
        uint64_t want = want_of(t, h1, h2, d), *bk = t->slots + b * BUCKET;
        for (int i = 0; i < BUCKET; i++) {
            if (bk[i] == want) return 1;
            if (!bk[i]) { *at = bk + i; *disp = d; return 0; }
        }
        if (++b == t->nb) b = 0;
        if (t->compact && d == MAX_DISP) { *at = NULL; return 0; }
    }
}

/* Insert a state known to be absent, while other threads insert other states: 1 when it
 * went in, 0 when an equal entry was found (a compact table's identity is coarser than the
 * fingerprints the threads compared), -1 when its probe sequence is full. */
static int table_insert_shared(Table *t, uint64_t h1, uint64_t h2) {
    size_t b = home_of(h1, t->nb);
    for (size_t d = 0;; d++) {
        uint64_t want = want_of(t, h1, h2, d), *bk = t->slots + b * BUCKET;
        for (int i = 0; i < BUCKET; i++) {
            uint64_t v = __atomic_load_n(bk + i, __ATOMIC_RELAXED);
            if (!v) {
                if (__atomic_compare_exchange_n(bk + i, &v, want, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return 1;
            }
            if (v == want) return 0;
        }
        if (++b == t->nb) b = 0;
        if (t->compact && d == MAX_DISP) return -1;
    }
}

/* Twice the buckets (growable tables only); `exact` whole states move with their slots. */
static int table_grow(Table *t, uint8_t **exact, int w) {
    Table bigger;
    if (table_new(&bigger, t->nb * 2, 0, (double)t->limit / (double)(t->nb * BUCKET)) < 0) return -1;
    uint8_t *moved = NULL;
    if (exact && *exact) {
        moved = malloc(bigger.nb * BUCKET * (size_t)w);
        if (!moved) { slots_unmap(bigger.slots, bigger.nb); return -1; }
    }
    for (size_t j = 0; j < t->nb * BUCKET; j++) {
        if (j + 4 * BUCKET < t->nb * BUCKET && t->slots[j + 4 * BUCKET]) table_prefetch(&bigger, t->slots[j + 4 * BUCKET]);
        uint64_t v = t->slots[j];
        if (!v) continue;
        uint64_t *at; size_t d;
        table_find(&bigger, v, 0, &at, &d);
        *at = v;
        if (moved) memcpy(moved + (size_t)(at - bigger.slots) * (size_t)w, *exact + j * (size_t)w, (size_t)w);
    }
    bigger.used = t->used;
    slots_unmap(t->slots, t->nb);
    *t = bigger;
    if (moved) { free(*exact); *exact = moved; }
    return 0;
}

/* ---- a barrier that spins before it sleeps --------------------------------------------
 *
 * The threads meet three times a segment, after a wait of about one task for the last one.
 * A thread that sleeps (as in pthread_barrier_wait) must then be woken, and waking an idle
 * CPU costs about as much as a task, more in a virtual machine; so a thread first spins
 * for up to SPIN_SECONDS, then sleeps on a futex. */
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#else
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif
#define SPIN_SECONDS 0.002

typedef struct { unsigned count, gen, n; } Barrier;

static double now(void);

static void barrier_init(Barrier *b, unsigned n) { b->count = 0; b->gen = 0; b->n = n; }

static void barrier_wait(Barrier *b) {
    unsigned gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == __atomic_load_n(&b->n, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&b->gen, 1, __ATOMIC_RELEASE);
#ifdef __linux__
        syscall(SYS_futex, &b->gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
#endif
        return;
    }
    double until = now() + SPIN_SECONDS;
    for (int i = 1;; i++) {
        if (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) != gen) return;
        cpu_relax();
        if (i % 256 == 0 && now() > until) break;
    }
    while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen) {
#ifdef __linux__
        syscall(SYS_futex, &b->gen, FUTEX_WAIT_PRIVATE, gen, NULL, NULL, 0);
#else
        sched_yield();
#endif
    }
}

/* ---- breadth-first search ------------------------------------------------------------ */

/* A cache of the successors a thread made last, by fingerprint, in a small direct-mapped
 * table: most of a level's duplicates are made a few states apart (two orders of two
 * steps), and the second is dropped here, from the cache, instead of being looked up in
 * the visited table.  An entry is only ever a state this thread made earlier in the
 * search, which is in the table or (in the threaded search) a candidate of its with a
 * smaller key; so dropping its repeats changes nothing.  Not with --exact, where equal
 * fingerprints do not make equal states. */
#define RECENT 8192
static inline int recent_repeat(uint64_t *recent, uint64_t h1, uint64_t h2) {
    uint64_t *e = recent + 2 * ((size_t)(h1 >> 7) & (RECENT - 1));
    if (e[0] == h1 && e[1] == h2) return 1;
    e[0] = h1; e[1] = h2;
    return 0;
}

/* Successors of several states wait here before they are looked up, so that the table
 * buckets they will probe can be fetched from memory while earlier ones are probed (the
 * probe is a cache miss per transition, most of a search's time); they are inserted in
 * order, as one by one.  A bucket is fetched AHEAD insertions before its own: fetching a
 * whole batch's at once, as they were made, left the fetches waiting on each other (on a
 * 100 M-state search, half the loop's time was spent in them). */
#define BATCH 256
#define AHEAD 12
typedef struct {
    int n;
    uint8_t *states;
    uint64_t fp[BATCH + MAX_OUT], events[BATCH + MAX_OUT];
    uint32_t src[BATCH + MAX_OUT];
    uint16_t action[BATCH + MAX_OUT];
} Batch;

/* A level of the frontier: in memory, or in a file (a compact search, whose frontier and
 * parent links stay on disk so that memory holds the visited set alone). */
typedef struct {
    uint8_t *mem; size_t n, cap;
    int fd;
} Level;

struct Worker;

typedef struct Search {
    const Model *model;
    Cx cx;
    Table table;
    uint8_t *exact; int exact_mode;          /* with --exact: whole states, by slot */
    uint32_t *parent; uint16_t *via; size_t n, n_cap;
    int parents_fd;                          /* >= 0: parent links on disk, 6 bytes a state */
    Level cur, nxt;
    size_t cur_pos, cur_base;                /* where in the current level we are */
    long long transitions;
    int level, canonical, por, max_depth, stop_on_violation, chunk;
    long long max_states;
    uint64_t seen, property_bits, all_bits;
    long long witness_src[64]; int witness_action[64];
    int status;                              /* 0 running, 1 complete, 2 stopped, 3 error */
    int stop_reason;                         /* 1 depth, 2 states, 3 violation, 4 table full */
    int err;
    Out out;
    Batch *batch;
    uint64_t *recent;                        /* the serial loop's recent_repeat cache (NULL: --exact) */
    /* the level-synchronous search with threads */
    int nthreads, parallel;
    struct Worker *workers;
    Barrier go, done;
    int phase;
    size_t next_task;
    struct Task *tasks; size_t ntasks, tasks_cap;
    uint8_t *segbuf; size_t segbuf_cap;
    const uint8_t *seg;                      /* the segment's states */
    size_t seg_start, seg_end;
    int parts;                               /* threads sharing the segment's insertions */
    size_t segment;                          /* states a segment (SEGMENT unless set) */
    uint8_t *out_states; uint32_t *out_parent; uint16_t *out_via; size_t out_cap;
    long long *chunk_trans; size_t *chunk_fresh; size_t chunk_cap;
    int cut_chunk;
    uint64_t *old_slots; size_t old_nb;     /* a growable table being rehashed by the threads */
} Search;

static void level_free(Level *l) {
    free(l->mem); l->mem = NULL; l->n = l->cap = 0;
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}

static int write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) return -1;
        p += k; n -= (size_t)k;
    }
    return 0;
}

static int read_at(int fd, void *buf, size_t n, size_t off) {
    uint8_t *p = buf;
    while (n) {
        ssize_t k = pread(fd, p, n, (off_t)off);
        if (k <= 0) return -1;
        p += k; n -= (size_t)k; off += (size_t)k;
    }
    return 0;
}

static int level_reserve(Level *l, size_t k, int w);
static int parents_reserve(struct Search *st, size_t k);

/* Append k states to a level. */
static int level_append(Level *l, const uint8_t *states, size_t k, int w) {
    if (l->fd >= 0) {
        if (write_all(l->fd, states, k * (size_t)w) < 0) return -1;
    } else {
        if (level_reserve(l, k, w) < 0) return -1;
        memcpy(l->mem + l->n * (size_t)w, states, k * (size_t)w);
    }
    l->n += k;
    return 0;
}

static int parents_append(Search *st, const uint32_t *parent, const uint16_t *via, size_t k) {
    if (st->parents_fd >= 0) {
        uint8_t rec[6 * 256];
        for (size_t i = 0; i < k;) {
            size_t m = 0;
            for (; m < 256 && i < k; m++, i++) { memcpy(rec + 6 * m, parent + i, 4); memcpy(rec + 6 * m + 4, via + i, 2); }
            if (write_all(st->parents_fd, rec, 6 * m) < 0) return -1;
        }
    } else {
        if (parents_reserve(st, k) < 0) return -1;
        memcpy(st->parent + st->n, parent, k * sizeof(uint32_t));
        memcpy(st->via + st->n, via, k * sizeof(uint16_t));
    }
    st->n += k;
    return 0;
}

static int push_state(Search *st, uint32_t parent, uint16_t via, const uint8_t *state) {
    if (parents_append(st, &parent, &via, 1) < 0) return -1;
    return level_append(&st->nxt, state, 1, st->model->w);
}

static int serial_insert(Search *st, const uint8_t *state, uint64_t fp) {
    int w = st->model->w;
    uint64_t *at;
    for (;;) {
        size_t b = home_of(fp, st->table.nb);
        for (size_t d = 0;; d++) {
            uint64_t *bk = st->table.slots + b * BUCKET;
            for (int i = 0; i < BUCKET; i++) {
                if (!bk[i]) { at = bk + i; goto absent; }
                if (bk[i] == fp && (!st->exact_mode ||
                                    !memcmp(st->exact + (size_t)(bk + i - st->table.slots) * (size_t)w, state, (size_t)w)))
                    return 0;
            }
            if (++b == st->table.nb) b = 0;
        }
    absent:
        if (st->table.used + 1 <= st->table.limit) break;
        if (table_grow(&st->table, st->exact_mode ? &st->exact : NULL, w) < 0) return -1;
    }
    *at = fp;
    if (st->exact_mode) memcpy(st->exact + (size_t)(at - st->table.slots) * (size_t)w, state, (size_t)w);
    st->table.used++;
    return 1;
}

/* Insert the batch's successors in order: record first events, then add new states. */
static int flush(Search *st, Batch *bt, int *violated) {
    int w = st->model->w;
    for (int j = 0; j < bt->n && j < AHEAD; j++) if (bt->fp[j]) table_prefetch(&st->table, bt->fp[j]);
    for (int j = 0; j < bt->n; j++) {
        if (j + AHEAD < bt->n && bt->fp[j + AHEAD]) table_prefetch(&st->table, bt->fp[j + AHEAD]);
        uint64_t fresh = bt->events[j] & st->all_bits & ~st->seen;
        if (fresh) {
            for (int b = 0; b < 64; b++)
                if (fresh >> b & 1) { st->witness_src[b] = bt->src[j]; st->witness_action[b] = bt->action[j]; }
            st->seen |= fresh;
            if (st->stop_on_violation && (fresh & st->property_bits)) *violated = 1;
        }
        if (!bt->fp[j]) continue;
        const uint8_t *nxt = bt->states + (size_t)j * (size_t)w;
        int added = serial_insert(st, nxt, bt->fp[j]);
        if (added < 0) return -1;
        if (added && push_state(st, bt->src[j], bt->action[j], nxt) < 0) return -1;
    }
    bt->n = 0;
    return 0;
}

static void swap_levels(Search *st) {
    Level old = st->cur;
    st->cur = st->nxt;
    st->nxt = old;
    st->nxt.n = 0;
    if (st->nxt.fd >= 0) { (void)ftruncate(st->nxt.fd, 0); (void)lseek(st->nxt.fd, 0, SEEK_SET); }
}

/* The serial loop: one thread, states in memory. */
static int run_serial(Search *st, double seconds);
static int run_parallel(Search *st, double seconds);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Level bookkeeping shared by both loops: 0 to go on, else the status to return. */
static int level_step(Search *st) {
    if (st->cur_pos == st->cur.n) {
        /* the level is done: the next one becomes current */
        if (st->nxt.n == 0) { st->status = 1; return 1; }
        st->cur_base += st->cur.n;
        swap_levels(st);
        st->cur_pos = 0;
        st->level++;
    }
    if (st->cur_pos == 0 && st->max_depth >= 0 && st->level >= st->max_depth) {
        st->status = 2; st->stop_reason = 1; return 1;
    }
    return 0;
}

static int run_serial(Search *st, double seconds) {
    int w = st->model->w;
    Cx *cx = &st->cx;
    double until = now() + seconds;
    while (st->status == 0) {
        if (level_step(st)) break;
        size_t end = st->cur_pos + (size_t)st->chunk;
        if (end > st->cur.n) end = st->cur.n;
        int violated = 0;
        Batch *bt = st->batch;
        bt->n = 0;
        for (; st->cur_pos < end; st->cur_pos++) {
            const uint8_t *s = st->cur.mem + st->cur_pos * (size_t)w;
            uint32_t src = (uint32_t)(st->cur_base + st->cur_pos);
            Out *out = &st->out;
            if (expand(cx, s, st->canonical, st->por, out) < 0) { st->status = 3; st->err = ERR; return 3; }
            st->transitions += out->n;
            for (int i = 0; i < out->n; i++) {
                int j = bt->n++;
                const uint8_t *m = out->states + (size_t)i * (size_t)w;
                uint64_t fp = fingerprint(m, w);
                if (st->recent && recent_repeat(st->recent, fp, 0)) {
                    bt->fp[j] = 0; /* a repeat: its events count, its state is known */
                } else {
                    memcpy(bt->states + (size_t)j * (size_t)w, m, (size_t)w);
                    bt->fp[j] = fp;
                }
                bt->events[j] = out->events[i];
                bt->action[j] = out->action[i];
                bt->src[j] = src;
            }
            if (bt->n >= BATCH || st->cur_pos + 1 == end) {
                if (flush(st, bt, &violated) < 0) { st->status = 3; st->err = -1; return 3; }
            }
        }
        if (violated) { st->status = 2; st->stop_reason = 3; break; }
        if (st->max_states >= 0 && (long long)st->n >= st->max_states) { st->status = 2; st->stop_reason = 2; break; }
        if (now() >= until) break;
    }
    return st->status;
}

/* ---- the level-synchronous search with threads ---------------------------------------
 *
 * A level is taken in segments of whole chunks.  In a segment, threads (a) expand tasks
 * (runs of a few hundred states) as they claim them and keep every successor they did not
 * just make (recent_repeat) as a candidate, with its key (position of the source in the
 * level, position among its successors), without looking it up; (b) insert the
 * candidates into the table, each thread those whose home bucket lies in its own share of
 * the table, in key order: a thread meets every candidate of its share in the order the
 * serial loop does, so the candidate that goes in is the first discovery of its state, and
 * the ones after it find it there.  (Two states a compact table cannot tell apart have the
 * same home bucket, so they too meet in one thread, in key order.)  One thread then decides
 * where the serial search would have stopped (the chunk of a first violation, or where the
 * state bound is reached) and gives each task's new states their numbers in task order,
 * which is the serial order; and (c) the threads write the new states and their parents.
 * So the states are numbered, counted, witnessed and stopped exactly as by the serial loop,
 * whatever the threads.  What (b) inserts past the point where the search stops is never
 * written or counted: the search ends there.  Each phase ends at a barrier, three a
 * segment; a segment too small to share runs on the calling thread alone.
 *
 * The table is probed once a candidate, in (b), as the serial loop probes it once a
 * successor.  Looking candidates up in (a) as well, to keep fewer of them, costs a second
 * probe of each new state after the barrier, by when its bucket has left the cache: 2
 * threads took 1.11-1.22 times the serial search's CPU so, 0.97-1.03 with the one probe. */

#define TASK 256
#define SEGMENT 262144
#define SOLO 2048            /* a segment of fewer states runs on one thread */

typedef struct Task {
    size_t start, end;       /* states of the level */
    int worker;
    size_t cstart, ccount;   /* its candidates, in its worker's buffers */
    long long transitions;
    size_t fresh, offset;
} __attribute__((aligned(64))) Task;  /* a line each: threads write neighbouring tasks */

/* One per thread, each on cache lines of its own (a thread writes its counters all the
 * time; sharing a line with another thread's would make both wait for it). */
typedef struct Worker {
    Search *st;
    int id;
    pthread_t tid;
    Cx cx;
    Out out;
    size_t cn, ccap;
    uint64_t *ckey, *ch1, *ch2;
    uint16_t *cact;
    uint8_t *cstates;
    uint64_t first_key[64];
    uint16_t first_act[64];
    uint64_t part_lo, part_last;         /* its share of the table: fingerprints lo..last */
    size_t *kept, kept_cap;              /* the candidates it inserted, in key order */
    size_t *kept_at, kept_at_cap;        /* where each task's begin in `kept` (ntasks + 1) */
    uint8_t *mark; size_t mark_cap;      /* scratch of the write phase */
    uint64_t *recent;                    /* RECENT (h1, h2) pairs it made (recent_repeat) */
    size_t inserted;
    int err, full;
} __attribute__((aligned(64))) Worker;

enum { PHASE_EXPAND, PHASE_INSERT, PHASE_WRITE, PHASE_REHASH, PHASE_QUIT };

static int grow_array(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap * 2 + 1024;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q; *cap = c;
    return 0;
}

static int worker_reserve(Worker *wk, size_t more) {
    if (wk->cn + more <= wk->ccap) return 0;
    size_t cap = wk->ccap * 2 + 1024;
    while (cap < wk->cn + more) cap *= 2;
    int w = wk->st->model->w;
    uint64_t *a = realloc(wk->ckey, cap * 8); if (a) wk->ckey = a;
    uint64_t *b = realloc(wk->ch1, cap * 8); if (b) wk->ch1 = b;
    uint64_t *c = realloc(wk->ch2, cap * 8); if (c) wk->ch2 = c;
    uint16_t *d = realloc(wk->cact, cap * 2); if (d) wk->cact = d;
    uint8_t *e = realloc(wk->cstates, cap * (size_t)w); if (e) wk->cstates = e;
    if (!a || !b || !c || !d || !e) return -1;
    wk->ccap = cap;
    return 0;
}

/* (a) Expand, and keep as candidates the successors this thread did not just make. */
static void phase_expand(Worker *wk) {
    Search *st = wk->st;
    int w = st->model->w;
    Cx *cx = &wk->cx;
    uint64_t seen = st->seen;
    for (int b = 0; b < 64; b++) wk->first_key[b] = UINT64_MAX;
    wk->cn = 0;
    for (;;) {
        size_t k = __atomic_fetch_add(&st->next_task, 1, __ATOMIC_RELAXED);
        if (k >= st->ntasks) break;
        Task *task = st->tasks + k;
        task->worker = wk->id;
        task->cstart = wk->cn;
        long long transitions = 0;
        for (size_t i = task->start; i < task->end; i++) {
            const uint8_t *s = st->seg + (i - st->seg_start) * (size_t)w;
            Out *out = &wk->out;
            if (expand(cx, s, st->canonical, st->por, out) < 0) { wk->err = ERR; return; }
            if (worker_reserve(wk, (size_t)out->n) < 0) { wk->err = -1; return; }
            transitions += out->n;
            for (int j = 0; j < out->n; j++) {
                uint64_t key = ((uint64_t)i << 9) | (uint64_t)j;
                uint64_t fresh = out->events[j] & st->all_bits & ~seen;
                while (fresh) {
                    int b = __builtin_ctzll(fresh);
                    fresh &= fresh - 1;
                    if (key < wk->first_key[b]) { wk->first_key[b] = key; wk->first_act[b] = out->action[j]; }
                }
                const uint8_t *m = out->states + (size_t)j * (size_t)w;
                uint64_t h1 = fingerprint(m, w), h2 = st->table.compact ? fingerprint2(m, w) : 0;
                if (recent_repeat(wk->recent, h1, h2)) continue;
                size_t c = wk->cn++;
                wk->ckey[c] = key;
                wk->ch1[c] = h1;
                wk->ch2[c] = h2;
                wk->cact[c] = out->action[j];
                memcpy(wk->cstates + c * (size_t)w, m, (size_t)w);
            }
        }
        task->ccount = wk->cn - task->cstart;
        task->transitions = transitions;
    }
}

/* The fingerprints whose home bucket is among the first `part` of `parts` equal shares of
 * the table's buckets are those below part_bound(part): home_of is monotonic. */
static uint64_t part_bound(size_t nb, size_t part, size_t parts) {
    size_t first = (size_t)(((__uint128_t)nb * part) / parts);
    return (uint64_t)((((__uint128_t)first << 64) + nb - 1) / nb);
}

/* (b) Insert this thread's share of the candidates, task after task, in key order. */
static void phase_insert(Worker *wk) {
    Search *st = wk->st;
    Table *t = &st->table;
    uint64_t lo = wk->part_lo, last = wk->part_last;
    size_t inserted = 0, nk = 0;
    for (size_t k = 0; k < st->ntasks; k++) {
        Task *task = st->tasks + k;
        const Worker *owner = st->workers + task->worker;
        size_t end = task->cstart + task->ccount;
        wk->kept_at[k] = nk;
        if (grow_array((void **)&wk->kept, &wk->kept_cap, nk + task->ccount, sizeof(size_t)) < 0) {
            wk->err = -1; return;
        }
        /* this thread's candidates of the task go in `kept` first, to be fetched ahead */
        size_t m = nk;
        for (size_t j = task->cstart; j < end; j++)
            if (owner->ch1[j] >= lo && owner->ch1[j] <= last) wk->kept[m++] = j;
        for (size_t i = nk; i < m && i < nk + AHEAD; i++) table_prefetch(t, owner->ch1[wk->kept[i]]);
        for (size_t i = nk; i < m; i++) {
            if (i + AHEAD < m) table_prefetch(t, owner->ch1[wk->kept[i + AHEAD]]);
            size_t j = wk->kept[i];
            int r = table_insert_shared(t, owner->ch1[j], owner->ch2[j]);
            if (r == 0) continue;
            /* a probe sequence that ran out: the table is full; the state counts as new */
            if (r < 0) wk->full = 1;
            inserted += r > 0;
            wk->kept[nk++] = j;
        }
    }
    wk->kept_at[st->ntasks] = nk;
    wk->inserted = inserted;
}

/* The next task for this thread to take, or NULL: the write phase hands tasks out one by
 * one, so that a thread the machine preempts holds up the others by one task. */
static Task *next_task(Search *st) {
    size_t k = __atomic_fetch_add(&st->next_task, 1, __ATOMIC_RELAXED);
    return k < st->ntasks ? st->tasks + k : NULL;
}

/* (c) Write each task's new states at their numbers: its candidates that some thread
 * inserted, in key order. */
static void phase_write(Worker *wk) {
    Search *st = wk->st;
    int w = st->model->w;
    for (Task *task; (task = next_task(st));) {
        if ((long)((task->start - st->seg_start) / (size_t)st->chunk) > st->cut_chunk) continue;
        size_t k = (size_t)(task - st->tasks);
        const Worker *owner = st->workers + task->worker;
        if (grow_array((void **)&wk->mark, &wk->mark_cap, task->ccount, 1) < 0) { wk->err = -1; return; }
        memset(wk->mark, 0, task->ccount);
        for (int p = 0; p < st->parts; p++) {
            const Worker *q = st->workers + p;
            for (size_t i = q->kept_at[k]; i < q->kept_at[k + 1]; i++) wk->mark[q->kept[i] - task->cstart] = 1;
        }
        size_t at = task->offset;
        uint8_t *states = st->nxt.fd < 0 ? st->nxt.mem + st->nxt.n * (size_t)w : st->out_states;
        uint32_t *parent = st->parents_fd < 0 ? st->parent + st->n : st->out_parent;
        uint16_t *via = st->parents_fd < 0 ? st->via + st->n : st->out_via;
        for (size_t c = 0; c < task->ccount; c++) {
            if (!wk->mark[c]) continue;
            size_t j = task->cstart + c;
            memcpy(states + at * (size_t)w, owner->cstates + j * (size_t)w, (size_t)w);
            parent[at] = (uint32_t)(st->cur_base + (owner->ckey[j] >> 9));
            via[at] = owner->cact[j];
            at++;
        }
    }
}

/* This thread's share of moving the old table's entries into the bigger one. */
static void phase_rehash(Worker *wk) {
    Search *st = wk->st;
    size_t slots = st->old_nb * BUCKET, share = (slots + (size_t)st->nthreads - 1) / (size_t)st->nthreads;
    size_t lo = share * (size_t)wk->id, hi = lo + share < slots ? lo + share : slots;
    for (size_t j = lo; j < hi; j++) {
        if (j + 4 * BUCKET < hi && st->old_slots[j + 4 * BUCKET]) table_prefetch(&st->table, st->old_slots[j + 4 * BUCKET]);
        if (st->old_slots[j]) table_insert_shared(&st->table, st->old_slots[j], 0);
    }
}

static void run_phase(Worker *wk, int phase) {
    switch (phase) {
    case PHASE_REHASH: phase_rehash(wk); break;
    case PHASE_EXPAND: phase_expand(wk); break;
    case PHASE_INSERT: phase_insert(wk); break;
    case PHASE_WRITE: phase_write(wk); break;
    }
}

static void *worker_main(void *arg) {
    Worker *wk = arg;
    Search *st = wk->st;
    for (;;) {
        barrier_wait(&st->go);
        int phase = st->phase;
        if (phase == PHASE_QUIT) return NULL;
        run_phase(wk, phase);
        barrier_wait(&st->done);
    }
}

/* All threads run one phase (the calling thread is worker 0), or the calling thread alone. */
static void all_run(Search *st, int phase, int solo) {
    st->phase = phase;
    st->next_task = 0;
    if (st->nthreads > 1 && !solo) barrier_wait(&st->go);
    run_phase(&st->workers[0], phase);
    if (st->nthreads > 1 && !solo) barrier_wait(&st->done);
}

/* Room for `fresh` more states: in the next level and the parent links where they are in
 * memory, else in the segment's output buffers. */
static int level_reserve(Level *l, size_t k, int w) {
    if (l->n + k <= l->cap) return 0;
    size_t cap = l->cap * 2 + 64;
    while (cap < l->n + k) cap *= 2;
    uint8_t *mem = realloc(l->mem, cap * (size_t)w);
    if (!mem) return -1;
    l->mem = mem; l->cap = cap;
    return 0;
}

static int parents_reserve(Search *st, size_t k) {
    if (st->n + k <= st->n_cap) return 0;
    size_t cap = st->n_cap * 2;
    while (cap < st->n + k) cap *= 2;
    uint32_t *p = realloc(st->parent, cap * sizeof(uint32_t));
    if (p) st->parent = p;
    uint16_t *v = realloc(st->via, cap * sizeof(uint16_t));
    if (v) st->via = v;
    if (!p || !v) return -1;
    st->n_cap = cap;
    return 0;
}

static int grow_buffers(Search *st, size_t fresh) {
    int w = st->model->w;
    if (st->nxt.fd < 0 && level_reserve(&st->nxt, fresh, w) < 0) return -1;
    if (st->parents_fd < 0 && parents_reserve(st, fresh) < 0) return -1;
    if (fresh <= st->out_cap || (st->nxt.fd < 0 && st->parents_fd < 0)) return 0;
    size_t cap = st->out_cap * 2 + 1024;
    while (cap < fresh) cap *= 2;
    uint8_t *a = realloc(st->out_states, cap * (size_t)w); if (a) st->out_states = a;
    uint32_t *b = realloc(st->out_parent, cap * 4); if (b) st->out_parent = b;
    uint16_t *c = realloc(st->out_via, cap * 2); if (c) st->out_via = c;
    if (!a || !b || !c) return -1;
    st->out_cap = cap;
    return 0;
}

/* Lay out the segment's tasks: runs of TASK states that never straddle a chunk. */
static int make_tasks(Search *st) {
    size_t need = (st->seg_end - st->seg_start) / TASK + (st->seg_end - st->seg_start) / (size_t)st->chunk + 2;
    if (need > st->tasks_cap) {
        free(st->tasks);
        st->tasks = aligned_alloc(64, need * sizeof(Task));
        st->tasks_cap = st->tasks ? need : 0;
        if (!st->tasks) return -1;
    }
    st->ntasks = 0;
    for (size_t c = st->seg_start; c < st->seg_end; c += (size_t)st->chunk) {
        size_t cend = c + (size_t)st->chunk < st->seg_end ? c + (size_t)st->chunk : st->seg_end;
        for (size_t a = c; a < cend; a += TASK) {
            Task *t = st->tasks + st->ntasks++;
            t->start = a;
            t->end = a + TASK < cend ? a + TASK : cend;
        }
    }
    size_t nchunks = (st->seg_end - st->seg_start + (size_t)st->chunk - 1) / (size_t)st->chunk;
    if (nchunks > st->chunk_cap) {
        long long *a = realloc(st->chunk_trans, nchunks * sizeof(long long)); if (a) st->chunk_trans = a;
        size_t *b = realloc(st->chunk_fresh, nchunks * sizeof(size_t)); if (b) st->chunk_fresh = b;
        if (!a || !b) return -1;
        st->chunk_cap = nchunks;
    }
    for (int i = 0; i < st->nthreads; i++) {
        Worker *wk = st->workers + i;
        if (grow_array((void **)&wk->kept_at, &wk->kept_at_cap, st->ntasks + 1, sizeof(size_t)) < 0) return -1;
    }
    return 0;
}

static int load_segment(Search *st) {
    int w = st->model->w;
    size_t k = st->seg_end - st->seg_start;
    if (st->cur.fd < 0) { st->seg = st->cur.mem + st->seg_start * (size_t)w; return 0; }
    if (k > st->segbuf_cap) {
        uint8_t *b = realloc(st->segbuf, k * (size_t)w);
        if (!b) return -1;
        st->segbuf = b; st->segbuf_cap = k;
    }
    st->seg = st->segbuf;
    return read_at(st->cur.fd, st->segbuf, k * (size_t)w, st->seg_start * (size_t)w);
}

static int fail(Search *st, int err) { st->status = 3; st->err = err; return 3; }

/* Twice the buckets of a growable table, filled by all the threads. */
static int grow_shared(Search *st) {
    Table bigger;
    if (table_new(&bigger, st->table.nb * 2, 0, (double)st->table.limit / (double)(st->table.nb * BUCKET)) < 0)
        return -1;
    bigger.used = st->table.used;
    st->old_slots = st->table.slots; st->old_nb = st->table.nb;
    st->table = bigger;
    all_run(st, PHASE_REHASH, 0);
    slots_unmap(st->old_slots, st->old_nb);
    st->old_slots = NULL;
    return 0;
}

static int run_parallel(Search *st, double seconds) {
    double until = now() + seconds;
    size_t seg = st->segment ? st->segment : SEGMENT;
    size_t seg_states = (size_t)st->chunk * (seg / (size_t)st->chunk > 0 ? seg / (size_t)st->chunk : 1);
    while (st->status == 0) {
        if (level_step(st)) break;
        st->seg_start = st->cur_pos;
        st->seg_end = st->cur_pos + seg_states < st->cur.n ? st->cur_pos + seg_states : st->cur.n;
        if (load_segment(st) < 0 || make_tasks(st) < 0) return fail(st, -1);
        /* (segments set smaller than SEGMENT, for tests, share smaller ones) */
        size_t solo_below = st->segment && st->segment < 4 * SOLO ? st->segment / 4 : SOLO;
        int solo = st->seg_end - st->seg_start < solo_below;
        st->parts = solo ? 1 : st->nthreads;
        /* (a) expand, keep what the table lacks */
        all_run(st, PHASE_EXPAND, solo);
        size_t cands = 0;
        for (int i = 0; i < st->parts; i++) {
            if (st->workers[i].err) return fail(st, st->workers[i].err);
            cands += st->workers[i].cn;
        }
        /* (b) insert; a growable table first makes room for every candidate, a compact one
         * cannot outgrow its probe sequences */
        while (!st->table.compact && st->table.used + cands > st->table.nb * BUCKET / 16 * 15)
            if (grow_shared(st) < 0) return fail(st, -1);
        for (int i = 0; i < st->parts; i++) {
            Worker *wk = st->workers + i;
            uint64_t lo = part_bound(st->table.nb, (size_t)i, (size_t)st->parts);
            /* fingerprints lo..last; none when the share has no bucket (more threads than buckets) */
            wk->part_lo = lo; wk->part_last = UINT64_MAX;
            if (i + 1 < st->parts) {
                uint64_t hi = part_bound(st->table.nb, (size_t)i + 1, (size_t)st->parts);
                if (hi > lo) wk->part_last = hi - 1;
                else { wk->part_lo = 1; wk->part_last = 0; }
            }
            wk->inserted = 0;
        }
        all_run(st, PHASE_INSERT, solo);
        for (int i = 0; i < st->parts; i++)
            if (st->workers[i].err) return fail(st, st->workers[i].err);
        /* where the serial loop would stop, and the new states' numbers */
        size_t nchunks = (st->seg_end - st->seg_start + (size_t)st->chunk - 1) / (size_t)st->chunk;
        memset(st->chunk_trans, 0, nchunks * sizeof(long long));
        memset(st->chunk_fresh, 0, nchunks * sizeof(size_t));
        for (size_t k = 0; k < st->ntasks; k++) {
            Task *task = st->tasks + k;
            task->fresh = 0;
            for (int i = 0; i < st->parts; i++) task->fresh += st->workers[i].kept_at[k + 1] - st->workers[i].kept_at[k];
            size_t c = (task->start - st->seg_start) / (size_t)st->chunk;
            st->chunk_trans[c] += task->transitions;
            st->chunk_fresh[c] += task->fresh;
        }
        uint64_t first_key[64]; int first_act[64];
        for (int b = 0; b < 64; b++) {
            first_key[b] = UINT64_MAX; first_act[b] = 0;
            for (int i = 0; i < st->parts; i++)
                if (st->workers[i].first_key[b] < first_key[b]) {
                    first_key[b] = st->workers[i].first_key[b]; first_act[b] = st->workers[i].first_act[b];
                }
        }
        long violation_chunk = -1;
        if (st->stop_on_violation)
            for (int b = 0; b < 64; b++)
                if ((st->property_bits >> b & 1) && first_key[b] != UINT64_MAX) {
                    long c = (long)(((first_key[b] >> 9) - st->seg_start) / (size_t)st->chunk);
                    if (violation_chunk < 0 || c < violation_chunk) violation_chunk = c;
                }
        int reason = 0;
        long cut = (long)nchunks - 1;
        size_t n_after = st->n;
        for (size_t c = 0; c < nchunks; c++) {
            n_after += st->chunk_fresh[c];
            if ((long)c == violation_chunk) { cut = (long)c; reason = 3; break; }
            if (st->max_states >= 0 && (long long)n_after >= st->max_states) { cut = (long)c; reason = 2; break; }
        }
        st->cut_chunk = (int)cut;
        size_t fresh = 0;
        for (size_t k = 0; k < st->ntasks; k++) {
            st->tasks[k].offset = fresh;
            if ((long)((st->tasks[k].start - st->seg_start) / (size_t)st->chunk) <= cut) fresh += st->tasks[k].fresh;
        }
        if ((st->table.compact && st->table.used + fresh > st->table.limit) || st->n + fresh > UINT32_MAX) {
            /* the table (or the numbering) is full: stop before this segment */
            st->status = 2; st->stop_reason = 4;
            break;
        }
        if (grow_buffers(st, fresh) < 0) return fail(st, -1);
        /* (c) write */
        all_run(st, PHASE_WRITE, solo);
        for (int i = 0; i < st->nthreads; i++)
            if (st->workers[i].err) return fail(st, st->workers[i].err);
        /* A compact table whose probe sequence ran out (MAX_DISP buckets, a crowded stretch of
         * a nearly full table) is full: the segment is still taken in whole, and the search
         * stops after it, saying so, with everything it reached. */
        for (int i = 0; i < st->parts; i++) {
            st->table.used += st->workers[i].inserted;
            if (st->workers[i].full && !reason) reason = 4;
        }
        if (st->nxt.fd < 0) st->nxt.n += fresh;
        else if (level_append(&st->nxt, st->out_states, fresh, st->model->w) < 0) return fail(st, -1);
        if (st->parents_fd < 0) st->n += fresh;
        else if (parents_append(st, st->out_parent, st->out_via, fresh) < 0) return fail(st, -1);
        for (long c = 0; c <= cut; c++) st->transitions += st->chunk_trans[c];
        for (int b = 0; b < 64; b++) {
            if (first_key[b] == UINT64_MAX) continue;
            long c = (long)(((first_key[b] >> 9) - st->seg_start) / (size_t)st->chunk);
            if (c > cut) continue;
            st->seen |= (uint64_t)1 << b;
            st->witness_src[b] = (long long)(st->cur_base + (first_key[b] >> 9));
            st->witness_action[b] = first_act[b];
        }
        st->cur_pos = st->seg_start + (size_t)(cut + 1) * (size_t)st->chunk;
        if (st->cur_pos > st->seg_end) st->cur_pos = st->seg_end;
        if (reason) { st->status = 2; st->stop_reason = reason; break; }
        while (!st->table.compact && st->table.used > st->table.limit)
            if (grow_shared(st) < 0) return fail(st, -1);
        if (now() >= until) break;
    }
    return st->status;
}

/* ---- the search's handle -------------------------------------------------------------- */

EXPORT void ms_search_free(Search *st) {
    if (!st) return;
    if (st->workers) {
        if (st->nthreads > 1) {
            st->phase = PHASE_QUIT;
            barrier_wait(&st->go);
            for (int i = 1; i < st->nthreads; i++) pthread_join(st->workers[i].tid, NULL);
        }
        for (int i = 0; i < st->nthreads; i++) {
            Worker *wk = st->workers + i;
            free(wk->ckey); free(wk->ch1); free(wk->ch2); free(wk->cact); free(wk->cstates);
            free(wk->out.states); free(wk->kept); free(wk->kept_at); free(wk->mark); free(wk->recent);
        }
        free(st->workers);
    }
    slots_unmap(st->table.slots, st->table.nb); free(st->exact); free(st->parent); free(st->via);
    if (st->parents_fd >= 0) close(st->parents_fd);
    level_free(&st->cur); level_free(&st->nxt);
    free(st->out.states);
    if (st->batch) free(st->batch->states);
    free(st->batch); free(st->recent);
    free(st->tasks); free(st->segbuf); free(st->out_states); free(st->out_parent); free(st->out_via);
    free(st->chunk_trans); free(st->chunk_fresh);
    free(st);
}

/* A file in `dir` that is gone once closed. */
static int scratch_file(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/mmuspec-search-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

/* Start a search of the model from `init`.  threads > 1 runs the level-synchronous search
 * with that many threads; table_bytes > 0 gives it a compact table of that size, and
 * spill_dir (non-empty) keeps the frontier and the parent links in files there.  *status
 * is 0, -1 (out of memory), -2 (a scratch file could not be made) or -3 (--exact with
 * threads or a compact table, which the serial search alone does). */
EXPORT Search *ms_search_new(const Model *m, const uint8_t *init, int canonical, int por, int exact, int max_depth,
                             long long max_states, int stop_on_violation, uint64_t property_bits, uint64_t all_bits,
                             int chunk, int threads, long long table_bytes, const char *spill_dir, int *status) {
    *status = -1;
    int w = m->w;
    int parallel = threads > 1 || table_bytes > 0 || (spill_dir && *spill_dir);
    if (exact && parallel) { *status = -3; return NULL; }
    Search *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->model = m;
    cx_init(&st->cx, m);
    st->parents_fd = -1; st->cur.fd = -1; st->nxt.fd = -1;
    st->parallel = parallel;
    st->nthreads = threads > 1 ? threads : 1;
    int compact = table_bytes > 0;
    size_t nb = compact ? (size_t)table_bytes / (BUCKET * sizeof(uint64_t)) : 128;
    /* a compact table is filled to 90%: linear probing by buckets beyond that makes runs so long
     * that one state's probe sequence may outgrow MAX_DISP among 10^9 */
    if (table_new(&st->table, nb, compact, compact ? 0.9 : 0.8) < 0) goto fail;
    st->exact_mode = exact;
    if (exact && !(st->exact = malloc(st->table.nb * BUCKET * (size_t)w))) goto fail;
    st->n_cap = 1 << 10;
    st->parent = malloc(st->n_cap * sizeof(uint32_t));
    st->via = malloc(st->n_cap * sizeof(uint16_t));
    if (!st->parent || !st->via) goto fail;
    if (spill_dir && *spill_dir) {
        st->parents_fd = scratch_file(spill_dir);
        st->cur.fd = scratch_file(spill_dir);
        st->nxt.fd = scratch_file(spill_dir);
        if (st->parents_fd < 0 || st->cur.fd < 0 || st->nxt.fd < 0) { *status = -2; goto fail; }
    }
    st->canonical = canonical; st->por = por; st->max_depth = max_depth; st->max_states = max_states;
    st->stop_on_violation = stop_on_violation; st->property_bits = property_bits; st->all_bits = all_bits;
    st->chunk = chunk > 0 ? chunk : 1024;
    for (int i = 0; i < 64; i++) { st->witness_src[i] = -1; st->witness_action[i] = 0; }
    st->out.states = malloc((size_t)MAX_OUT * (size_t)w);
    st->batch = calloc(1, sizeof(Batch));
    if (!exact && !(st->recent = calloc(2 * RECENT, sizeof(uint64_t)))) goto fail;
    if (!st->out.states || !st->batch || !(st->batch->states = malloc((size_t)(BATCH + MAX_OUT) * (size_t)w)))
        goto fail;
    /* the first level is the initial state */
    if (st->table.compact) {
        uint64_t *at; size_t d;
        table_find(&st->table, fingerprint(init, w), fingerprint2(init, w), &at, &d);
        *at = want_of(&st->table, 0, fingerprint2(init, w), d);
        st->table.used = 1;
    } else if (serial_insert(st, init, fingerprint(init, w)) < 0) goto fail;
    if (push_state(st, 0, 0xFFFF, init) < 0) goto fail;
    swap_levels(st);
    if (parallel) {
        st->workers = aligned_alloc(64, (size_t)st->nthreads * sizeof(Worker));
        if (!st->workers) goto fail;
        memset(st->workers, 0, (size_t)st->nthreads * sizeof(Worker));
        for (int i = 0; i < st->nthreads; i++) {
            Worker *wk = st->workers + i;
            wk->st = st; wk->id = i;
            cx_init(&wk->cx, m);
            if (!(wk->out.states = malloc((size_t)MAX_OUT * (size_t)w))) goto fail;
            if (!(wk->recent = calloc(2 * RECENT, sizeof(uint64_t)))) goto fail;
        }
        if (st->nthreads > 1) {
            barrier_init(&st->go, (unsigned)st->nthreads);
            barrier_init(&st->done, (unsigned)st->nthreads);
            for (int i = 1; i < st->nthreads; i++)
                if (pthread_create(&st->workers[i].tid, NULL, worker_main, st->workers + i) != 0) {
                    /* run with the threads made so far (which may be waiting already: the
                     * count they added stays, only the number to wait for changes) */
                    __atomic_store_n(&st->go.n, (unsigned)i, __ATOMIC_RELEASE);
                    __atomic_store_n(&st->done.n, (unsigned)i, __ATOMIC_RELEASE);
                    st->nthreads = i;
                    break;
                }
        }
    }
    *status = 0;
    return st;
fail:
    ms_search_free(st);
    return NULL;
}

/* Segments of about `states` states (whole chunks) in the threaded search instead of
 * SEGMENT, before it runs: small ones let tests cut a level into many. */
EXPORT void ms_search_set_segment(Search *st, long long states) { st->segment = states > 0 ? (size_t)states : 0; }

/* Run for about `seconds`; returns the status (0 running, 1 complete, 2 stopped, 3 error). */
EXPORT int ms_search_run(Search *st, double seconds) {
    if (st->status) return st->status;
    return st->parallel ? run_parallel(st, seconds) : run_serial(st, seconds);
}

/* Figures: states, transitions, level, queue, stop reason, seen events, status, bytes held
 * in memory (table, parent links and frontier), table buckets, threads. */
EXPORT void ms_search_figures(const Search *st, long long *out) {
    int w = st->model->w;
    size_t held = st->table.nb * BUCKET * sizeof(uint64_t) + (st->exact_mode ? st->table.nb * BUCKET * (size_t)w : 0)
                  + (st->parents_fd < 0 ? st->n_cap * (sizeof(uint32_t) + sizeof(uint16_t)) : 0)
                  + (st->cur.cap + st->nxt.cap) * (size_t)w;
    out[0] = (long long)st->n; out[1] = st->transitions; out[2] = st->level;
    out[3] = (long long)(st->cur.n - st->cur_pos + st->nxt.n); out[4] = st->stop_reason;
    out[5] = (long long)st->seen; out[6] = st->status; out[7] = (long long)held;
    out[8] = (long long)st->table.nb; out[9] = st->nthreads;
}

EXPORT int ms_search_error(const Search *st) { return st->err; }

EXPORT void ms_search_witnesses(const Search *st, long long *witness_src, int *witness_action) {
    memcpy(witness_src, st->witness_src, sizeof st->witness_src);
    memcpy(witness_action, st->witness_action, sizeof st->witness_action);
}

/* The actions from the initial state to state `index`, in order; returns how many, or -1. */
EXPORT int ms_search_path(const Search *st, long long index, uint16_t *actions, int max) {
    int n = 0;
    while (index > 0) {
        uint32_t parent; uint16_t via;
        if (st->parents_fd >= 0) {
            uint8_t rec[6];
            if (read_at(st->parents_fd, rec, 6, (size_t)index * 6) < 0) return -1;
            memcpy(&parent, rec, 4); memcpy(&via, rec + 4, 2);
        } else {
            parent = st->parent[index]; via = st->via[index];
        }
        if (n == max) return -1;
        actions[n++] = via;
        index = parent;
    }
    for (int i = 0; i < n / 2; i++) { uint16_t t = actions[i]; actions[i] = actions[n - 1 - i]; actions[n - 1 - i] = t; }
    return n;
}

/* ---- chunks, for worker processes ---------------------------------------------------- */

/* Insert n fingerprints, in order, into a table laid out as explore/store.py lays out its
 * FingerprintSet (linear probing from fp & (cap - 1), 0 marking an empty slot, a 0
 * fingerprint stored as 1), which the caller keeps below full.  fresh[i] is 1 where fps[i]
 * was neither in the table nor earlier in the batch.  Returns how many went in.  This is
 * the absorbing side of a chunked search, the parent's share of the work. */
EXPORT long long ms_insert_fingerprints(uint64_t *table, unsigned long long cap, const uint64_t *fps, long long n,
                                        uint8_t *fresh) {
    size_t mask = (size_t)cap - 1;
    long long added = 0;
    for (long long k = 0; k < n; k++) {
        uint64_t fp = fps[k] ? fps[k] : 1;
        size_t i = (size_t)fp & mask;
        while (table[i] && table[i] != fp) i = (i + 1) & mask;
        fresh[k] = !table[i];
        if (fresh[k]) { table[i] = fp; added++; }
    }
    return added;
}

/* Expand n states (a chunk of the frontier) as explore/expand.py does: every transition
 * is counted, but only the first one to each successor (by fingerprint, within the
 * chunk) and those with events are returned.  Returns the number returned, or -needed
 * when `cap` is too small, or -1000 - ERR on a model error; *transitions gets the count.
 * Thread-safe: everything it uses is its own. */
EXPORT long long ms_expand_chunk(const Model *model, const uint8_t *blob, int n, int canonical, int por,
                                 uint32_t *sources, uint16_t *actions, uint64_t *events, uint8_t *states,
                                 uint64_t *fps, long long cap, long long *transitions) {
    Cx cx_; Cx *cx = &cx_;
    cx_init(cx, model);
    Out *out = malloc(sizeof *out);
    if (!out) return -1001;
    out->states = malloc((size_t)MAX_OUT * (size_t)W);
    size_t hcap = 1024;
    while (hcap < (size_t)n * 16) hcap *= 2;
    uint64_t *seen = calloc(hcap, sizeof(uint64_t));
    long long kept = 0, total = 0, needed = 0, result = 0;
    if (!seen || !out->states) { result = -1001; goto done; }
    for (int r = 0; r < n; r++) {
        const uint8_t *s = blob + (size_t)r * (size_t)W;
        if (expand(cx, s, canonical, por, out) < 0) { result = -1000 - ERR; goto done; }
        total += out->n;
        for (int i = 0; i < out->n; i++) {
            const uint8_t *m = out->states + (size_t)i * (size_t)W;
            uint64_t fp = fingerprint(m, W);
            size_t mask = hcap - 1, j = (size_t)fp & mask;
            int first = 1;
            while (seen[j]) {
                if (seen[j] == fp) { first = 0; break; }
                j = (j + 1) & mask;
            }
            if (first) {
                if ((size_t)(kept + needed) * 2 + 2 >= hcap) {
                    /* grow the chunk-local set */
                    size_t ncap = hcap * 2;
                    uint64_t *bigger = calloc(ncap, sizeof(uint64_t));
                    if (!bigger) { result = -1001; goto done; }
                    for (size_t q = 0; q < hcap; q++) {
                        if (!seen[q]) continue;
                        size_t z = (size_t)seen[q] & (ncap - 1);
                        while (bigger[z]) z = (z + 1) & (ncap - 1);
                        bigger[z] = seen[q];
                    }
                    free(seen);
                    seen = bigger; hcap = ncap; mask = hcap - 1;
                    j = (size_t)fp & mask;
                    while (seen[j]) j = (j + 1) & mask;
                }
                seen[j] = fp;
            }
            if (!first && !out->events[i]) continue;
            if (kept >= cap) { needed++; continue; }
            sources[kept] = (uint32_t)r;
            actions[kept] = out->action[i];
            events[kept] = out->events[i];
            fps[kept] = fp;
            memcpy(states + (size_t)kept * (size_t)W, m, (size_t)W);
            kept++;
        }
    }
    *transitions = total;
    result = needed ? -(kept + needed) : kept;
done:
    free(seen);
    free(out->states);
    free(out);
    return result;
}
