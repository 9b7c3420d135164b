/* memhound's native heap walker: the hot loop of memhound.heap.writer in C.
 *
 * A Walk holds the graph as flat C arrays (no Python object per node or edge):
 *   nodes: the object (a strong reference while the walk lives), V8 node type (int8),
 *          name (int32: an index into the string table, or -(k+1) for the k-th text kept in
 *          the JSON buffer of str/bytes nodes), self size (uint32), edge count (uint32);
 *   index: address -> node, open addressing over 12-byte slots (the address and the node
 *          number: a probe never reads the node's object back), sized from the number of gc
 *          objects so that it seldom grows, plus a small table of aliases (a folded __dict__ ->
 *          its owner, memhound's own objects -> -1);
 *   ids: node ids (uint32), given by a Registry (below) that keeps them between walks.
 *   edges: edges of real nodes are appended while their node is visited, so they come out
 *          grouped by source in node order with no sort; edges of the synthetic nodes (the
 *          root and its groups) are kept apart with their source.
 *
 * drain() visits nodes in order. str, bytes, numbers, exact dict/list/tuple/set/frozenset,
 * cells and instances of types the Python walker has already learned (no __slots__, attribute
 * names that cover every referent, or a plain __dict__ to fold) are done here; everything else
 * (functions, code, frames, modules, classes, weak references, a type's first instance...) is
 * handed to the Python walker's visit, which adds its edges through this object's methods.
 *
 * Everything runs with the GIL held; the only Python code that runs during the walk is the
 * walker's own visit and what the Python walker would run too (an object's __sizeof__,
 * object.__getattribute__ of learned, non-descriptor names).
 *
 * A Registry keeps node ids between walks (see assign_ids). The module also has the analyser's
 * loops over a whole snapshot (memhound.heap.v8format / graph use them when this is built):
 * parse_ints (the nodes/edges integers, in place), bfs, dominators (Lengauer-Tarjan) and
 * dominator_tree (retained sizes, pre-order, subtree counts); these release the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h> /* PyFrame_Type: not in Python.h on 3.10 */
#include <stdint.h>
#include <string.h>

#if PY_VERSION_HEX >= 0x030D0000
/* sys.getsizeof's implementation: exported, declared only in the internal headers on 3.13 */
PyAPI_FUNC(size_t) _PySys_GetSizeOf(PyObject *);
#endif
#ifndef Py_TPFLAGS_MANAGED_DICT
#define Py_TPFLAGS_MANAGED_DICT 0
#endif

/* V8 node and edge types: the indices of v8format.NODE_TYPES / EDGE_TYPES (checked there) */
enum { N_HIDDEN = 0, N_STRING = 2, N_OBJECT = 3, N_NUMBER = 7, N_SYNTHETIC = 9 };
enum { E_CONTEXT = 0, E_ELEMENT = 1, E_PROPERTY = 2, E_INTERNAL = 3, E_HIDDEN = 4, E_WEAK = 6 };
#define NODE_FIELDS 7
#define ABSENT (-2)

#pragma pack(push, 4)
typedef struct {
    uintptr_t addr; /* 0: empty */
    uint32_t node;
} Slot;
#pragma pack(pop)

typedef struct {
    PyObject_HEAD
    /* nodes */
    PyObject **objs;
    int8_t *ntype;
    int32_t *nname;
    uint32_t *nsize;
    uint32_t *nedges;
    Py_ssize_t n, ncap, nsynth, cursor, visiting, ntexts;
    /* index */
    Slot *table;
    size_t tmask, hint;
    uint32_t *ids;
    uintptr_t *akeys;
    int32_t *avals;
    size_t amask, aused;
    /* edges of real nodes */
    int32_t *eto, *ename;
    int8_t *etype;
    Py_ssize_t ne, ecap;
    /* edges of synthetic nodes */
    int32_t *sfrom, *sto, *sname;
    int8_t *stype;
    Py_ssize_t ns, scap;
    /* strings: a dict str -> index and the list in order; texts of str/bytes nodes as JSON */
    PyObject *strings, *strlist, *tnames, *infos, *visit;
    char *tbuf;
    size_t tlen, tcap;
    int redact, name_chars, released;
    PyObject *class_name; /* "__class__" */
    PyObject **refs;      /* scratch: referents of the node being visited */
    Py_ssize_t nrefs, refcap;
} Walk;

static int grow(void **p, Py_ssize_t *cap, Py_ssize_t need, size_t item) {
    if (need <= *cap) return 0;
    Py_ssize_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    void *q = PyMem_RawRealloc(*p, (size_t)c * item);
    if (!q) { PyErr_NoMemory(); return -1; }
    *p = q;
    *cap = c;
    return 0;
}

static inline size_t hash_addr(uintptr_t a) {
    uint64_t x = (uint64_t)a >> 4;
    x ^= x >> 31;
    x *= 0x9E3779B97F4A7C15ULL;
    x ^= x >> 29;
    return (size_t)x;
}

/* -- index ---------------------------------------------------------------------------- */
static Py_ssize_t alias_get(Walk *w, uintptr_t a) {
    if (!w->aused) return ABSENT;
    size_t h = hash_addr(a) & w->amask;
    while (w->akeys[h]) {
        if (w->akeys[h] == a) return w->avals[h];
        h = (h + 1) & w->amask;
    }
    return ABSENT;
}

static int alias_set(Walk *w, uintptr_t a, int32_t v) {
    if (!w->akeys || (w->aused + 1) * 10 > (w->amask + 1) * 7) {
        size_t cap = w->akeys ? (w->amask + 1) * 2 : 1024;
        uintptr_t *k = PyMem_RawCalloc(cap, sizeof(uintptr_t));
        int32_t *v2 = PyMem_RawMalloc(cap * sizeof(int32_t));
        if (!k || !v2) { PyMem_RawFree(k); PyMem_RawFree(v2); PyErr_NoMemory(); return -1; }
        if (w->akeys) {
            for (size_t j = 0; j <= w->amask; j++) {
                if (!w->akeys[j]) continue;
                size_t h = hash_addr(w->akeys[j]) & (cap - 1);
                while (k[h]) h = (h + 1) & (cap - 1);
                k[h] = w->akeys[j];
                v2[h] = w->avals[j];
            }
        }
        PyMem_RawFree(w->akeys);
        PyMem_RawFree(w->avals);
        w->akeys = k;
        w->avals = v2;
        w->amask = cap - 1;
    }
    size_t h = hash_addr(a) & w->amask;
    while (w->akeys[h] && w->akeys[h] != a) h = (h + 1) & w->amask;
    if (!w->akeys[h]) { w->akeys[h] = a; w->aused++; }
    w->avals[h] = v;
    return 0;
}

/* the node of address a in the main table only (no aliases), or ABSENT */
static inline Py_ssize_t table_get(Walk *w, uintptr_t a) {
    if (!w->table) return ABSENT;
    size_t h = hash_addr(a) & w->tmask;
    uintptr_t k;
    while ((k = w->table[h].addr) != 0) {
        if (k == a) return (Py_ssize_t)w->table[h].node;
        h = (h + 1) & w->tmask;
    }
    return ABSENT;
}

static Py_ssize_t lookup(Walk *w, uintptr_t a) {
    Py_ssize_t v = alias_get(w, a);
    if (v != ABSENT) return v;
    return table_get(w, a);
}

static void table_put(Walk *w, Py_ssize_t i) {
    uintptr_t a = (uintptr_t)w->objs[i];
    size_t h = hash_addr(a) & w->tmask;
    while (w->table[h].addr) h = (h + 1) & w->tmask;
    w->table[h].addr = a;
    w->table[h].node = (uint32_t)i;
}

/* a probe of the index with no memory access of its own in the meantime */
static inline void table_prefetch(Walk *w, PyObject *o) {
    if (w->table) __builtin_prefetch(&w->table[hash_addr((uintptr_t)o) & w->tmask]);
}

/* up to 85% full: with the key in the slot, a longer probe costs little */
static int table_room(Walk *w) {
    size_t cap = w->table ? w->tmask + 1 : 0;
    if (w->table && (size_t)(w->n + 1) * 20 <= cap * 17) return 0;
    size_t ncap = cap ? cap * 2 : 1 << 16;
    while (!cap && (size_t)w->hint * 20 > ncap * 17 && ncap < ((size_t)1 << 32)) ncap *= 2;
    PyMem_RawFree(w->table);
    w->table = PyMem_RawCalloc(ncap, sizeof(Slot));
    if (!w->table) { PyErr_NoMemory(); return -1; }
    w->tmask = ncap - 1;
    for (Py_ssize_t i = 0; i < w->n; i++)
        if (w->objs[i]) table_put(w, i);
    return 0;
}

static Py_ssize_t new_node(Walk *w, PyObject *o) {
    if (w->n >= INT32_MAX - 1) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 nodes");
        return -3;
    }
    Py_ssize_t need = w->n + 1, c = w->ncap;
    if (need > c) {
        Py_ssize_t c2 = c;
        if (grow((void **)&w->objs, &c2, need, sizeof(PyObject *))) return -3;
        c2 = c; if (grow((void **)&w->ntype, &c2, need, 1)) return -3;
        c2 = c; if (grow((void **)&w->nname, &c2, need, 4)) return -3;
        c2 = c; if (grow((void **)&w->nsize, &c2, need, 4)) return -3;
        c2 = c; if (grow((void **)&w->nedges, &c2, need, 4)) return -3;
        w->ncap = c2;
    }
    if (o && table_room(w)) return -3;
    Py_ssize_t i = w->n++;
    Py_XINCREF(o);
    w->objs[i] = o;
    w->ntype[i] = 0;
    w->nname[i] = 0;
    w->nsize[i] = 0;
    w->nedges[i] = 0;
    if (o) table_put(w, i);
    return i;
}

/* the node of o, added when new; -1 for objects left out */
static Py_ssize_t node_of(Walk *w, PyObject *o) {
    Py_ssize_t i = lookup(w, (uintptr_t)o);
    if (i != ABSENT) return i;
    return new_node(w, o);
}

/* -- strings -------------------------------------------------------------------------- */
static Py_ssize_t str_index(Walk *w, PyObject *s) {
    PyObject *v = PyDict_GetItemWithError(w->strings, s);
    if (v) return PyLong_AsSsize_t(v);
    if (PyErr_Occurred()) return -1;
    Py_ssize_t i = PyList_GET_SIZE(w->strlist);
    PyObject *num = PyLong_FromSsize_t(i);
    if (!num) return -1;
    int bad = PyDict_SetItem(w->strings, s, num) || PyList_Append(w->strlist, s);
    Py_DECREF(num);
    return bad ? -1 : i;
}

static Py_ssize_t cstr_index(Walk *w, const char *text) {
    PyObject *s = PyUnicode_FromString(text);
    if (!s) return -1;
    Py_ssize_t i = str_index(w, s);
    Py_DECREF(s);
    return i;
}

static Py_ssize_t type_name_index(Walk *w, PyTypeObject *t) {
    PyObject *v = PyDict_GetItemWithError(w->tnames, (PyObject *)t);
    if (v) return PyLong_AsSsize_t(v);
    if (PyErr_Occurred()) return -1;
    PyObject *name = PyObject_GetAttrString((PyObject *)t, "__name__");
    if (!name) return -1;
    Py_ssize_t i = PyUnicode_Check(name) ? str_index(w, name) : -1;
    if (i < 0 && !PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "__name__ is not a str");
    Py_DECREF(name);
    if (i < 0) return -1;
    PyObject *num = PyLong_FromSsize_t(i);
    if (!num) return -1;
    int bad = PyDict_SetItem(w->tnames, (PyObject *)t, num);
    Py_DECREF(num);
    return bad ? -1 : i;
}

static int tput(Walk *w, const char *s, size_t len) {
    if (w->tlen + len > w->tcap) {
        size_t c = w->tcap ? w->tcap : 1 << 16;
        while (c < w->tlen + len) c *= 2;
        char *q = PyMem_RawRealloc(w->tbuf, c);
        if (!q) { PyErr_NoMemory(); return -1; }
        w->tbuf = q;
        w->tcap = c;
    }
    memcpy(w->tbuf + w->tlen, s, len);
    w->tlen += len;
    return 0;
}

/* ,"text" (JSON, UTF-8; lone surrogates and control characters escaped), at most maxchars */
static int put_text(Walk *w, PyObject *u, Py_ssize_t maxchars) {
    Py_ssize_t len = PyUnicode_GET_LENGTH(u);
    if (len > maxchars) len = maxchars;
    int kind = PyUnicode_KIND(u);
    const void *data = PyUnicode_DATA(u);
    char tmp[16];
    if (tput(w, ",\"", 2)) return -1;
    for (Py_ssize_t k = 0; k < len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        size_t m = 0;
        if (c == '"' || c == '\\') { tmp[0] = '\\'; tmp[1] = (char)c; m = 2; }
        else if (c < 0x20 || (c >= 0xD800 && c <= 0xDFFF)) {
            m = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)c);
        } else if (c < 0x80) { tmp[0] = (char)c; m = 1; }
        else if (c < 0x800) {
            tmp[0] = (char)(0xC0 | (c >> 6)); tmp[1] = (char)(0x80 | (c & 0x3F)); m = 2;
        } else if (c < 0x10000) {
            tmp[0] = (char)(0xE0 | (c >> 12)); tmp[1] = (char)(0x80 | ((c >> 6) & 0x3F));
            tmp[2] = (char)(0x80 | (c & 0x3F)); m = 3;
        } else {
            tmp[0] = (char)(0xF0 | (c >> 18)); tmp[1] = (char)(0x80 | ((c >> 12) & 0x3F));
            tmp[2] = (char)(0x80 | ((c >> 6) & 0x3F)); tmp[3] = (char)(0x80 | (c & 0x3F)); m = 4;
        }
        if (tput(w, tmp, m)) return -1;
    }
    if (tput(w, "\"", 1)) return -1;
    return 0;
}

static int text_name(Walk *w, Py_ssize_t i, PyObject *u, Py_ssize_t maxchars) {
    if (put_text(w, u, maxchars)) return -1;
    w->nname[i] = (int32_t)(-(++w->ntexts));
    return 0;
}

/* -- edges ---------------------------------------------------------------------------- */
static int push_edge(Walk *w, Py_ssize_t src, int etype, Py_ssize_t name, Py_ssize_t to) {
    if (name < INT32_MIN || name > INT32_MAX) name = 0;
    if (src < w->nsynth) {
        Py_ssize_t c = w->scap;
        if (w->ns + 1 > c) {
            Py_ssize_t c2 = c;
            if (grow((void **)&w->sfrom, &c2, w->ns + 1, 4)) return -1;
            c2 = c; if (grow((void **)&w->sto, &c2, w->ns + 1, 4)) return -1;
            c2 = c; if (grow((void **)&w->sname, &c2, w->ns + 1, 4)) return -1;
            c2 = c; if (grow((void **)&w->stype, &c2, w->ns + 1, 1)) return -1;
            w->scap = c2;
        }
        w->sfrom[w->ns] = (int32_t)src;
        w->sto[w->ns] = (int32_t)to;
        w->sname[w->ns] = (int32_t)name;
        w->stype[w->ns] = (int8_t)etype;
        w->ns++;
        return 0;
    }
    if (src != w->visiting) {
        PyErr_Format(PyExc_RuntimeError, "edge from node %zd outside its visit", src);
        return -1;
    }
    Py_ssize_t c = w->ecap;
    if (w->ne + 1 > c) {
        Py_ssize_t c2 = c;
        if (grow((void **)&w->eto, &c2, w->ne + 1, 4)) return -1;
        c2 = c; if (grow((void **)&w->ename, &c2, w->ne + 1, 4)) return -1;
        c2 = c; if (grow((void **)&w->etype, &c2, w->ne + 1, 1)) return -1;
        w->ecap = c2;
    }
    w->eto[w->ne] = (int32_t)to;
    w->ename[w->ne] = (int32_t)name;
    w->etype[w->ne] = (int8_t)etype;
    w->ne++;
    w->nedges[src]++;
    return 0;
}

static inline int skipped(PyObject *o) {
    return o == Py_None || o == Py_True || o == Py_False || o == Py_Ellipsis ||
           o == Py_NotImplemented;
}

static int edge(Walk *w, Py_ssize_t src, int etype, Py_ssize_t name, PyObject *o) {
    if (skipped(o)) return 0;
    Py_ssize_t to = node_of(w, o);
    if (to == -3) return -1;
    if (to < 0) return 0;
    return push_edge(w, src, etype, name, to);
}

/* -- visiting ------------------------------------------------------------------------- */
static int collect(PyObject *o, void *arg) {
    Walk *w = (Walk *)arg;
    if (!o) return 0;
    if (w->nrefs >= w->refcap) {
        if (grow((void **)&w->refs, &w->refcap, w->nrefs + 1, sizeof(PyObject *))) return -1;
    }
    w->refs[w->nrefs++] = o;
    return 0;
}

/* gc.get_referents(o) into w->refs (borrowed: o holds them while nothing runs) */
static int referents(Walk *w, PyObject *o) {
    w->nrefs = 0;
    if (!PyObject_IS_GC(o)) return 0;
    traverseproc tr = Py_TYPE(o)->tp_traverse;
    if (!tr) return 0;
    if (tr(o, collect, w)) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "tp_traverse failed");
        return -1;
    }
    return 0;
}

static int in_refs(Walk *w, PyObject *o) {
    for (Py_ssize_t k = 0; k < w->nrefs; k++)
        if (w->refs[k] == o) return 1;
    return 0;
}

static int dict_items(Walk *w, Py_ssize_t i, PyObject *d) {
    Py_ssize_t pos = 0, hidden = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (PyUnicode_CheckExact(k)) {
            if (w->redact) {
                if (edge(w, i, E_ELEMENT, hidden, v)) return -1;
            } else {
                Py_ssize_t name = str_index(w, k);
                if (name < 0 || edge(w, i, E_PROPERTY, name, v)) return -1;
            }
            if (edge(w, i, E_HIDDEN, hidden, k)) return -1;
        } else {
            PyTypeObject *kt = Py_TYPE(k);
            PyObject *label;
            if (kt == &PyLong_Type || kt == &PyFloat_Type || kt == &PyComplex_Type ||
                kt == &PyBool_Type) {
                PyObject *r = PyObject_Repr(k);
                if (!r) return -1;
                label = PyUnicode_FromFormat("[%U]", r);
                Py_DECREF(r);
            } else {
                PyObject *tn = PyObject_GetAttrString((PyObject *)kt, "__name__");
                if (!tn) return -1;
                label = PyUnicode_FromFormat("[<%S>]", tn);
                Py_DECREF(tn);
            }
            if (!label) return -1;
            Py_ssize_t name = str_index(w, label);
            Py_DECREF(label);
            if (name < 0 || edge(w, i, E_INTERNAL, name, v) || edge(w, i, E_HIDDEN, hidden, k))
                return -1;
        }
        hidden++;
    }
    return 0;
}

static int elements(Walk *w, Py_ssize_t i, PyObject *o) {
    enum { AHEAD = 8 };
    if (PyList_CheckExact(o)) {
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(o); k++) {
            if (k + AHEAD < PyList_GET_SIZE(o)) table_prefetch(w, PyList_GET_ITEM(o, k + AHEAD));
            if (edge(w, i, E_ELEMENT, k, PyList_GET_ITEM(o, k))) return -1;
        }
        return 0;
    }
    if (PyTuple_CheckExact(o)) {
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(o); k++) {
            if (k + AHEAD < PyTuple_GET_SIZE(o)) table_prefetch(w, PyTuple_GET_ITEM(o, k + AHEAD));
            if (edge(w, i, E_ELEMENT, k, PyTuple_GET_ITEM(o, k))) return -1;
        }
        return 0;
    }
    PyObject *it = PyObject_GetIter(o); /* exact set / frozenset: no user code */
    if (!it) return -1;
    PyObject *item;
    Py_ssize_t k = 0;
    while ((item = PyIter_Next(it)) != NULL) {
        int bad = edge(w, i, E_ELEMENT, k++, item);
        Py_DECREF(item);
        if (bad) { Py_DECREF(it); return -1; }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* An instance of a type the Python walker knows: 1 done, 0 leave it to Python, -1 error. */
static int instance(Walk *w, Py_ssize_t i, PyObject *o, PyTypeObject *t) {
    if (!w->infos) return 0;
    PyObject *info = PyDict_GetItemWithError(w->infos, (PyObject *)t);
    if (!info) return PyErr_Occurred() ? -1 : 0;
    /* (name index, learned names list, tried names set, fast) */
    if (!PyTuple_Check(info) || PyTuple_GET_SIZE(info) != 4 || !PyObject_IsTrue(PyTuple_GET_ITEM(info, 3)))
        return 0;
    Py_ssize_t tname = PyLong_AsSsize_t(PyTuple_GET_ITEM(info, 0));
    PyObject *learned = PyTuple_GET_ITEM(info, 1), *tried = PyTuple_GET_ITEM(info, 2);
    if (referents(w, o)) return -1;
    Py_ssize_t nrefs = w->nrefs;
    for (Py_ssize_t k = 0; k < nrefs && k < 16; k++) table_prefetch(w, w->refs[k]);
    PyObject *matched_v[16];
    Py_ssize_t matched_n[16];
    Py_ssize_t nm = 0;
    PyObject *folded = NULL;
    int t_in = in_refs(w, (PyObject *)t);
    if (nrefs && t->tp_dictoffset != 0) {
        Py_ssize_t want = 0, done = 0;
        for (Py_ssize_t k = 0; k < nrefs; k++) {
            int seen = 0;
            for (Py_ssize_t j = 0; j < k && !seen; j++) seen = w->refs[j] == w->refs[k];
            want += !seen;
        }
        if (nrefs > 64) return 0;
        Py_ssize_t nl = PyList_GET_SIZE(learned);
        for (Py_ssize_t k = 0; k < nl; k++) {
            PyObject *name = PyList_GET_ITEM(learned, k);
            PyObject *v = PyObject_GenericGetAttr(o, name);
            if (!v) {
                if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
                PyErr_Clear();
                continue;
            }
            int hit = in_refs(w, v);
            Py_DECREF(v); /* o holds it */
            if (!hit) continue;
            if (nm == 16) return 0;
            int seen = 0;
            for (Py_ssize_t j = 0; j < nm && !seen; j++) seen = matched_v[j] == v;
            done += !seen;
            Py_ssize_t ni = str_index(w, name);
            if (ni < 0) return -1;
            matched_v[nm] = v;
            matched_n[nm++] = ni;
        }
        if (done + t_in < want) {
            /* a plain (not managed) __dict__ left as the one other referent: fold it */
            PyObject *left = NULL;
            Py_ssize_t nleft = 0;
            for (Py_ssize_t k = 0; k < nrefs; k++) {
                PyObject *r = w->refs[k];
                int isdone = r == (PyObject *)t;
                for (Py_ssize_t j = 0; j < nm && !isdone; j++) isdone = matched_v[j] == r;
                if (!isdone) { left = r; nleft++; }
            }
            if (nleft != 1 || !PyDict_CheckExact(left) || t->tp_dictoffset <= 0 ||
                (t->tp_flags & Py_TPFLAGS_MANAGED_DICT))
                return 0;
            PyObject **dp = (PyObject **)((char *)o + t->tp_dictoffset);
            if (*dp != left) return 0;
            Py_ssize_t at = lookup(w, (uintptr_t)left);
            if (at != ABSENT && at != i) return 0;
            folded = left;
        }
    }
    w->ntype[i] = N_OBJECT;
    w->nname[i] = (int32_t)tname;
    for (Py_ssize_t k = 0; k < nm; k++)
        if (edge(w, i, E_PROPERTY, matched_n[k], matched_v[k])) return -1;
    if (folded) {
        Py_INCREF(folded);
        int bad = alias_set(w, (uintptr_t)folded, (int32_t)i);
        size_t sz = bad ? 0 : _PySys_GetSizeOf(folded);
        if (sz == (size_t)-1) bad = 1;
        if (!bad) {
            uint64_t total = (uint64_t)w->nsize[i] + sz;
            w->nsize[i] = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
        }
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (!bad && PyDict_Next(folded, &pos, &k, &v)) {
            if (!PyUnicode_CheckExact(k)) continue;
            Py_ssize_t ni = str_index(w, k);
            if (ni < 0 || edge(w, i, E_PROPERTY, ni, v)) { bad = 1; break; }
            int has = PySet_Contains(tried, k);
            if (has < 0 || (!has && (PySet_Add(tried, k) || PyList_Append(learned, k)))) bad = 1;
        }
        Py_DECREF(folded);
        if (bad) return -1;
        /* the walk's scratch may have moved: read the referents again */
        if (referents(w, o)) return -1;
        nrefs = w->nrefs;
    }
    int class_done = 0;
    if (t_in) {
        int isdone = 0;
        for (Py_ssize_t j = 0; j < nm && !isdone; j++) isdone = matched_v[j] == (PyObject *)t;
        if (!isdone) {
            Py_ssize_t ni = str_index(w, w->class_name);
            if (ni < 0 || edge(w, i, E_INTERNAL, ni, (PyObject *)t)) return -1;
        }
        class_done = 1;
    }
    for (Py_ssize_t k = 0; k < nrefs; k++) {
        PyObject *r = w->refs[k];
        int isdone = (class_done && r == (PyObject *)t) || r == folded;
        for (Py_ssize_t j = 0; j < nm && !isdone; j++) isdone = matched_v[j] == r;
        if (isdone) continue;
        Py_ssize_t ni = type_name_index(w, Py_TYPE(r));
        if (ni < 0 || edge(w, i, E_INTERNAL, ni, r)) return -1;
    }
    return 1;
}

static int visit_python(Walk *w, Py_ssize_t i, PyObject *o) {
    if (!w->visit) {
        PyErr_SetString(PyExc_RuntimeError, "the walk is over");
        return -1;
    }
    PyObject *r = PyObject_CallFunction(w->visit, "nO", i, o);
    if (!r) return -1;
    Py_DECREF(r);
    return 0;
}

static int visit(Walk *w, Py_ssize_t i) {
    PyObject *o = w->objs[i];
    PyTypeObject *t = Py_TYPE(o);
    size_t size = _PySys_GetSizeOf(o);
    if (size == (size_t)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
        PyErr_Clear();
        size = 0;
    }
    w->nsize[i] = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    Py_ssize_t name;
    if (t == &PyUnicode_Type) {
        w->ntype[i] = N_STRING;
        if (w->redact) {
            PyObject *s = PyUnicode_FromFormat("<str len=%zd>", PyUnicode_GET_LENGTH(o));
            if (!s) return -1;
            name = str_index(w, s);
            Py_DECREF(s);
            if (name < 0) return -1;
            w->nname[i] = (int32_t)name;
            return 0;
        }
        return text_name(w, i, o, w->name_chars);
    }
    if (t == &PyLong_Type || t == &PyFloat_Type || t == &PyComplex_Type || t == &PyBool_Type) {
        w->ntype[i] = N_NUMBER;
        name = type_name_index(w, t);
        if (name < 0) return -1;
        w->nname[i] = (int32_t)name;
        return 0;
    }
    if (t == &PyBytes_Type || t == &PyByteArray_Type) {
        w->ntype[i] = N_STRING;
        Py_ssize_t len = t == &PyBytes_Type ? PyBytes_GET_SIZE(o) : PyByteArray_GET_SIZE(o);
        if (w->redact) {
            PyObject *s = PyUnicode_FromFormat("<%s len=%zd>", t == &PyBytes_Type ? "bytes" : "bytearray", len);
            if (!s) return -1;
            name = str_index(w, s);
            Py_DECREF(s);
            if (name < 0) return -1;
            w->nname[i] = (int32_t)name;
            return 0;
        }
        const char *data = t == &PyBytes_Type ? PyBytes_AS_STRING(o) : PyByteArray_AS_STRING(o);
        PyObject *b = PyBytes_FromStringAndSize(data, len < w->name_chars ? len : w->name_chars);
        if (!b) return -1;
        PyObject *r = PyObject_Repr(b);
        Py_DECREF(b);
        if (!r) return -1;
        int bad = text_name(w, i, r, PY_SSIZE_T_MAX);
        Py_DECREF(r);
        return bad;
    }
    if (t == &PyDict_Type || t == &PyList_Type || t == &PyTuple_Type || t == &PySet_Type ||
        t == &PyFrozenSet_Type) {
        w->ntype[i] = N_OBJECT;
        name = type_name_index(w, t);
        if (name < 0) return -1;
        w->nname[i] = (int32_t)name;
        return t == &PyDict_Type ? dict_items(w, i, o) : elements(w, i, o);
    }
    if (t == &PyCell_Type) {
        w->ntype[i] = N_HIDDEN;
        if ((name = cstr_index(w, "cell")) < 0) return -1;
        w->nname[i] = (int32_t)name;
        PyObject *c = PyCell_GET(o);
        if (!c) return 0;
        if ((name = cstr_index(w, "cell_contents")) < 0) return -1;
        return edge(w, i, E_INTERNAL, name, c);
    }
    if (t == &PyFunction_Type || t == &PyCode_Type || t == &PyFrame_Type || PyModule_Check(o) ||
        PyType_Check(o) || PyWeakref_Check(o))
        return visit_python(w, i, o);
    Py_ssize_t mark_e = w->ne, mark_a = 0;
    (void)mark_a;
    int done = instance(w, i, o, t);
    if (done < 0) return -1;
    if (done) return 0;
    if (w->ne != mark_e) { /* instance() gives up before adding edges */
        PyErr_SetString(PyExc_RuntimeError, "partial instance visit");
        return -1;
    }
    return visit_python(w, i, o);
}

static int drain(Walk *w) {
    while (w->cursor < w->n) {
        Py_ssize_t i = w->cursor++;
        if (!w->objs[i]) continue;
        w->visiting = i;
        int bad = visit(w, i);
        w->visiting = -1;
        if (bad) return -1;
    }
    return 0;
}

/* -- Python methods ------------------------------------------------------------------- */
static PyObject *Walk_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"visit", "infos", "redact", "name_chars", "size_hint", NULL};
    PyObject *visit, *infos;
    int redact, name_chars;
    Py_ssize_t hint = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO!pi|n", kwlist, &visit, &PyDict_Type, &infos,
                                     &redact, &name_chars, &hint))
        return NULL;
    Walk *w = (Walk *)type->tp_alloc(type, 0);
    if (!w) return NULL;
    w->hint = hint > 0 ? (size_t)hint : 0;
    w->visiting = -1;
    w->redact = redact;
    w->name_chars = name_chars;
    Py_INCREF(visit);
    w->visit = visit;
    Py_INCREF(infos);
    w->infos = infos;
    w->strings = PyDict_New();
    w->strlist = PyList_New(0);
    w->tnames = PyDict_New();
    w->class_name = PyUnicode_InternFromString("__class__");
    if (!w->strings || !w->strlist || !w->tnames || !w->class_name || cstr_index(w, "") != 0) {
        Py_DECREF(w);
        return NULL;
    }
    return (PyObject *)w;
}

static void release_objects(Walk *w) {
    if (w->objs) {
        PyObject **objs = w->objs;
        Py_ssize_t n = w->n;
        w->objs = NULL;
        for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(objs[i]);
        PyMem_RawFree(objs);
    }
    PyMem_RawFree(w->table);
    w->table = NULL;
    PyMem_RawFree(w->akeys);
    PyMem_RawFree(w->avals);
    w->akeys = NULL;
    w->avals = NULL;
    w->aused = 0;
    PyMem_RawFree(w->refs);
    w->refs = NULL;
    w->refcap = 0;
    w->released = 1;
}

static void Walk_dealloc(Walk *w) {
    release_objects(w);
    PyMem_RawFree(w->ntype); PyMem_RawFree(w->nname); PyMem_RawFree(w->nsize);
    PyMem_RawFree(w->nedges); PyMem_RawFree(w->eto); PyMem_RawFree(w->ename);
    PyMem_RawFree(w->etype); PyMem_RawFree(w->sfrom); PyMem_RawFree(w->sto);
    PyMem_RawFree(w->sname); PyMem_RawFree(w->stype); PyMem_RawFree(w->tbuf);
    PyMem_RawFree(w->ids);
    Py_XDECREF(w->strings); Py_XDECREF(w->strlist); Py_XDECREF(w->tnames);
    Py_XDECREF(w->infos); Py_XDECREF(w->visit); Py_XDECREF(w->class_name);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

#define CHECK_LIVE(w) if ((w)->released) { PyErr_SetString(PyExc_RuntimeError, "the walk's objects were released"); return NULL; }

static PyObject *Walk_s(Walk *w, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "str expected"); return NULL; }
    Py_ssize_t i = str_index(w, text);
    return i < 0 ? NULL : PyLong_FromSsize_t(i);
}

static PyObject *Walk_add(Walk *w, PyObject *o) {
    CHECK_LIVE(w);
    Py_ssize_t i = node_of(w, o);
    return i == -3 ? NULL : PyLong_FromSsize_t(i);
}

static PyObject *Walk_synthetic_node(Walk *w, PyObject *arg) {
    CHECK_LIVE(w);
    Py_ssize_t name = PyLong_AsSsize_t(arg);
    if (name == -1 && PyErr_Occurred()) return NULL;
    if (w->nsynth != w->n) {
        PyErr_SetString(PyExc_RuntimeError, "synthetic nodes come first");
        return NULL;
    }
    Py_ssize_t i = new_node(w, NULL);
    if (i < 0) return NULL;
    w->ntype[i] = N_SYNTHETIC;
    w->nname[i] = (int32_t)name;
    w->nsynth++;
    return PyLong_FromSsize_t(i);
}

static PyObject *Walk_edge(Walk *w, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_LIVE(w);
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "edge(src, etype, name, obj)"); return NULL; }
    Py_ssize_t src = PyLong_AsSsize_t(args[0]), et = PyLong_AsSsize_t(args[1]);
    Py_ssize_t name = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    if (src < 0 || src >= w->n) { PyErr_SetString(PyExc_IndexError, "no such node"); return NULL; }
    if (edge(w, src, (int)et, name, args[3])) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Walk_edge_to_node(Walk *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4) { PyErr_SetString(PyExc_TypeError, "edge_to_node(src, etype, name, to)"); return NULL; }
    Py_ssize_t src = PyLong_AsSsize_t(args[0]), et = PyLong_AsSsize_t(args[1]);
    Py_ssize_t name = PyLong_AsSsize_t(args[2]), to = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (src < 0 || src >= w->n || to < 0 || to >= w->n) {
        PyErr_SetString(PyExc_IndexError, "no such node");
        return NULL;
    }
    if (push_edge(w, src, (int)et, name, to)) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Walk_set_node(Walk *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) { PyErr_SetString(PyExc_TypeError, "set_node(i, type, name)"); return NULL; }
    Py_ssize_t i = PyLong_AsSsize_t(args[0]), t = PyLong_AsSsize_t(args[1]);
    Py_ssize_t name = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) return NULL;
    if (i < 0 || i >= w->n) { PyErr_SetString(PyExc_IndexError, "no such node"); return NULL; }
    w->ntype[i] = (int8_t)t;
    w->nname[i] = (int32_t)name;
    Py_RETURN_NONE;
}

static PyObject *Walk_add_size(Walk *w, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "add_size(i, n)"); return NULL; }
    Py_ssize_t i = PyLong_AsSsize_t(args[0]), sz = PyLong_AsSsize_t(args[1]);
    if (PyErr_Occurred()) return NULL;
    if (i < 0 || i >= w->n) { PyErr_SetString(PyExc_IndexError, "no such node"); return NULL; }
    uint64_t total = (uint64_t)w->nsize[i] + (uint64_t)(sz < 0 ? 0 : sz);
    w->nsize[i] = total > UINT32_MAX ? UINT32_MAX : (uint32_t)total;
    Py_RETURN_NONE;
}

static PyObject *Walk_index_get(Walk *w, PyObject *addr) {
    CHECK_LIVE(w);
    uintptr_t a = (uintptr_t)PyLong_AsVoidPtr(addr);
    if (PyErr_Occurred()) return NULL;
    Py_ssize_t i = lookup(w, a);
    if (i == ABSENT) Py_RETURN_NONE;
    return PyLong_FromSsize_t(i);
}

static PyObject *Walk_index_set(Walk *w, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_LIVE(w);
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "index_set(addr, i)"); return NULL; }
    uintptr_t a = (uintptr_t)PyLong_AsVoidPtr(args[0]);
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (PyErr_Occurred()) return NULL;
    if (alias_set(w, a, (int32_t)i)) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Walk_drain(Walk *w, PyObject *unused) {
    CHECK_LIVE(w);
    if (drain(w)) return NULL;
    Py_RETURN_NONE;
}

/* the gc objects nothing reached so far, each an element of `held` with what it reaches */
static PyObject *Walk_held_pass(Walk *w, PyObject *const *args, Py_ssize_t nargs) {
    CHECK_LIVE(w);
    if (nargs != 2 || !PyList_Check(args[0])) { PyErr_SetString(PyExc_TypeError, "held_pass(list, held)"); return NULL; }
    PyObject *objs = args[0];
    Py_ssize_t held = PyLong_AsSsize_t(args[1]);
    if (PyErr_Occurred()) return NULL;
    Py_ssize_t count = 0;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(objs); k++) {
        PyObject *o = PyList_GET_ITEM(objs, k);
        if (k + 8 < PyList_GET_SIZE(objs)) table_prefetch(w, PyList_GET_ITEM(objs, k + 8));
        if (lookup(w, (uintptr_t)o) != ABSENT) continue;
        Py_ssize_t i = new_node(w, o);
        if (i < 0 || push_edge(w, held, E_ELEMENT, count++, i) || drain(w)) return NULL;
    }
    return PyLong_FromSsize_t(count);
}

/* nodes the root does not reach through non-weak edges (the index table is freed first) */
static PyObject *Walk_unreachable(Walk *w, PyObject *unused) {
    PyMem_RawFree(w->table);
    w->table = NULL;
    Py_ssize_t n = w->n;
    uint8_t *seen = PyMem_RawCalloc((size_t)n + 1, 1);
    uint64_t *first = PyMem_RawMalloc(((size_t)n + 1) * sizeof(uint64_t));
    int32_t *stack = PyMem_RawMalloc(((size_t)n + 1) * sizeof(int32_t));
    PyObject *out = NULL;
    if (!seen || !first || !stack) { PyErr_NoMemory(); goto done; }
    first[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) first[i + 1] = first[i] + (i < w->nsynth ? 0 : w->nedges[i]);
    Py_ssize_t sp = 0;
    seen[0] = 1;
    stack[sp++] = 0;
    while (sp) {
        int32_t v = stack[--sp];
        if (v < w->nsynth) {
            for (Py_ssize_t e = 0; e < w->ns; e++) {
                if (w->sfrom[e] != v || w->stype[e] == E_WEAK) continue;
                int32_t to = w->sto[e];
                if (!seen[to]) { seen[to] = 1; stack[sp++] = to; }
            }
            continue;
        }
        for (uint64_t e = first[v]; e < first[v + 1]; e++) {
            if (w->etype[e] == E_WEAK) continue;
            int32_t to = w->eto[e];
            if (!seen[to]) { seen[to] = 1; stack[sp++] = to; }
        }
    }
    out = PyList_New(0);
    for (Py_ssize_t i = 0; out && i < n; i++) {
        if (seen[i]) continue;
        PyObject *num = PyLong_FromSsize_t(i);
        if (!num || PyList_Append(out, num)) Py_CLEAR(out);
        Py_XDECREF(num);
    }
done:
    PyMem_RawFree(seen);
    PyMem_RawFree(first);
    PyMem_RawFree(stack);
    return out;
}

/* -- node ids kept between walks ------------------------------------------------------ */
/* A Registry remembers, for every real node of the last walk it gave ids to, a key (the
 * object's address >> 3 in the low 45 bits, its type's number in the registry's type list in
 * the high 19) and the id: 12 bytes a node, in that walk's node order. The next walk looks each
 * key's address up in its own index: the same address with the same type keeps its id (an
 * object lives at one address for its whole life), the other nodes get fresh odd ids. Objects
 * whose address or type number does not fit the key get a fresh id each time. */
#define KEY_ADDR_BITS 45
#define KEY_ADDR_MASK ((1ULL << KEY_ADDR_BITS) - 1)
#define KEY_TYPES (1 << (64 - KEY_ADDR_BITS))
#define MAX_ID 0xFFFFFFFFULL
#define FIRST_ID 101

typedef struct {
    PyObject_HEAD
    uint64_t *keys;
    uint32_t *ids;
    Py_ssize_t m;
    uintptr_t *types; /* type addresses by number (identity only: no reference held) */
    Py_ssize_t ntypes, tcap;
    uint64_t next_id;
} Registry;

static PyObject *Registry_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    if (!PyArg_ParseTuple(args, ":Registry")) return NULL;
    Registry *r = (Registry *)type->tp_alloc(type, 0);
    if (r) r->next_id = FIRST_ID;
    return (PyObject *)r;
}

static void Registry_dealloc(Registry *r) {
    PyMem_RawFree(r->keys);
    PyMem_RawFree(r->ids);
    PyMem_RawFree(r->types);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyObject *Registry_get_size(Registry *r, void *c) {
    return Py_BuildValue("(nnK)", r->m, r->ntypes, (unsigned long long)r->next_id);
}

static PyGetSetDef Registry_getset[] = {
    {"size", (getter)Registry_get_size, NULL, "(entries, types, next id)", NULL},
    {NULL}};

static PyTypeObject RegistryType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memhound._native._heapwalk.Registry",
    .tp_basicsize = sizeof(Registry),
    .tp_dealloc = (destructor)Registry_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Node ids kept between heap walks of one process.",
    .tp_getset = Registry_getset,
    .tp_new = Registry_new,
};

/* type address -> number: a small open-addressing map over the registry's type list */
typedef struct { uintptr_t *keys; uint32_t *vals; size_t mask; } TypeMap;

static int typemap_put(TypeMap *tm, uintptr_t t, uint32_t v) {
    size_t h = hash_addr(t) & tm->mask;
    while (tm->keys[h] && tm->keys[h] != t) h = (h + 1) & tm->mask;
    tm->keys[h] = t;
    tm->vals[h] = v;
    return 0;
}

static int typemap_init(TypeMap *tm, Registry *r) {
    size_t cap = 1024;
    while (cap < (size_t)r->ntypes * 4) cap *= 2;
    tm->keys = PyMem_RawCalloc(cap, sizeof(uintptr_t));
    tm->vals = PyMem_RawMalloc(cap * sizeof(uint32_t));
    tm->mask = cap - 1;
    if (!tm->keys || !tm->vals) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t k = 0; k < r->ntypes; k++) typemap_put(tm, r->types[k], (uint32_t)k);
    return 0;
}

/* the number of type t, added to the registry's list when new; -1 when the list is full */
static Py_ssize_t type_number(TypeMap *tm, Registry *r, uintptr_t t) {
    size_t h = hash_addr(t) & tm->mask;
    while (tm->keys[h]) {
        if (tm->keys[h] == t) return tm->vals[h];
        h = (h + 1) & tm->mask;
    }
    if (r->ntypes >= KEY_TYPES) return -1;
    if (grow((void **)&r->types, &r->tcap, r->ntypes + 1, sizeof(uintptr_t))) return -2;
    if ((size_t)(r->ntypes + 1) * 2 > tm->mask + 1) { /* keep the map at most half full */
        size_t cap = (tm->mask + 1) * 2;
        PyMem_RawFree(tm->keys);
        PyMem_RawFree(tm->vals);
        tm->keys = PyMem_RawCalloc(cap, sizeof(uintptr_t));
        tm->vals = PyMem_RawMalloc(cap * sizeof(uint32_t));
        tm->mask = cap - 1;
        if (!tm->keys || !tm->vals) { PyErr_NoMemory(); return -2; }
        for (Py_ssize_t k = 0; k < r->ntypes; k++) typemap_put(tm, r->types[k], (uint32_t)k);
    }
    r->types[r->ntypes] = t;
    typemap_put(tm, t, (uint32_t)r->ntypes);
    return r->ntypes++;
}

/* Give every node its id (kept from the registry's last walk where the object is the same),
 * and make this walk the registry's last. Frees the walk's index afterwards. */
static PyObject *Walk_assign_ids(Walk *w, PyObject *arg) {
    CHECK_LIVE(w);
    if (!PyObject_TypeCheck(arg, &RegistryType)) {
        PyErr_SetString(PyExc_TypeError, "assign_ids(registry)");
        return NULL;
    }
    Registry *r = (Registry *)arg;
    Py_ssize_t n = w->n;
    TypeMap tm = {0};
    uint64_t *keys = PyMem_RawCalloc((size_t)n + 1, sizeof(uint64_t));
    uint32_t *ids = PyMem_RawCalloc((size_t)n + 1, sizeof(uint32_t));
    uint32_t *kept = NULL;
    if (!keys || !ids) { PyErr_NoMemory(); goto fail; }
    if (typemap_init(&tm, r)) goto fail;
    /* this walk's keys (0: no key) */
    for (Py_ssize_t i = w->nsynth; i < n; i++) {
        PyObject *o = w->objs[i];
        if (!o) continue;
        uintptr_t a = (uintptr_t)o;
        if ((a & 7) || (a >> 3) > KEY_ADDR_MASK) continue;
        Py_ssize_t tn = type_number(&tm, r, (uintptr_t)Py_TYPE(o));
        if (tn == -2) goto fail;
        if (tn < 0) continue;
        keys[i] = ((uint64_t)a >> 3) | ((uint64_t)tn << KEY_ADDR_BITS);
    }
    /* ids kept: each of the last walk's keys whose address is a node with the same key */
    enum { AHEAD = 8 };
    for (Py_ssize_t j = 0; j < r->m; j++) {
        if (j + AHEAD < r->m && w->table) {
            uint64_t ka = r->keys[j + AHEAD];
            table_prefetch(w, (PyObject *)(uintptr_t)((ka & KEY_ADDR_MASK) << 3));
        }
        uint64_t k = r->keys[j];
        if (!k) continue;
        Py_ssize_t i = table_get(w, (uintptr_t)((k & KEY_ADDR_MASK) << 3));
        if (i >= 0 && keys[i] == k) ids[i] = r->ids[j];
    }
    /* fresh ids, in node order; synthetic nodes: 1 for the root, 2(i+1) for the others */
    uint64_t next = r->next_id;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i < w->nsynth || !w->objs[i]) {
            ids[i] = i == 0 ? 1 : (uint32_t)(2 * (i + 1));
            continue;
        }
        if (ids[i]) continue;
        if (next > MAX_ID - 2) next = FIRST_ID; /* ids must fit V8's uint32: start again */
        ids[i] = (uint32_t)next;
        next += 2;
    }
    kept = PyMem_RawMalloc(((size_t)n + 1) * sizeof(uint32_t));
    if (!kept) { PyErr_NoMemory(); goto fail; }
    memcpy(kept, ids, (size_t)n * sizeof(uint32_t));
    PyMem_RawFree(r->keys);
    PyMem_RawFree(r->ids);
    r->keys = keys;
    r->ids = kept;
    r->m = n;
    r->next_id = next;
    PyMem_RawFree(w->ids);
    w->ids = ids;
    PyMem_RawFree(tm.keys);
    PyMem_RawFree(tm.vals);
    PyMem_RawFree(w->table); /* the index is not needed after this */
    w->table = NULL;
    Py_RETURN_NONE;
fail:
    PyMem_RawFree(keys);
    PyMem_RawFree(ids);
    PyMem_RawFree(tm.keys);
    PyMem_RawFree(tm.vals);
    return NULL;
}

static PyObject *Walk_ids(Walk *w, PyObject *unused) {
    if (!w->ids) { PyErr_SetString(PyExc_RuntimeError, "no ids: call assign_ids first"); return NULL; }
    return PyBytes_FromStringAndSize((const char *)w->ids, w->n * 4);
}

/* addresses and type addresses of every node (0 for synthetic ones), as int64 bytes */
static PyObject *Walk_addresses(Walk *w, PyObject *unused) {
    CHECK_LIVE(w);
    PyObject *a = PyBytes_FromStringAndSize(NULL, w->n * 8);
    PyObject *t = PyBytes_FromStringAndSize(NULL, w->n * 8);
    if (!a || !t) { Py_XDECREF(a); Py_XDECREF(t); return NULL; }
    int64_t *pa = (int64_t *)PyBytes_AS_STRING(a), *pt = (int64_t *)PyBytes_AS_STRING(t);
    for (Py_ssize_t i = 0; i < w->n; i++) {
        PyObject *o = w->objs[i];
        pa[i] = (int64_t)(uintptr_t)o;
        pt[i] = o ? (int64_t)(uintptr_t)Py_TYPE(o) : 0;
    }
    return Py_BuildValue("(NN)", a, t);
}

static PyObject *Walk_obj(Walk *w, PyObject *arg) {
    CHECK_LIVE(w);
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (PyErr_Occurred()) return NULL;
    if (i < 0 || i >= w->n) { PyErr_SetString(PyExc_IndexError, "no such node"); return NULL; }
    PyObject *o = w->objs[i] ? w->objs[i] : Py_None;
    Py_INCREF(o);
    return o;
}

static PyObject *Walk_sizes(Walk *w, PyObject *unused) {
    return PyBytes_FromStringAndSize((const char *)w->nsize, w->n * 4);
}

/* drop the walked objects and the Python walker's callback: the Walk is not gc-tracked, so
 * the walker -> Walk -> visit -> walker cycle must be broken by hand */
static PyObject *Walk_release(Walk *w, PyObject *unused) {
    release_objects(w);
    Py_CLEAR(w->visit);
    Py_CLEAR(w->infos);
    Py_RETURN_NONE;
}

static char *put_int(char *p, int64_t v) {
    char tmp[24];
    int k = 0;
    uint64_t u = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    do { tmp[k++] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *p++ = '-';
    while (k) *p++ = tmp[--k];
    return p;
}

/* nodes [start, stop) as JSON numbers; ids (int64) and traces (int64 or None) are buffers */
static PyObject *Walk_nodes_json(Walk *w, PyObject *args) {
    Py_ssize_t start, stop, base;
    Py_buffer ids = {0}, traces = {0};
    PyObject *ids_obj, *traces_obj;
    if (!PyArg_ParseTuple(args, "nnnOO", &start, &stop, &base, &ids_obj, &traces_obj)) return NULL;
    if (ids_obj == Py_None && !w->ids) {
        PyErr_SetString(PyExc_RuntimeError, "no ids: call assign_ids first");
        return NULL;
    }
    if (ids_obj != Py_None && PyObject_GetBuffer(ids_obj, &ids, PyBUF_SIMPLE)) return NULL;
    if (traces_obj != Py_None && PyObject_GetBuffer(traces_obj, &traces, PyBUF_SIMPLE)) {
        if (ids.buf) PyBuffer_Release(&ids);
        return NULL;
    }
    if (start < 0 || stop > w->n || start > stop || (ids.buf && ids.len < w->n * 8) ||
        (traces.buf && traces.len < w->n * 8)) {
        if (ids.buf) PyBuffer_Release(&ids);
        if (traces.buf) PyBuffer_Release(&traces);
        PyErr_SetString(PyExc_ValueError, "bad range or buffers");
        return NULL;
    }
    /* edge counts of synthetic nodes */
    Py_ssize_t ns = w->nsynth;
    uint32_t *scount = PyMem_RawCalloc((size_t)ns + 1, sizeof(uint32_t));
    char *buf = PyMem_RawMalloc((size_t)(stop - start) * 7 * 21 + 16);
    PyObject *out = NULL;
    if (!scount || !buf) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t e = 0; e < w->ns; e++) scount[w->sfrom[e]]++;
    const int64_t *pid = ids.buf, *ptr = traces.buf;
    char *p = buf;
    for (Py_ssize_t i = start; i < stop; i++) {
        if (i > start) *p++ = ',';
        int32_t nm = w->nname[i];
        int64_t name = nm < 0 ? base + (-(int64_t)nm - 1) : nm;
        p = put_int(p, w->ntype[i]); *p++ = ',';
        p = put_int(p, name); *p++ = ',';
        p = put_int(p, pid ? pid[i] : (int64_t)w->ids[i]); *p++ = ',';
        p = put_int(p, w->nsize[i]); *p++ = ',';
        p = put_int(p, i < ns ? scount[i] : w->nedges[i]); *p++ = ',';
        p = put_int(p, ptr ? ptr[i] : 0); *p++ = ',';
        *p++ = '0';
    }
    out = PyBytes_FromStringAndSize(buf, p - buf);
done:
    PyMem_RawFree(scount);
    PyMem_RawFree(buf);
    if (ids.buf) PyBuffer_Release(&ids);
    if (traces.buf) PyBuffer_Release(&traces);
    return out;
}

/* edges in output order: the synthetic nodes' (by source, stable), then the real ones'.
 * json_edges(start, stop) over that order. */
static PyObject *Walk_edges_json(Walk *w, PyObject *args) {
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "nn", &start, &stop)) return NULL;
    Py_ssize_t total = w->ns + w->ne;
    if (start < 0 || stop > total || start > stop) {
        PyErr_SetString(PyExc_ValueError, "bad range");
        return NULL;
    }
    char *buf = PyMem_RawMalloc((size_t)(stop - start) * 3 * 21 + 16);
    int32_t *order = NULL;
    PyObject *out = NULL;
    if (!buf) { PyErr_NoMemory(); goto done; }
    if (start < w->ns) {
        /* counting sort of the synthetic edges by source */
        Py_ssize_t nsy = w->nsynth;
        Py_ssize_t *pos = PyMem_RawCalloc((size_t)nsy + 1, sizeof(Py_ssize_t));
        order = PyMem_RawMalloc(((size_t)w->ns + 1) * sizeof(int32_t));
        if (!pos || !order) { PyMem_RawFree(pos); PyErr_NoMemory(); goto done; }
        for (Py_ssize_t e = 0; e < w->ns; e++) pos[w->sfrom[e] + 1]++;
        for (Py_ssize_t k = 0; k < nsy; k++) pos[k + 1] += pos[k];
        for (Py_ssize_t e = 0; e < w->ns; e++) order[pos[w->sfrom[e]]++] = (int32_t)e;
        PyMem_RawFree(pos);
    }
    char *p = buf;
    for (Py_ssize_t k = start; k < stop; k++) {
        int64_t t, nm, to;
        if (k < w->ns) {
            int32_t e = order[k];
            t = w->stype[e]; nm = w->sname[e]; to = w->sto[e];
        } else {
            Py_ssize_t e = k - w->ns;
            t = w->etype[e]; nm = w->ename[e]; to = w->eto[e];
        }
        if (k > start) *p++ = ',';
        p = put_int(p, t); *p++ = ',';
        p = put_int(p, nm); *p++ = ',';
        p = put_int(p, to * NODE_FIELDS);
    }
    out = PyBytes_FromStringAndSize(buf, p - buf);
done:
    PyMem_RawFree(buf);
    PyMem_RawFree(order);
    return out;
}

/* the texts of str/bytes nodes, JSON, each preceded by a comma: bytes [start, stop) */
static PyObject *Walk_texts(Walk *w, PyObject *args) {
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "nn", &start, &stop)) return NULL;
    if (start < 0) start = 0;
    if (stop > (Py_ssize_t)w->tlen) stop = (Py_ssize_t)w->tlen;
    if (stop < start) stop = start;
    return PyBytes_FromStringAndSize(w->tbuf + start, stop - start);
}

static PyObject *Walk_total_size(Walk *w, PyObject *unused) {
    uint64_t total = 0;
    for (Py_ssize_t i = 0; i < w->n; i++) total += w->nsize[i];
    return PyLong_FromUnsignedLongLong(total);
}

static PyObject *Walk_get_counts(Walk *w, void *c) {
    return Py_BuildValue("(nnnnn)", w->n, w->ns + w->ne, w->nsynth, (Py_ssize_t)w->tlen, w->ntexts);
}

static PyObject *Walk_get_strings(Walk *w, void *c) {
    Py_INCREF(w->strlist);
    return w->strlist;
}

static PyObject *Walk_memory(Walk *w, PyObject *unused) {
    size_t b = (size_t)w->ncap * (sizeof(PyObject *) + 1 + 4 + 4 + 4) + (size_t)w->ecap * 9 +
               (size_t)w->scap * 13 + w->tcap + (w->table ? (w->tmask + 1) * sizeof(Slot) : 0) +
               (w->ids ? (size_t)w->n * 4 : 0) +
               (w->akeys ? (w->amask + 1) * 12 : 0);
    return PyLong_FromSize_t(b);
}

static PyMethodDef Walk_methods[] = {
    {"s", (PyCFunction)Walk_s, METH_O, "index of a string in the table"},
    {"add", (PyCFunction)Walk_add, METH_O, "node of an object (added when new; -1: left out)"},
    {"synthetic_node", (PyCFunction)Walk_synthetic_node, METH_O, "a synthetic node named by a string index"},
    {"edge", (PyCFunction)(void (*)(void))Walk_edge, METH_FASTCALL, "edge(src, etype, name, obj)"},
    {"edge_to_node", (PyCFunction)(void (*)(void))Walk_edge_to_node, METH_FASTCALL, "edge_to_node(src, etype, name, to)"},
    {"set_node", (PyCFunction)(void (*)(void))Walk_set_node, METH_FASTCALL, "set_node(i, type, name)"},
    {"add_size", (PyCFunction)(void (*)(void))Walk_add_size, METH_FASTCALL, "add_size(i, n)"},
    {"index_get", (PyCFunction)Walk_index_get, METH_O, "node of an address, or None"},
    {"index_set", (PyCFunction)(void (*)(void))Walk_index_set, METH_FASTCALL, "index_set(addr, i)"},
    {"drain", (PyCFunction)Walk_drain, METH_NOARGS, "visit every node not visited yet"},
    {"held_pass", (PyCFunction)(void (*)(void))Walk_held_pass, METH_FASTCALL, "held_pass(gc_objects, held)"},
    {"unreachable", (PyCFunction)Walk_unreachable, METH_NOARGS, "nodes the root does not reach"},
    {"addresses", (PyCFunction)Walk_addresses, METH_NOARGS, "(addresses, type addresses) as int64 bytes"},
    {"assign_ids", (PyCFunction)Walk_assign_ids, METH_O, "give the nodes their ids from a Registry (frees the index)"},
    {"ids", (PyCFunction)Walk_ids, METH_NOARGS, "node ids as uint32 bytes (after assign_ids)"},
    {"obj", (PyCFunction)Walk_obj, METH_O, "the object of a node"},
    {"sizes", (PyCFunction)Walk_sizes, METH_NOARGS, "self sizes as uint32 bytes"},
    {"release", (PyCFunction)Walk_release, METH_NOARGS, "drop the references to the walked objects"},
    {"nodes_json", (PyCFunction)Walk_nodes_json, METH_VARARGS, "nodes_json(start, stop, base, ids, traces)"},
    {"edges_json", (PyCFunction)Walk_edges_json, METH_VARARGS, "edges_json(start, stop)"},
    {"texts", (PyCFunction)Walk_texts, METH_VARARGS, "texts(start, stop)"},
    {"total_size", (PyCFunction)Walk_total_size, METH_NOARGS, "sum of self sizes"},
    {"memory", (PyCFunction)Walk_memory, METH_NOARGS, "bytes held by the walk's arrays"},
    {NULL}};

static PyGetSetDef Walk_getset[] = {
    {"counts", (getter)Walk_get_counts, NULL, "(nodes, edges, synthetic nodes, text bytes, texts)", NULL},
    {"strings", (getter)Walk_get_strings, NULL, "the string table (list)", NULL},
    {NULL}};

static PyTypeObject WalkType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "memhound._native._heapwalk.Walk",
    .tp_basicsize = sizeof(Walk),
    .tp_dealloc = (destructor)Walk_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One heap walk's graph, as flat arrays.",
    .tp_methods = Walk_methods,
    .tp_getset = Walk_getset,
    .tp_new = Walk_new,
};

/* -- analysis helpers (memhound.heap.graph / v8format use them when the extension is built) - */

/* parse_ints(data, start, stop, out): the comma-separated decimal integers in data[start:stop]
 * (whitespace allowed around them) into out, a writable int64 buffer. Returns how many were
 * read; stops at the first token that is not an integer (or when out is full), so a count
 * short of the expected one means a bad token, which the caller finds and names. */
static PyObject *parse_ints(PyObject *mod, PyObject *args) {
    Py_buffer data, out;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "y*nnw*", &data, &start, &stop, &out)) return NULL;
    if (start < 0) start = 0;
    if (stop > data.len) stop = data.len;
    const unsigned char *p = (const unsigned char *)data.buf + start;
    const unsigned char *end = (const unsigned char *)data.buf + (stop > start ? stop : start);
    int64_t *o = out.buf;
    Py_ssize_t cap = out.len / 8, k = 0;
    Py_BEGIN_ALLOW_THREADS
    while (k < cap) {
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
        if (p >= end) break;
        int neg = 0;
        if (*p == '-') { neg = 1; p++; }
        if (p >= end || *p < '0' || *p > '9') break;
        uint64_t v = 0;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (uint64_t)(*p - '0'); p++; digits++; }
        if (digits > 18) break; /* beyond int64: let the caller's slow path judge it */
        o[k++] = neg ? -(int64_t)v : (int64_t)v;
        while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
        if (p >= end) break;
        if (*p != ',') { k--; break; } /* garbage after a number: that token is bad */
        p++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return PyLong_FromSsize_t(k);
}

/* dominators(n, root, src, dst): immediate dominators of the graph of n nodes with the edges
 * src[k] -> dst[k] (int64 buffers), by Lengauer-Tarjan (simple version, path compression).
 * Returns int64 bytes: idom of each node; the root's and unreached nodes' is the root. */
static PyObject *dominators(PyObject *mod, PyObject *args) {
    Py_ssize_t n, root;
    Py_buffer bsrc, bdst;
    if (!PyArg_ParseTuple(args, "nny*y*", &n, &root, &bsrc, &bdst)) return NULL;
    Py_ssize_t m = bsrc.len / 8;
    PyObject *result = NULL;
    if (bdst.len / 8 != m || n <= 0 || root < 0 || root >= n || n >= INT32_MAX || m >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "dominators: bad sizes");
        PyBuffer_Release(&bsrc); PyBuffer_Release(&bdst);
        return NULL;
    }
    const int64_t *src = bsrc.buf, *dst = bdst.buf;
    size_t N1 = (size_t)n + 1;
    int64_t *ff = PyMem_RawCalloc(N1, 8), *rf = PyMem_RawCalloc(N1, 8);
    int32_t *fto = PyMem_RawMalloc((size_t)m * 4 + 4), *rfrom = PyMem_RawMalloc((size_t)m * 4 + 4);
    int32_t *dfn = PyMem_RawMalloc(N1 * 4), *vert = PyMem_RawMalloc(N1 * 4);
    int32_t *par = PyMem_RawMalloc(N1 * 4), *semi = PyMem_RawMalloc(N1 * 4);
    int32_t *idom = PyMem_RawMalloc(N1 * 4), *anc = PyMem_RawMalloc(N1 * 4);
    int32_t *label = PyMem_RawMalloc(N1 * 4), *bhead = PyMem_RawMalloc(N1 * 4);
    int32_t *bnext = PyMem_RawMalloc(N1 * 4), *stk = PyMem_RawMalloc(N1 * 4);
    int64_t *stke = PyMem_RawMalloc(N1 * 8);
    int ok = ff && rf && fto && rfrom && dfn && vert && par && semi && idom && anc && label &&
             bhead && bnext && stk && stke;
    int bad = 0;
    if (!ok) { PyErr_NoMemory(); goto done; }
    Py_BEGIN_ALLOW_THREADS
    /* forward and reverse adjacency by counting sort */
    for (Py_ssize_t k = 0; k < m; k++) {
        if (src[k] < 0 || src[k] >= n || dst[k] < 0 || dst[k] >= n) { bad = 1; break; }
        ff[src[k] + 1]++;
        rf[dst[k] + 1]++;
    }
    if (!bad) {
        for (Py_ssize_t i = 0; i < n; i++) { ff[i + 1] += ff[i]; rf[i + 1] += rf[i]; }
        for (Py_ssize_t k = 0; k < m; k++) {
            fto[ff[src[k]]++] = (int32_t)dst[k];
            rfrom[rf[dst[k]]++] = (int32_t)src[k];
        }
        for (Py_ssize_t i = n; i > 0; i--) { ff[i] = ff[i - 1]; rf[i] = rf[i - 1]; }
        ff[0] = rf[0] = 0;
        /* depth-first numbering from the root */
        for (Py_ssize_t i = 0; i < n; i++) dfn[i] = -1;
        int32_t N = 0;
        Py_ssize_t sp = 0;
        dfn[root] = N; vert[N] = (int32_t)root; par[N] = 0; N++;
        stk[sp] = (int32_t)root; stke[sp] = ff[root]; sp++;
        while (sp) {
            int32_t v = stk[sp - 1];
            int64_t e = stke[sp - 1];
            if (e >= ff[v + 1]) { sp--; continue; }
            stke[sp - 1] = e + 1;
            int32_t t = fto[e];
            if (dfn[t] >= 0) continue;
            dfn[t] = N; vert[N] = t; par[N] = dfn[v]; N++;
            stk[sp] = t; stke[sp] = ff[t]; sp++;
        }
        for (int32_t k = 0; k < N; k++) { semi[k] = k; label[k] = k; anc[k] = -1; bhead[k] = -1; idom[k] = 0; }
        for (int32_t w = N - 1; w > 0; w--) {
            int32_t x = vert[w];
            for (int64_t e = rf[x]; e < rf[x + 1]; e++) {
                int32_t v = dfn[rfrom[e]];
                if (v < 0) continue;
                int32_t u = v;
                if (anc[v] >= 0) { /* eval(v), compressing the path */
                    Py_ssize_t s = 0;
                    int32_t y = v;
                    while (anc[anc[y]] >= 0) { stk[s++] = y; y = anc[y]; }
                    while (s) {
                        int32_t z = stk[--s], a = anc[z];
                        if (semi[label[a]] < semi[label[z]]) label[z] = label[a];
                        anc[z] = anc[a];
                    }
                    u = label[v];
                }
                if (semi[u] < semi[w]) semi[w] = semi[u];
            }
            bnext[w] = bhead[semi[w]];
            bhead[semi[w]] = w;
            int32_t p = par[w];
            anc[w] = p;
            for (int32_t v = bhead[p]; v >= 0; v = bnext[v]) {
                int32_t u = v;
                if (anc[v] >= 0) {
                    Py_ssize_t s = 0;
                    int32_t y = v;
                    while (anc[anc[y]] >= 0) { stk[s++] = y; y = anc[y]; }
                    while (s) {
                        int32_t z = stk[--s], a = anc[z];
                        if (semi[label[a]] < semi[label[z]]) label[z] = label[a];
                        anc[z] = anc[a];
                    }
                    u = label[v];
                }
                idom[v] = semi[u] < semi[v] ? u : p;
            }
            bhead[p] = -1;
        }
        for (int32_t w = 1; w < N; w++)
            if (idom[w] != semi[w]) idom[w] = idom[idom[w]];
        /* back to node ordinals, into stke (int64) */
        for (Py_ssize_t i = 0; i < n; i++) {
            int32_t d = dfn[i];
            stke[i] = d <= 0 ? (int64_t)root : (int64_t)vert[idom[d]];
        }
    }
    Py_END_ALLOW_THREADS
    if (bad) { PyErr_SetString(PyExc_ValueError, "dominators: an edge names no node"); goto done; }
    result = PyBytes_FromStringAndSize((const char *)stke, n * 8);
done:
    PyMem_RawFree(ff); PyMem_RawFree(rf); PyMem_RawFree(fto); PyMem_RawFree(rfrom);
    PyMem_RawFree(dfn); PyMem_RawFree(vert); PyMem_RawFree(par); PyMem_RawFree(semi);
    PyMem_RawFree(idom); PyMem_RawFree(anc); PyMem_RawFree(label); PyMem_RawFree(bhead);
    PyMem_RawFree(bnext); PyMem_RawFree(stk); PyMem_RawFree(stke);
    PyBuffer_Release(&bsrc);
    PyBuffer_Release(&bdst);
    return result;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* bfs(n, root, first, to, strong): breadth-first from root over the edges e with strong[e]
 * (node v's edges are first[v]:first[v+1]; int64 buffers, strong a bool buffer), each level's
 * nodes taken in increasing ordinal and their edges in order. Returns (distance, parent edge)
 * as int64 bytes: -1 where unreached; a node's parent edge is the first edge that reached it. */
static PyObject *bfs(PyObject *mod, PyObject *args) {
    Py_ssize_t n, root;
    Py_buffer bfirst, bto, bstrong;
    if (!PyArg_ParseTuple(args, "nny*y*y*", &n, &root, &bfirst, &bto, &bstrong)) return NULL;
    Py_ssize_t m = bto.len / 8;
    PyObject *result = NULL;
    int64_t *dist = NULL, *par = NULL;
    int32_t *cur = NULL, *nxt = NULL;
    uint64_t *bits = NULL;
    if (n <= 0 || root < 0 || root >= n || n >= INT32_MAX || bfirst.len / 8 != n + 1 ||
        bstrong.len != m) {
        PyErr_SetString(PyExc_ValueError, "bfs: bad sizes");
        goto done;
    }
    const int64_t *first = bfirst.buf, *to = bto.buf;
    const uint8_t *strong = bstrong.buf;
    for (Py_ssize_t i = 0; i <= n; i++)
        if (first[i] < 0 || first[i] > m || (i && first[i] < first[i - 1])) {
            PyErr_SetString(PyExc_ValueError, "bfs: bad edge offsets");
            goto done;
        }
    dist = PyMem_RawMalloc((size_t)n * 8);
    par = PyMem_RawMalloc((size_t)n * 8);
    cur = PyMem_RawMalloc((size_t)n * 4);
    nxt = PyMem_RawMalloc((size_t)n * 4);
    bits = PyMem_RawCalloc((size_t)n / 64 + 1, 8);
    if (!dist || !par || !cur || !nxt || !bits) { PyErr_NoMemory(); goto done; }
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) { dist[i] = -1; par[i] = -1; }
    dist[root] = 0;
    cur[0] = (int32_t)root;
    Py_ssize_t ncur = 1;
    int64_t level = 0;
    while (ncur && !bad) {
        level++;
        Py_ssize_t nn = 0;
        for (Py_ssize_t k = 0; k < ncur; k++) {
            int32_t v = cur[k];
            for (int64_t e = first[v]; e < first[v + 1]; e++) {
                if (!strong[e]) continue;
                int64_t t = to[e];
                if (t < 0 || t >= n) { bad = 1; break; }
                if (dist[t] >= 0) continue;
                dist[t] = level;
                par[t] = e;
                nxt[nn++] = (int32_t)t;
            }
        }
        if (nn > n / 64) { /* many: sort through a bitmap */
            for (Py_ssize_t k = 0; k < nn; k++) bits[nxt[k] >> 6] |= 1ULL << (nxt[k] & 63);
            Py_ssize_t out = 0;
            for (Py_ssize_t wd = 0; wd <= n / 64; wd++) {
                uint64_t b = bits[wd];
                bits[wd] = 0;
                while (b) {
                    int z = __builtin_ctzll(b);
                    nxt[out++] = (int32_t)(wd * 64 + z);
                    b &= b - 1;
                }
            }
        } else {
            qsort(nxt, (size_t)nn, sizeof(int32_t), cmp_i32);
        }
        int32_t *tmp = cur; cur = nxt; nxt = tmp;
        ncur = nn;
    }
    Py_END_ALLOW_THREADS
    if (bad) { PyErr_SetString(PyExc_ValueError, "bfs: an edge names no node"); goto done; }
    result = Py_BuildValue("(y#y#)", (const char *)dist, n * 8, (const char *)par, n * 8);
done:
    PyMem_RawFree(dist); PyMem_RawFree(par); PyMem_RawFree(cur); PyMem_RawFree(nxt);
    PyMem_RawFree(bits);
    PyBuffer_Release(&bfirst); PyBuffer_Release(&bto); PyBuffer_Release(&bstrong);
    return result;
}

/* dominator_tree(idom, self_size, root): over the dominator tree (idom: int64 buffer, the
 * root's own entry ignored), retained sizes (self sizes added up the tree), pre-order numbers
 * (children in increasing ordinal) and subtree node counts, as int64 bytes. */
static PyObject *dominator_tree(PyObject *mod, PyObject *args) {
    Py_ssize_t root;
    Py_buffer bidom, bsize;
    if (!PyArg_ParseTuple(args, "y*y*n", &bidom, &bsize, &root)) return NULL;
    Py_ssize_t n = bidom.len / 8;
    PyObject *result = NULL;
    int64_t *ret = NULL, *tin = NULL, *sub = NULL, *cfirst = NULL;
    int32_t *kids = NULL, *stk = NULL, *order = NULL;
    if (n <= 0 || bsize.len / 8 != n || root < 0 || root >= n || n >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "dominator_tree: bad sizes");
        goto done;
    }
    const int64_t *idom = bidom.buf, *self = bsize.buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (idom[i] < 0 || idom[i] >= n) {
            PyErr_SetString(PyExc_ValueError, "dominator_tree: an idom names no node");
            goto done;
        }
    ret = PyMem_RawMalloc((size_t)n * 8);
    tin = PyMem_RawCalloc((size_t)n, 8);
    sub = PyMem_RawMalloc((size_t)n * 8);
    cfirst = PyMem_RawCalloc((size_t)n + 1, 8);
    kids = PyMem_RawMalloc((size_t)n * 4 + 4);
    stk = PyMem_RawMalloc((size_t)n * 4 + 4);
    order = PyMem_RawMalloc((size_t)n * 4 + 4);
    if (!ret || !tin || !sub || !cfirst || !kids || !stk || !order) { PyErr_NoMemory(); goto done; }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        ret[i] = self[i];
        sub[i] = 1;
        if (i != root) cfirst[idom[i] + 1]++;
    }
    for (Py_ssize_t i = 0; i < n; i++) cfirst[i + 1] += cfirst[i];
    for (Py_ssize_t i = 0; i < n; i++)
        if (i != root) kids[cfirst[idom[i]]++] = (int32_t)i;
    for (Py_ssize_t i = n; i > 0; i--) cfirst[i] = cfirst[i - 1];
    cfirst[0] = 0;
    /* pre-order from the root, children in increasing ordinal (pushed in reverse) */
    Py_ssize_t sp = 0, no = 0;
    stk[sp++] = (int32_t)root;
    while (sp) {
        int32_t v = stk[--sp];
        tin[v] = no;
        order[no++] = v;
        for (int64_t e = cfirst[v + 1]; e > cfirst[v]; e--) stk[sp++] = kids[e - 1];
    }
    /* sizes, children before their parent: reverse pre-order */
    for (Py_ssize_t k = no - 1; k > 0; k--) {
        int32_t v = order[k];
        ret[idom[v]] += ret[v];
        sub[idom[v]] += sub[v];
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(y#y#y#)", (const char *)ret, n * 8, (const char *)tin, n * 8,
                           (const char *)sub, n * 8);
done:
    PyMem_RawFree(ret); PyMem_RawFree(tin); PyMem_RawFree(sub); PyMem_RawFree(cfirst);
    PyMem_RawFree(kids); PyMem_RawFree(stk); PyMem_RawFree(order);
    PyBuffer_Release(&bidom);
    PyBuffer_Release(&bsize);
    return result;
}

static PyMethodDef module_methods[] = {
    {"parse_ints", parse_ints, METH_VARARGS, "parse_ints(data, start, stop, out) -> count"},
    {"dominators", dominators, METH_VARARGS, "dominators(n, root, src, dst) -> int64 bytes"},
    {"bfs", bfs, METH_VARARGS, "bfs(n, root, first, to, strong) -> (distance, parent edge) bytes"},
    {"dominator_tree", dominator_tree, METH_VARARGS, "dominator_tree(idom, self_size, root) -> (retained, preorder, subtree) bytes"},
    {NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_heapwalk", "memhound's native heap walker.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__heapwalk(void) {
    if (PyType_Ready(&WalkType) < 0 || PyType_Ready(&RegistryType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&WalkType);
    if (PyModule_AddObject(m, "Walk", (PyObject *)&WalkType) < 0) { Py_DECREF(&WalkType); Py_DECREF(m); return NULL; }
    Py_INCREF(&RegistryType);
    if (PyModule_AddObject(m, "Registry", (PyObject *)&RegistryType) < 0) { Py_DECREF(&RegistryType); Py_DECREF(m); return NULL; }
    PyObject *types = Py_BuildValue("{sisisisisi}", "hidden", N_HIDDEN, "string", N_STRING,
                                    "object", N_OBJECT, "number", N_NUMBER, "synthetic", N_SYNTHETIC);
    PyObject *edges = Py_BuildValue("{sisisisisisi}", "context", E_CONTEXT, "element", E_ELEMENT,
                                    "property", E_PROPERTY, "internal", E_INTERNAL, "hidden", E_HIDDEN,
                                    "weak", E_WEAK);
    if (!types || !edges || PyModule_AddObject(m, "NODE_TYPES", types) < 0 ||
        PyModule_AddObject(m, "EDGE_TYPES", edges) < 0 ||
        PyModule_AddIntConstant(m, "NODE_FIELDS", NODE_FIELDS) < 0) {
        Py_XDECREF(types); Py_XDECREF(edges); Py_DECREF(m);
        return NULL;
    }
    return m;
}
