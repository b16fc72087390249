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
static void canon(uint8_t *m) {
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
        static uint8_t names[256];
        static uint32_t named[256], round;
        if (++round == 0) { memset(named, 0, sizeof named); round = 1; }
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

static int thread_base(int t) { return KD[KD[HDR_THREADS] + 4 * t]; }
static int thread_done(int t) { return KD[KD[HDR_THREADS] + 4 * t + 1]; }

/* The steps of thread t enabled in s, each taken on a copy; returns -1 on a model error. */
static int thread_successors(const uint8_t *s, int t, int canonical, Out *out) {
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
            long ok = dispatch_guard(guard, (uint8_t *)s, t, arg);
            if (ERR) return -1;
            if (!ok) continue;
        }
        if (out->n >= MAX_OUT) { ERR = ERR_TOO_MANY; return -1; }
        uint8_t *m = out->states + (size_t)out->n * (size_t)W;
        memcpy(m, s, (size_t)W);
        EV = 0;
        ERR = 0;
        dispatch_step(step, m, t, arg);
        if (ERR) return -1;
        if (canonical) canon(m);
        out->action[out->n] = (uint16_t)action;
        out->events[out->n] = EV;
        out->n++;
    }
    return 0;
}

static int all_successors(const uint8_t *s, int canonical, Out *out) {
    out->n = 0;
    for (int t = 0; t < KD[HDR_NTHREADS]; t++)
        if (thread_successors(s, t, canonical, out) < 0) return -1;
    if (out->n == 0) {
        ERR = 0;
        long done = f_all_done((uint8_t *)s);
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
static int progress_of(const uint8_t *s) {
    int sum = 0;
    for (int t = 0; t < KD[HDR_POR_NT]; t++) sum += s[KD[KD[HDR_POR_PC_AT] + t]];
    return sum;
}

static int reduced_successors(const uint8_t *s, int canonical, Out *out) {
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
        if (before < 0) before = progress_of(s);
        out->n = 0;
        if (thread_successors(s, t, canonical, out) < 0) return -1;
        if (out->n == 0) continue;
        int ok = 1;
        for (int i = 0; i < out->n && ok; i++)
            if (progress_of(out->states + (size_t)i * (size_t)W) <= before) ok = 0;
        if (ok) return 1;
    }
    return 0;
}

static int expand(const uint8_t *s, int canonical, int por, Out *out) {
    if (por && KD[HDR_POR_ON]) {
        int r = reduced_successors(s, canonical, out);
        if (r != 0) return r < 0 ? -1 : 0;
    }
    return all_successors(s, canonical, out);
}

/* ---- fingerprints ------------------------------------------------------------------ */

/* A wyhash-style fingerprint: one 64x64->128-bit multiply per 16 bytes, folded. */
static inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read8(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint64_t fingerprint(const uint8_t *p, int n) {
    const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL, k2 = 0x8ebc6af09c88c6e3ULL;
    uint64_t h = k0 ^ (uint64_t)n;
    int i = 0;
    for (; i + 16 <= n; i += 16) h = mum(read8(p + i) ^ k1, read8(p + i + 8) ^ h);
    uint8_t tail[16] = {0};
    memcpy(tail, p + i, (size_t)(n - i));
    h = mum(read8(tail) ^ k1, read8(tail + 8) ^ h ^ k2);
    h = mum(h ^ k1, (uint64_t)n ^ k2);
    return h ? h : 1; /* 0 marks an empty slot */
}

/* ---- breadth-first search ------------------------------------------------------------ */

typedef struct {
    uint64_t *table; size_t cap, used;      /* fingerprints, open addressing */
    uint8_t *exact; int exact_mode;          /* with --exact: whole states, by slot */
    uint32_t *parent; uint16_t *via; size_t n, n_cap;
    uint8_t *cur; size_t cur_n, cur_cap;     /* the level being expanded */
    uint8_t *nxt; size_t nxt_n, nxt_cap;     /* the next level */
    size_t cur_pos, cur_base;                /* where in the current level we are */
    long long transitions;
    int level, canonical, por, max_depth, stop_on_violation, chunk;
    long long max_states;
    uint64_t seen, property_bits, all_bits;
    long long witness_src[64]; int witness_action[64];
    int status;                              /* 0 running, 1 complete, 2 stopped, 3 error */
    int stop_reason;                         /* 1 depth, 2 states, 3 violation */
    int err;
    Out out;
} Search;

static Search S_;

/* Successors of several states wait here before they are looked up, so that the table
 * slots they will probe can be fetched from memory together (the probe is a cache miss
 * per transition, most of a search's time); they are inserted in order, as one by one. */
#define BATCH 256
typedef struct {
    int n;
    uint8_t *states;
    uint64_t fp[BATCH + MAX_OUT], events[BATCH + MAX_OUT];
    uint32_t src[BATCH + MAX_OUT];
    uint16_t action[BATCH + MAX_OUT];
} Batch;

static Batch B_;

static int insert_fp(Search *st, const uint8_t *state, uint64_t fp) {
    size_t mask = st->cap - 1, i = (size_t)fp & mask;
    while (st->table[i]) {
        if (st->table[i] == fp && (!st->exact_mode || !memcmp(st->exact + i * (size_t)W, state, (size_t)W)))
            return 0;
        i = (i + 1) & mask;
    }
    st->table[i] = fp;
    if (st->exact_mode) memcpy(st->exact + i * (size_t)W, state, (size_t)W);
    st->used++;
    return 1;
}

static int insert(Search *st, const uint8_t *state) { return insert_fp(st, state, fingerprint(state, W)); }

static int grow_table(Search *st) {
    size_t old_cap = st->cap;
    uint64_t *old = st->table;
    uint8_t *old_exact = st->exact;
    st->cap *= 2;
    st->table = calloc(st->cap, sizeof(uint64_t));
    if (!st->table) return -1;
    if (st->exact_mode) {
        st->exact = malloc(st->cap * (size_t)W);
        if (!st->exact) return -1;
    }
    size_t mask = st->cap - 1;
    for (size_t j = 0; j < old_cap; j++) {
        if (!old[j]) continue;
        size_t i = (size_t)old[j] & mask;
        while (st->table[i]) i = (i + 1) & mask;
        st->table[i] = old[j];
        if (st->exact_mode) memcpy(st->exact + i * (size_t)W, old_exact + j * (size_t)W, (size_t)W);
    }
    free(old);
    free(old_exact);
    return 0;
}

static int push_state(Search *st, uint32_t parent, uint16_t via, const uint8_t *state) {
    if (st->n == st->n_cap) {
        st->n_cap *= 2;
        st->parent = realloc(st->parent, st->n_cap * sizeof(uint32_t));
        st->via = realloc(st->via, st->n_cap * sizeof(uint16_t));
        if (!st->parent || !st->via) return -1;
    }
    st->parent[st->n] = parent;
    st->via[st->n] = via;
    st->n++;
    if (st->nxt_n == st->nxt_cap) {
        st->nxt_cap = st->nxt_cap * 2 + 64;
        st->nxt = realloc(st->nxt, st->nxt_cap * (size_t)W);
        if (!st->nxt) return -1;
    }
    memcpy(st->nxt + st->nxt_n * (size_t)W, state, (size_t)W);
    st->nxt_n++;
    return 0;
}

/* Insert the batch's successors in order: record first events, then add new states. */
static int flush(Search *st, Batch *bt, int *violated) {
    for (int j = 0; j < bt->n; j++) {
        uint64_t fresh = bt->events[j] & st->all_bits & ~st->seen;
        if (fresh) {
            for (int b = 0; b < 64; b++)
                if (fresh >> b & 1) { st->witness_src[b] = bt->src[j]; st->witness_action[b] = bt->action[j]; }
            st->seen |= fresh;
            if (st->stop_on_violation && (fresh & st->property_bits)) *violated = 1;
        }
        if (st->used * 2 >= st->cap && grow_table(st) < 0) return -1;
        const uint8_t *nxt = bt->states + (size_t)j * (size_t)W;
        if (insert_fp(st, nxt, bt->fp[j]) && push_state(st, bt->src[j], bt->action[j], nxt) < 0) return -1;
    }
    bt->n = 0;
    return 0;
}

EXPORT int ms_width(void) { return KD[HDR_WIDTH]; }

EXPORT int ms_init(const int32_t *kd, int n) {
    free(KD);
    KD = malloc((size_t)n * sizeof(int32_t));
    if (!KD) return -1;
    memcpy(KD, kd, (size_t)n * sizeof(int32_t));
    W = KD[HDR_WIDTH];
    if (W > MAX_WIDTH) return -2;
    free(S_.out.states);
    S_.out.states = malloc((size_t)MAX_OUT * (size_t)W);
    free(B_.states);
    B_.states = malloc((size_t)(BATCH + MAX_OUT) * (size_t)W);
    return S_.out.states && B_.states ? 0 : -1;
}

/* Successors of one state, for tests and for expanding chunks in worker processes. */
EXPORT int ms_successors(const uint8_t *s, int canonical, int por, uint8_t *states, uint16_t *actions,
                         uint64_t *events, int max_out) {
    Out *out = &S_.out;
    if (expand(s, canonical, por, out) < 0) return -ERR - 1;
    if (out->n > max_out) return -100;
    memcpy(states, out->states, (size_t)out->n * (size_t)W);
    memcpy(actions, out->action, (size_t)out->n * sizeof(uint16_t));
    memcpy(events, out->events, (size_t)out->n * sizeof(uint64_t));
    return out->n;
}

EXPORT int ms_error(void) { return S_.err; }

EXPORT void ms_free(void) {
    Search *st = &S_;
    free(st->table); free(st->exact); free(st->parent); free(st->via); free(st->cur); free(st->nxt);
    st->table = NULL; st->exact = NULL; st->parent = NULL; st->via = NULL; st->cur = NULL; st->nxt = NULL;
}

EXPORT int ms_start(const uint8_t *init, int canonical, int por, int exact, int max_depth, long long max_states,
                    int stop_on_violation, uint64_t property_bits, uint64_t all_bits, int chunk) {
    Search *st = &S_;
    ms_free();
    st->cap = 1 << 10; st->used = 0;
    st->table = calloc(st->cap, sizeof(uint64_t));
    st->exact_mode = exact;
    st->exact = exact ? malloc(st->cap * (size_t)W) : NULL;
    st->n_cap = 1 << 10; st->n = 0;
    st->parent = malloc(st->n_cap * sizeof(uint32_t));
    st->via = malloc(st->n_cap * sizeof(uint16_t));
    st->cur = NULL; st->cur_n = 0; st->cur_cap = 0; st->cur_pos = 0; st->cur_base = 0;
    st->nxt = NULL; st->nxt_n = 0; st->nxt_cap = 0;
    st->transitions = 0; st->level = 0;
    st->canonical = canonical; st->por = por; st->max_depth = max_depth; st->max_states = max_states;
    st->stop_on_violation = stop_on_violation; st->property_bits = property_bits; st->all_bits = all_bits;
    st->chunk = chunk > 0 ? chunk : 1024;
    st->seen = 0; st->status = 0; st->stop_reason = 0; st->err = 0;
    for (int i = 0; i < 64; i++) { st->witness_src[i] = -1; st->witness_action[i] = 0; }
    if (!st->table || !st->parent || !st->via || (exact && !st->exact)) return -1;
    insert(st, init);
    if (push_state(st, 0, 0xFFFF, init) < 0) return -1;
    /* the first level is the initial state */
    uint8_t *tmp = st->cur; st->cur = st->nxt; st->nxt = tmp;
    size_t c = st->cur_cap; st->cur_cap = st->nxt_cap; st->nxt_cap = c;
    st->cur_n = st->nxt_n; st->nxt_n = 0; st->cur_base = 0; st->cur_pos = 0;
    return 0;
}

/* Run for about `seconds`; returns the status (0 running, 1 complete, 2 stopped, 3 error). */
EXPORT int ms_run(double seconds) {
    Search *st = &S_;
    clock_t until = clock() + (clock_t)(seconds * CLOCKS_PER_SEC);
    while (st->status == 0) {
        if (st->cur_pos == st->cur_n) {
            /* the level is done: the next one becomes current */
            if (st->nxt_n == 0) { st->status = 1; break; }
            uint8_t *tmp = st->cur; st->cur = st->nxt; st->nxt = tmp;
            size_t c = st->cur_cap; st->cur_cap = st->nxt_cap; st->nxt_cap = c;
            st->cur_base += st->cur_n;
            st->cur_n = st->nxt_n; st->nxt_n = 0; st->cur_pos = 0;
            st->level++;
        }
        if (st->cur_pos == 0 && st->max_depth >= 0 && st->level >= st->max_depth) {
            st->status = 2; st->stop_reason = 1; break;
        }
        size_t end = st->cur_pos + (size_t)st->chunk;
        if (end > st->cur_n) end = st->cur_n;
        int violated = 0;
        Batch *bt = &B_;
        bt->n = 0;
        for (; st->cur_pos < end; st->cur_pos++) {
            const uint8_t *s = st->cur + st->cur_pos * (size_t)W;
            uint32_t src = (uint32_t)(st->cur_base + st->cur_pos);
            Out *out = &st->out;
            if (expand(s, st->canonical, st->por, out) < 0) { st->status = 3; st->err = ERR; return 3; }
            st->transitions += out->n;
            size_t mask = st->cap - 1;
            for (int i = 0; i < out->n; i++) {
                int j = bt->n++;
                memcpy(bt->states + (size_t)j * (size_t)W, out->states + (size_t)i * (size_t)W, (size_t)W);
                bt->fp[j] = fingerprint(bt->states + (size_t)j * (size_t)W, W);
                __builtin_prefetch(st->table + (bt->fp[j] & mask));
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
        if (clock() >= until) break;
    }
    return st->status;
}

/* Figures: states, transitions, level, queue, stop reason, seen events. */
EXPORT void ms_figures(long long *out) {
    Search *st = &S_;
    out[0] = (long long)st->n; out[1] = st->transitions; out[2] = st->level;
    out[3] = (long long)(st->cur_n - st->cur_pos + st->nxt_n); out[4] = st->stop_reason;
    out[5] = (long long)st->seen; out[6] = st->status; out[7] = (long long)(st->cap * sizeof(uint64_t)
        + (st->exact_mode ? st->cap * (size_t)W : 0) + st->n_cap * (sizeof(uint32_t) + sizeof(uint16_t)));
}

EXPORT void ms_results(uint32_t *parent, uint16_t *via, long long *witness_src, int *witness_action) {
    Search *st = &S_;
    memcpy(parent, st->parent, st->n * sizeof(uint32_t));
    memcpy(via, st->via, st->n * sizeof(uint16_t));
    memcpy(witness_src, st->witness_src, sizeof st->witness_src);
    memcpy(witness_action, st->witness_action, sizeof st->witness_action);
}

/* ---- chunks, for worker processes ---------------------------------------------------- */

EXPORT uint64_t ms_fingerprint(const uint8_t *s) { return fingerprint(s, W); }

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
 * when `cap` is too small, or -1000 - ERR on a model error; *transitions gets the count. */
EXPORT long long ms_expand_chunk(const uint8_t *blob, int n, int canonical, int por, uint32_t *sources,
                                 uint16_t *actions, uint64_t *events, uint8_t *states, uint64_t *fps,
                                 long long cap, long long *transitions) {
    Out *out = &S_.out;
    size_t hcap = 1024;
    while (hcap < (size_t)n * 16) hcap *= 2;
    uint64_t *seen = calloc(hcap, sizeof(uint64_t));
    if (!seen) return -1001;
    long long kept = 0, total = 0, needed = 0;
    for (int r = 0; r < n; r++) {
        const uint8_t *s = blob + (size_t)r * (size_t)W;
        if (expand(s, canonical, por, out) < 0) { free(seen); return -1000 - ERR; }
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
                    if (!bigger) { free(seen); return -1001; }
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
    free(seen);
    *transitions = total;
    return needed ? -(kept + needed) : kept;
}
