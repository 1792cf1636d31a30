# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The scorer's per-utterance counting in C: alignments and every metric's counts of one pair.

The Python modules of ``workbench.metrics`` hold the definitions (alignment.py, pier.py, bias.py,
keywords.py); this kernel computes the same counts without building Python objects per token or
per utterance, and the tests hold it to them pair by pair (``tests/test_metrics_kernel.py``).

Alignment follows rapidfuzz's ``Levenshtein.editops`` step for step, so the edit script, and with
it every per-token tag, is rapidfuzz's (and jiwer's):

1. the common prefix, then the common suffix, are removed (they are matches);
2. the remaining reference part, at most 64 tokens (one machine word), is the bit-parallel pattern
   of Hyyrö (2003); the vertical delta bits VP/VN are recorded after each hypothesis token;
3. the alignment is recovered backwards from the bottom-right cell with rapidfuzz's rule: a set
   VP bit is a deletion; otherwise step up one hypothesis token, and a set VN bit there is an
   insertion, else a match or substitution.

A longer middle part (where rapidfuzz switches to banded or blocked variants and Hirschberg's
split) is not handled here: the functions return None/False and the caller uses rapidfuzz.
Tokens are the items of lists or tuples (compared by hash, then equality, as rapidfuzz compares
hashed items) or the characters of strings.
"""

from cpython.object cimport PyObject, PyObject_Hash, PyObject_RichCompareBool, Py_EQ
from cpython.unicode cimport PyUnicode_Check, PyUnicode_Join
from libc.stdint cimport uint64_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset


cdef extern from "Python.h":
    Py_ssize_t PyUnicode_GET_LENGTH(object)
    int PyUnicode_KIND(object)
    void* PyUnicode_DATA(object)
    Py_UCS4 PyUnicode_READ(int kind, void* data, Py_ssize_t index)
    bint Py_UNICODE_ISDECIMAL(Py_UCS4)
    bint PyList_CheckExact(object)
    bint PyTuple_CheckExact(object)
    bint PyBytes_CheckExact(object)
    char* PyBytes_AS_STRING(object)
    Py_ssize_t PyBytes_GET_SIZE(object)
    PyObject** PySequence_Fast_ITEMS(object)
    Py_ssize_t PySequence_Fast_GET_SIZE(object)


cdef enum:
    WORD = 64
    SLOTS = 128  # open addressing for at most 64 distinct pattern tokens

# the columns of a count row (``CountTable``), in order
COLUMNS = (
    "word_tokens", "word_sub", "word_del", "word_ins",
    "char_tokens", "char_sub", "char_del", "char_ins",
    "mixed_tokens", "mixed_sub", "mixed_del", "mixed_ins",
    "poi_tokens", "poi_errors", "non_poi_tokens", "non_poi_errors",
    "bias_word_tokens", "bias_word_errors", "unbiased_word_tokens", "unbiased_word_errors", "bias_word_occurrences",
    "bias_char_tokens", "bias_char_errors", "unbiased_char_tokens", "unbiased_char_errors", "bias_char_occurrences",
    "keywords", "keywords_missing", "digit_tokens", "digit_errors",
)
cdef enum:
    NCOLS = 30
    # the columns ``CountTable.totals`` reads one by one
    MIXED_SUB = 9
    MIXED_DEL = 10
    MIXED_INS = 11
    POI_TOKENS = 12
    NON_POI_TOKENS = 14
    NON_POI_ERRORS = 15
    KEYWORDS = 26


# ---------------------------------------------------------------------------------------------
# token sequences

cdef struct Tokens:
    # one side of a pair as a uniform view: list/tuple items or string characters
    PyObject** items
    int kind
    void* data
    Py_ssize_t length
    bint characters


cdef bint bind(Tokens* t, object sequence) except -1:
    """Fill ``t`` from a list, tuple or string (False for any other type); the caller keeps it alive."""
    if PyUnicode_Check(sequence):
        t.characters = True
        t.items = NULL
        t.kind = PyUnicode_KIND(sequence)
        t.data = PyUnicode_DATA(sequence)
        t.length = PyUnicode_GET_LENGTH(sequence)
        return True
    if PyList_CheckExact(sequence) or PyTuple_CheckExact(sequence):
        t.characters = False
        t.items = PySequence_Fast_ITEMS(sequence)
        t.length = PySequence_Fast_GET_SIZE(sequence)
        return True
    return False


cdef inline uint64_t key_of(Tokens* t, Py_ssize_t i) except? 0:
    """A token's table key: its code point, or its hash (``PyObject_Hash`` of a str is cached)."""
    if t.characters:
        return PyUnicode_READ(t.kind, t.data, i)
    return <uint64_t>PyObject_Hash(<object>t.items[i])


cdef inline bint same_objects(PyObject* a, PyObject* b) except -1:
    return a == b or PyObject_RichCompareBool(<object>a, <object>b, Py_EQ)


cdef inline bint same(Tokens* a, Py_ssize_t i, Tokens* b, Py_ssize_t j) except -1:
    if a.characters:
        return PyUnicode_READ(a.kind, a.data, i) == PyUnicode_READ(b.kind, b.data, j)
    return same_objects(a.items[i], b.items[j])


# ---------------------------------------------------------------------------------------------
# alignment

cdef struct Edits:
    # one alignment's summary; ``wrong`` and the insertion arrays are caller-owned buffers
    Py_ssize_t reference_length
    Py_ssize_t substitutions
    Py_ssize_t deletions
    Py_ssize_t insertions
    unsigned char* wrong  # per reference position: substituted or deleted (reference_length bytes)
    Py_ssize_t* gaps  # per insertion, in order: the gap (before reference token g) ...
    Py_ssize_t* positions  # ... and the hypothesis position


cdef struct Symbols:
    uint64_t keys[SLOTS]
    PyObject* objects[SLOTS]
    uint64_t masks[SLOTS]
    bint used[SLOTS]


cdef int find_slot(Symbols* table, Tokens* t, Py_ssize_t i, uint64_t key) except -2:
    """The slot holding token i of ``t``, or the free slot where it would go (there is one: SLOTS > 64)."""
    cdef int slot = <int>(key & (SLOTS - 1))
    while table.used[slot]:
        if table.keys[slot] == key and (t.characters or same_objects(table.objects[slot], t.items[i])):
            return slot
        slot = (slot + 1) & (SLOTS - 1)
    return slot


cdef bint align(Tokens* ref, Tokens* hyp, Edits* out) except -1:
    """rapidfuzz's edit script of ``ref`` -> ``hyp`` summarized into ``out`` (buffers sized by the
    caller: ``wrong`` ref.length bytes, the insertion arrays hyp.length entries); False when the
    middle part is over 64 tokens (``out`` is then undefined)."""
    cdef Py_ssize_t len1 = ref.length, len2 = hyp.length
    cdef Py_ssize_t prefix = 0, suffix = 0, i, col, row, m, n, ins = 0
    while prefix < len1 and prefix < len2 and same(ref, prefix, hyp, prefix):
        prefix += 1
    while suffix < len1 - prefix and suffix < len2 - prefix and same(ref, len1 - 1 - suffix, hyp, len2 - 1 - suffix):
        suffix += 1
    m = len1 - prefix - suffix
    n = len2 - prefix - suffix
    if m > WORD:
        return False
    out.reference_length = len1
    out.substitutions = out.deletions = 0
    memset(out.wrong, 0, len1)
    if m == 0 or n == 0:
        out.deletions = m
        memset(out.wrong + prefix, 1, m)
        for i in range(n):
            out.gaps[i] = prefix
            out.positions[i] = prefix + i
        out.insertions = n
        return True

    cdef Symbols table
    cdef int slot
    cdef uint64_t key
    cdef int ref_ids[WORD]
    memset(table.used, 0, sizeof(table.used))
    for i in range(m):
        key = key_of(ref, prefix + i)
        slot = find_slot(&table, ref, prefix + i, key)
        if not table.used[slot]:
            table.used[slot] = True
            table.keys[slot] = key
            table.objects[slot] = NULL if ref.characters else ref.items[prefix + i]
            table.masks[slot] = 0
        table.masks[slot] |= (<uint64_t>1) << i
        ref_ids[i] = slot

    cdef uint64_t* rows = <uint64_t*>malloc(n * (2 * sizeof(uint64_t) + sizeof(int)))
    if rows == NULL:
        raise MemoryError()
    cdef uint64_t* vn_rows = rows + n
    cdef int* hyp_ids = <int*>(rows + 2 * n)
    cdef uint64_t vp = ~(<uint64_t>0), vn = 0, pm, d0, hp, hn
    try:
        for i in range(n):
            key = key_of(hyp, prefix + i)
            slot = find_slot(&table, hyp, prefix + i, key)
            if table.used[slot]:
                hyp_ids[i] = slot
                pm = table.masks[slot]
            else:
                hyp_ids[i] = -1
                pm = 0
            # Hyyrö (2003): the vertical deltas of DP column i + 1 from those of column i
            d0 = (((pm & vp) + vp) ^ vp) | pm | vn
            hp = vn | ~(d0 | vp)
            hn = d0 & vp
            hp = (hp << 1) | 1
            hn = hn << 1
            vp = hn | ~(d0 | hp)
            vn = hp & d0
            rows[i] = vp
            vn_rows[i] = vn

        # backwards from the bottom-right cell in rapidfuzz's order of tests; insertions are
        # collected last to first and reversed below
        col, row = m, n
        while row and col:
            if (rows[row - 1] >> (col - 1)) & 1:  # deletion
                col -= 1
                out.deletions += 1
                out.wrong[prefix + col] = 1
            else:
                row -= 1
                if row and (vn_rows[row - 1] >> (col - 1)) & 1:  # insertion
                    out.gaps[ins] = prefix + col
                    out.positions[ins] = prefix + row
                    ins += 1
                else:
                    col -= 1
                    if ref_ids[col] != hyp_ids[row]:  # substitution (matches are not edits)
                        out.substitutions += 1
                        out.wrong[prefix + col] = 1
        while col:
            col -= 1
            out.deletions += 1
            out.wrong[prefix + col] = 1
        while row:
            row -= 1
            out.gaps[ins] = prefix + col
            out.positions[ins] = prefix + row
            ins += 1
    finally:
        free(rows)
    out.insertions = ins
    cdef Py_ssize_t a = 0, b = ins - 1, swap
    while a < b:
        swap = out.gaps[a]; out.gaps[a] = out.gaps[b]; out.gaps[b] = swap
        swap = out.positions[a]; out.positions[a] = out.positions[b]; out.positions[b] = swap
        a += 1
        b -= 1
    return True


cdef class Scratch:
    """Buffers for one alignment, grown as needed and reused across utterances."""

    cdef unsigned char* wrong
    cdef unsigned char* flags
    cdef Py_ssize_t* gaps
    cdef Py_ssize_t* positions
    cdef Py_ssize_t reference_capacity, hypothesis_capacity

    def __dealloc__(self):
        free(self.wrong)
        free(self.flags)
        free(self.gaps)
        free(self.positions)

    cdef int reserve(self, Py_ssize_t reference, Py_ssize_t hypothesis) except -1:
        cdef void* grown
        if reference > self.reference_capacity:
            grown = realloc(self.wrong, reference + 1)
            if grown == NULL:
                raise MemoryError()
            self.wrong = <unsigned char*>grown
            grown = realloc(self.flags, reference + 1)
            if grown == NULL:
                raise MemoryError()
            self.flags = <unsigned char*>grown
            self.reference_capacity = reference
        if hypothesis > self.hypothesis_capacity:
            grown = realloc(self.gaps, (hypothesis + 1) * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError()
            self.gaps = <Py_ssize_t*>grown
            grown = realloc(self.positions, (hypothesis + 1) * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError()
            self.positions = <Py_ssize_t*>grown
            self.hypothesis_capacity = hypothesis
        return 0

    cdef bint align(self, Tokens* ref, Tokens* hyp, Edits* out) except -1:
        self.reserve(ref.length, hyp.length)
        out.wrong = self.wrong
        out.gaps = self.gaps
        out.positions = self.positions
        return align(ref, hyp, out)


cdef Scratch _summary_scratch = Scratch()


def edit_summary(reference, hypothesis):
    """(substitutions, deletions, wrong, inserted) of rapidfuzz's edit script, or None.

    ``wrong``: bit mask of the substituted or deleted reference positions; ``inserted``: a
    (gap, hypothesis position) pair per inserted token, gap g lying before reference token g.
    None when the two are not both lists/tuples or both strings, or when the reference part left
    after removing the common prefix and suffix is longer than 64 tokens.
    """
    cdef Tokens ref, hyp
    cdef Edits edits
    if not bind(&ref, reference) or not bind(&hyp, hypothesis) or ref.characters != hyp.characters:
        return None
    if not _summary_scratch.align(&ref, &hyp, &edits):
        return None
    cdef Py_ssize_t i, first = -1, last = -1
    cdef uint64_t bits
    for i in range(ref.length):
        if edits.wrong[i]:
            last = i
            if first < 0:
                first = i
    if first < 0:
        wrong = 0
    else:
        bits = 0  # the wrong positions lie within 64 tokens (the middle part)
        for i in range(first, last + 1):
            if edits.wrong[i]:
                bits |= (<uint64_t>1) << (i - first)
        wrong = (<object>bits) << first
    inserted = tuple([(edits.gaps[i], edits.positions[i]) for i in range(edits.insertions)])
    return edits.substitutions, edits.deletions, wrong, inserted


# ---------------------------------------------------------------------------------------------
# phrases: bias-phrase occurrences (leftmost-longest) and keyword counts (leftmost, non-overlapping)

cdef class Phrases:
    """Token sequences (or strings, as characters) stored for C-speed matching.

    Built once per hotword list. ``occurrences`` finds the leftmost-longest, non-overlapping
    occurrences of any phrase (``workbench.metrics.bias``); ``count`` counts the leftmost,
    non-overlapping occurrences of one phrase (``workbench.metrics.keywords``).
    """

    cdef readonly bint characters
    cdef object keep  # the phrases' Python objects, alive as long as the raw pointers below
    cdef Py_ssize_t n
    cdef Py_ssize_t* starts
    cdef Py_ssize_t* lengths
    cdef int64_t* weights  # keywords: how often each is annotated
    cdef uint64_t* element_keys
    cdef PyObject** element_objects
    # first element -> [group_start, group_start + group_length) of phrases, longest first
    cdef Py_ssize_t table_size
    cdef bint* used
    cdef uint64_t* first_keys
    cdef PyObject** first_objects
    cdef Py_ssize_t* group_start
    cdef Py_ssize_t* group_length
    cdef readonly Py_ssize_t shortest

    def __cinit__(self, phrases, bint characters, weights=None):
        """``phrases``: token tuples (or strings with ``characters``), already grouped by first
        element and longest first within a group when used for ``occurrences``."""
        phrases = [p for p in phrases if len(p)]
        self.characters = characters
        self.keep = phrases
        self.n = len(phrases)
        cdef Py_ssize_t total = sum([len(p) for p in phrases]), i, j, k, slot
        self.starts = <Py_ssize_t*>malloc((self.n + 1) * sizeof(Py_ssize_t))
        self.lengths = <Py_ssize_t*>malloc((self.n + 1) * sizeof(Py_ssize_t))
        self.weights = <int64_t*>malloc((self.n + 1) * sizeof(int64_t))
        self.element_keys = <uint64_t*>malloc((total + 1) * sizeof(uint64_t))
        self.element_objects = <PyObject**>malloc((total + 1) * sizeof(PyObject*))
        self.table_size = 16
        while self.table_size < 2 * self.n + 2:
            self.table_size *= 2
        self.used = <bint*>malloc(self.table_size * sizeof(bint))
        self.first_keys = <uint64_t*>malloc(self.table_size * sizeof(uint64_t))
        self.first_objects = <PyObject**>malloc(self.table_size * sizeof(PyObject*))
        self.group_start = <Py_ssize_t*>malloc(self.table_size * sizeof(Py_ssize_t))
        self.group_length = <Py_ssize_t*>malloc(self.table_size * sizeof(Py_ssize_t))
        if (not self.starts or not self.lengths or not self.weights or not self.element_keys or not self.element_objects
                or not self.used or not self.first_keys or not self.first_objects or not self.group_start or not self.group_length):
            raise MemoryError()
        memset(self.used, 0, self.table_size * sizeof(bint))
        cdef Tokens t
        k = 0
        self.shortest = 0
        for i, phrase in enumerate(phrases):
            if not bind(&t, phrase) or t.characters != characters:
                raise TypeError(f"phrase {phrase!r}: expected {'a string' if characters else 'a tuple of tokens'}")
            self.starts[i] = k
            self.lengths[i] = t.length
            self.weights[i] = weights[i] if weights is not None else 1
            if self.shortest == 0 or t.length < self.shortest:
                self.shortest = t.length
            for j in range(t.length):
                self.element_keys[k] = key_of(&t, j)
                self.element_objects[k] = NULL if characters else t.items[j]
                k += 1
            slot = self.find(self.element_keys[self.starts[i]], self.element_objects[self.starts[i]])
            if not self.used[slot]:
                self.used[slot] = True
                self.first_keys[slot] = self.element_keys[self.starts[i]]
                self.first_objects[slot] = self.element_objects[self.starts[i]]
                self.group_start[slot] = i
                self.group_length[slot] = 0
            self.group_length[slot] += 1
            if self.group_start[slot] + self.group_length[slot] != i + 1:
                raise ValueError("phrases must be grouped by their first element")

    def __dealloc__(self):
        free(self.starts); free(self.lengths); free(self.weights)
        free(self.element_keys); free(self.element_objects)
        free(self.used); free(self.first_keys); free(self.first_objects)
        free(self.group_start); free(self.group_length)

    def __len__(self):
        return self.n

    cdef Py_ssize_t find(self, uint64_t key, PyObject* obj) except -2:
        cdef Py_ssize_t slot = <Py_ssize_t>(key & <uint64_t>(self.table_size - 1))
        while self.used[slot]:
            if self.first_keys[slot] == key and (self.characters or same_objects(self.first_objects[slot], obj)):
                return slot
            slot = (slot + 1) & (self.table_size - 1)
        return slot

    cdef bint matches(self, Py_ssize_t phrase, Tokens* t, Py_ssize_t at, Py_ssize_t end) except -1:
        """Does ``phrase`` occur in ``t`` at position ``at`` (within ``[.., end)``)?"""
        cdef Py_ssize_t length = self.lengths[phrase], start = self.starts[phrase], j
        if at + length > end:
            return False
        for j in range(length):
            if self.characters:
                if PyUnicode_READ(t.kind, t.data, at + j) != self.element_keys[start + j]:
                    return False
            elif not same_objects(self.element_objects[start + j], t.items[at + j]):
                return False
        return True

    cdef Py_ssize_t occurrences(self, Tokens* t, Py_ssize_t begin, Py_ssize_t end, unsigned char* flags,
                                Py_ssize_t* covered) except -1:
        """Leftmost-longest occurrences in ``t[begin:end]``: their number; ``covered`` gets the tokens
        they cover and ``flags`` (if not NULL, indexed from ``begin``) a 1 on each such token."""
        cdef Py_ssize_t i = begin, found = 0, slot, phrase, length
        covered[0] = 0
        if self.n == 0:
            return 0
        while i < end:
            slot = self.find(key_of(t, i), NULL if t.characters else t.items[i])
            length = 0
            if self.used[slot]:
                for phrase in range(self.group_start[slot], self.group_start[slot] + self.group_length[slot]):
                    if self.matches(phrase, t, i, end):
                        length = self.lengths[phrase]
                        break
            if length:
                found += 1
                covered[0] += length
                if flags != NULL:
                    memset(flags + i - begin, 1, length)
                i += length
            else:
                i += 1
        return found

    cdef Py_ssize_t count(self, Py_ssize_t phrase, Tokens* t) except -1:
        """Leftmost, non-overlapping occurrences of one phrase in ``t`` (``str.count``'s rule)."""
        cdef Py_ssize_t i = 0, found = 0, length = self.lengths[phrase]
        while i + length <= t.length:
            if self.matches(phrase, t, i, t.length):
                found += 1
                i += length
            else:
                i += 1
        return found

    cdef int64_t missing(self, Tokens* t) except -1:
        """Keywords: annotated occurrences not found in ``t`` (each phrase counted separately)."""
        cdef int64_t total = 0, found
        cdef Py_ssize_t phrase
        for phrase in range(self.n):
            found = self.count(phrase, t)
            if found < self.weights[phrase]:
                total += self.weights[phrase] - found
        return total

    cdef int64_t annotated(self):
        cdef int64_t total = 0
        cdef Py_ssize_t phrase
        for phrase in range(self.n):
            total += self.weights[phrase]
        return total


# ---------------------------------------------------------------------------------------------
# count rows

cdef class CountTable:
    """Per-utterance counts, one row of ``COLUMNS`` per utterance, in one C array."""

    cdef int64_t* data
    cdef readonly Py_ssize_t rows
    cdef Py_ssize_t capacity

    def __dealloc__(self):
        free(self.data)

    cdef int64_t* new_row(self) except NULL:
        cdef void* grown
        if self.rows == self.capacity:
            self.capacity = max(1024, 2 * self.capacity)
            grown = realloc(self.data, self.capacity * NCOLS * sizeof(int64_t))
            if grown == NULL:
                raise MemoryError()
            self.data = <int64_t*>grown
        self.rows += 1
        return self.data + (self.rows - 1) * NCOLS

    def append(self, values):
        """Add a row given as a sequence of ``len(COLUMNS)`` ints (the Python scorer's fallback)."""
        if len(values) != NCOLS:
            raise ValueError(f"{len(values)} values for {NCOLS} columns")
        cdef int64_t* row = self.new_row()
        cdef Py_ssize_t i
        for i in range(NCOLS):
            row[i] = values[i]

    def __len__(self):
        return self.rows

    def row(self, Py_ssize_t index):
        if not 0 <= index < self.rows:
            raise IndexError(index)
        return tuple([self.data[index * NCOLS + i] for i in range(NCOLS)])

    def totals(self):
        """Corpus sums: every column summed over all rows, plus the conditional sums the
        corpus metrics need, as a dict of column name -> int."""
        cdef int64_t sums[NCOLS]
        cdef int64_t exact = 0, without_poi = 0, pier_other_tokens = 0, pier_other_errors = 0, without_keywords = 0
        cdef int64_t* row
        cdef Py_ssize_t r, i
        memset(sums, 0, sizeof(sums))
        for r in range(self.rows):
            row = self.data + r * NCOLS
            for i in range(NCOLS):
                sums[i] += row[i]
            if row[MIXED_SUB] + row[MIXED_DEL] + row[MIXED_INS] == 0:
                exact += 1
            if row[POI_TOKENS] == 0:
                without_poi += 1
            else:
                pier_other_tokens += row[NON_POI_TOKENS]
                pier_other_errors += row[NON_POI_ERRORS]
            if row[KEYWORDS] == 0:
                without_keywords += 1
        result = {name: sums[i] for i, name in enumerate(COLUMNS)}
        # PIER's non-POI remainder is taken over the utterances PIER includes (those with POIs)
        result["non_poi_tokens"] = pier_other_tokens
        result["non_poi_errors"] = pier_other_errors
        result.update(rows=self.rows, exact=exact, without_poi=without_poi, without_keywords=without_keywords)
        return result


cdef inline bint has_decimal(Tokens* t) except -1:
    cdef Py_ssize_t i
    for i in range(t.length):
        if Py_UNICODE_ISDECIMAL(PyUnicode_READ(t.kind, t.data, i)):
            return True
    return False


cdef int64_t inserted_phrase_tokens(Phrases phrases, Tokens* hyp, Edits* edits) except -1:
    """Inserted tokens forming phrases, each phrase inside one run of contiguous insertions."""
    cdef int64_t forming = 0
    cdef Py_ssize_t k = 0, start, end, covered = 0
    if phrases.n == 0 or edits.insertions < phrases.shortest:
        return 0
    while k < edits.insertions:
        start = end = edits.positions[k]
        while k < edits.insertions and edits.positions[k] == end:
            end += 1
            k += 1
        if end - start >= phrases.shortest:
            phrases.occurrences(hyp, start, end, NULL, &covered)
            forming += covered
    return forming


cdef int bias_counts(Phrases phrases, Tokens* ref, Tokens* hyp, Edits* edits, unsigned char* flags, int64_t* out) except -1:
    """B/U counts (``workbench.metrics.bias.bias_counts``) into out[0:5]."""
    cdef int64_t errors = edits.substitutions + edits.deletions + edits.insertions, in_bias = 0, bias_errors = 0
    cdef Py_ssize_t i, covered = 0, found
    if phrases is None or phrases.n == 0:
        out[0] = 0; out[1] = 0; out[2] = ref.length; out[3] = errors; out[4] = 0
        return 0
    memset(flags, 0, ref.length)
    found = phrases.occurrences(ref, 0, ref.length, flags, &covered)
    for i in range(ref.length):
        if flags[i]:
            in_bias += 1
            bias_errors += edits.wrong[i]
    bias_errors += inserted_phrase_tokens(phrases, hyp, edits)
    out[0] = in_bias; out[1] = bias_errors; out[2] = ref.length - in_bias; out[3] = errors - bias_errors; out[4] = found
    return 0


# module-level buffers: the kernel holds the GIL throughout and calls no Python code that could
# re-enter it (tokens are compared with str's C equality), so one set serves every call
cdef Scratch _mixed = Scratch(), _words = Scratch(), _chars = Scratch()


def count_row(ref_words, ref_mixed, hyp_words, hyp_mixed, poi, Phrases word_phrases, Phrases char_phrases,
              Phrases keywords, CountTable table):
    """Append one utterance's counts to ``table``; False (nothing appended) when an alignment's
    middle part is over 64 tokens or the inputs are not lists of tokens.

    ``ref_words``/``hyp_words``: normalized whitespace words (WER; their characters, joined, give
    CER); ``ref_mixed``/``hyp_mixed``: mixed tokens (MER, PIER, B-WER, KER, digits); ``poi``: a
    0/1 byte per reference mixed token, or None; phrases may be None (no list).
    """
    cdef Tokens rm, hm, rw, hw, rc, hc
    cdef Edits mixed, word, chars
    cdef Py_ssize_t i, insertion, gap
    if not (bind(&rm, ref_mixed) and bind(&hm, hyp_mixed) and bind(&rw, ref_words) and bind(&hw, hyp_words)):
        return False
    if rm.characters or hm.characters or rw.characters or hw.characters:
        return False
    if poi is not None and (not PyBytes_CheckExact(poi) or PyBytes_GET_SIZE(poi) != rm.length):
        raise ValueError(f"POI flags: expected {rm.length} bytes, got {poi!r:.80}")
    if not _mixed.align(&rm, &hm, &mixed):
        return False
    same_words = (ref_words is ref_mixed or ref_words == ref_mixed) and (hyp_words is hyp_mixed or hyp_words == hyp_mixed)
    if not same_words and not _words.align(&rw, &hw, &word):
        return False
    ref_chars = PyUnicode_Join("", ref_words)
    hyp_chars = PyUnicode_Join("", hyp_words)
    bind(&rc, ref_chars)
    bind(&hc, hyp_chars)
    if not _chars.align(&rc, &hc, &chars):
        return False

    cdef int64_t* row = table.new_row()
    cdef Edits* w = &mixed if same_words else &word
    row[0] = rw.length; row[1] = w.substitutions; row[2] = w.deletions; row[3] = w.insertions
    row[4] = rc.length; row[5] = chars.substitutions; row[6] = chars.deletions; row[7] = chars.insertions
    row[8] = rm.length; row[9] = mixed.substitutions; row[10] = mixed.deletions; row[11] = mixed.insertions
    cdef int64_t errors = mixed.substitutions + mixed.deletions + mixed.insertions

    # PIER (workbench.metrics.pier): S/D on POI tokens + insertions next to one
    cdef const unsigned char* flags = NULL
    cdef int64_t n_poi = 0, poi_errors = 0
    if poi is not None:
        flags = <const unsigned char*>PyBytes_AS_STRING(poi)
        for i in range(rm.length):
            if flags[i]:
                n_poi += 1
                poi_errors += mixed.wrong[i]
    if n_poi:
        for insertion in range(mixed.insertions):
            gap = mixed.gaps[insertion]
            if (gap > 0 and flags[gap - 1]) or (gap < rm.length and flags[gap]):
                poi_errors += 1
    row[12] = n_poi; row[13] = poi_errors; row[14] = rm.length - n_poi; row[15] = errors - poi_errors

    bias_counts(word_phrases, &rm, &hm, &mixed, _mixed.flags, row + 16)
    bias_counts(char_phrases, &rc, &hc, &chars, _chars.flags, row + 21)

    if keywords is None or keywords.n == 0:
        row[26] = 0; row[27] = 0
    else:
        row[26] = keywords.annotated(); row[27] = keywords.missing(&hm)

    # digits (workbench.metrics.keywords.digit_counts): S/D of reference tokens holding a digit
    cdef Tokens token
    cdef int64_t digit_tokens = 0, digit_errors = 0
    if has_decimal(&rc):
        for i in range(rm.length):
            bind(&token, <object>rm.items[i])
            if token.characters and has_decimal(&token):
                digit_tokens += 1
                digit_errors += mixed.wrong[i]
    row[28] = digit_tokens; row[29] = digit_errors
    return True
