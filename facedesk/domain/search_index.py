"""The exact nearest-neighbour index of a gallery's encodings: pure numpy, no store.

The gallery's encodings are held as one float32 matrix, rows grouped by person, built
once per gallery version. A search computes every squared distance with one matrix-vector
product, picks the persons that can be among the K closest with a safety margin that makes
the float32 shortcut unable to change the ranking, and recomputes those persons' distances
in float64: the result is the exact top K (see `SearchIndex`). There is no approximate
index: a missed true candidate must never be an artefact of the index.
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from facedesk.domain import lookalikes
from facedesk.domain.lookalikes import PersonDistances

#: every how many faces' scores are sampled to find a first cut-off
_SAMPLE_STEP = 32


class Encodings(Protocol):
    """Every face encoding, grouped by person (rows of one person are contiguous): what
    the store's `EncodingMatrix` holds."""

    @property
    def face_ids(self) -> NDArray[np.int64]: ...
    @property
    def person_pks(self) -> NDArray[np.int64]: ...
    @property
    def matrix(self) -> NDArray[np.float32]: ...
    @property
    def engine_ids(self) -> frozenset[str]: ...
    @property
    def version(self) -> int: ...


_U32 = 2.0 ** -24  # float32 unit roundoff


class Projection:
    """The gallery's encodings in fewer dimensions, for a cheaper float32 pass that is
    still exact in the end (its margin accounts for every approximation).

    dlib's encodings lie in a subspace of about 77 of their 128 dimensions (measured on
    13k LFW faces: the eigenvalues of their second-moment matrix fall from 2e-4 to 5e-6
    after the 77th, then to float32 noise; the mean lies in the same subspace).
    With `basis` W (128 x r: the leading principal directions of a sample, scaled so
    that every singular value stays below 1), each encoding g becomes y = W^T g: r
    numbers instead of 128. For a face g and a probe p, exactly:

        |g - p|^2 = |g|^2 - 2 (W^T g).(W^T p) - 2 g^T B p + |p|^2,   B = I - W W^T,

    and B is positive semidefinite, so |g^T B p| <= a(g) a(p), a(v)^2 = |v|^2 - |W^T v|^2:
    the part of v outside the r dimensions (about 0.001 for dlib encodings at r = 80).
    A face's score |g|^2 - 2 y.y_p is read from r columns; `probe` gives the margin
    that bounds its distance from the exact value: a(g) a(p), and float32 rounding of
    the projection, the norms and the product. Reading r x 4 bytes per face instead of
    512 is what makes the pass faster: it is bound by memory bandwidth.

    Built only when r in `DIMS` leaves a sample's encodings at most `RESIDUAL_MAX`
    outside; a probe far outside the r dimensions (a(p) large: not a dlib encoding) is
    searched with every dimension instead.
    """

    DIMS = (64, 80, 96)
    #: largest part of a sample encoding allowed outside the r dimensions
    RESIDUAL_MAX = 0.02
    #: largest a(probe) x a_max for which the projection is used (else every dimension)
    CROSS_MAX = 1e-3
    SAMPLE = 16_384
    CHUNK = 65_536

    def __init__(self, basis: NDArray[np.float32], scan: NDArray[np.float32],
                 max_norm: float, max_residual: float) -> None:
        self.basis = basis
        self.basis64 = basis.astype(np.float64)
        self.scan = scan  # (n, r): y of every face
        self.max_norm = max_norm  # upper bound of every |g|
        self.max_residual = max_residual  # upper bound of every a(g)

    @property
    def dims(self) -> int:
        return int(self.basis.shape[1])

    @classmethod
    def build(cls, matrix: NDArray[np.float32], sq_norms: NDArray[np.float32]
              ) -> Projection | None:
        """A projection of `matrix` (whose float32 squared norms are `sq_norms`) if one
        of DIMS holds a sample's encodings, else None."""
        n = len(matrix)
        if n < 2:
            return None
        sample = matrix[:: max(1, n // cls.SAMPLE)].astype(np.float64)
        _, vectors = np.linalg.eigh(sample.T @ sample)
        vectors = vectors[:, ::-1]
        sq = np.einsum("ij,ij->i", sample, sample)
        for r in cls.DIMS:
            # scaled so that float32 rounding cannot push a singular value above 1
            w = (vectors[:, :r] * (1.0 - 4e-6)).astype(np.float32)
            inside = sample @ w.astype(np.float64)
            outside = np.sqrt(np.maximum(sq - np.einsum("ij,ij->i", inside, inside), 0.0))
            if float(outside.max()) <= cls.RESIDUAL_MAX:
                return cls._project(matrix, sq_norms, w)
        return None

    @classmethod
    def _project(cls, matrix: NDArray[np.float32], sq_norms: NDArray[np.float32],
                 w: NDArray[np.float32]) -> Projection:
        n, r = len(matrix), w.shape[1]
        scan = np.empty((n, r), dtype=np.float32)
        worst_sq = 0.0  # largest upper bound of a(g)^2
        grow = 1.0 + 200 * _U32  # float32 |g|^2 is within 130u of the exact value
        eps = 135 * _U32 * np.sqrt(r)  # |y - W^T g| <= eps |g| (a float32 product)
        for lo in range(0, n, cls.CHUNK):
            y = scan[lo:lo + cls.CHUNK]
            np.matmul(matrix[lo:lo + cls.CHUNK], w, out=y)
            c = sq_norms[lo:lo + cls.CHUNK].astype(np.float64) * grow
            yy = np.einsum("ij,ij->i", y, y, dtype=np.float64)
            # |W^T g| >= |y| - eps |g|, and a(g)^2 = |g|^2 - |W^T g|^2
            lower = np.maximum(np.sqrt(yy / grow) - eps * np.sqrt(c), 0.0)
            worst_sq = max(worst_sq, float((c - lower * lower).max()))
        max_norm = float(np.sqrt(float(sq_norms.max()) * grow))
        return cls(w, scan, max_norm, float(np.sqrt(max(worst_sq, 0.0))) + 1e-9)

    def probe(self, p32: NDArray[np.float32]) -> tuple[NDArray[np.float32], float] | None:
        """The probe's y (float32) and the margin of the scores against it (twice the
        bound on any score's error); None if the probe lies too far outside the r
        dimensions (search every dimension then)."""
        p = p32.astype(np.float64)
        yp = p @ self.basis64
        p_sq = float(p @ p)
        a_p = np.sqrt(max(p_sq - float(yp @ yp), 0.0) + 1e-15 * p_sq + 1e-30)
        if a_p * self.max_residual > self.CROSS_MAX:
            return None
        r = self.dims
        g_len, p_len, u = self.max_norm, np.sqrt(p_sq) * (1.0 + 1e-12), _U32
        # score = |g|^2 - 2 fl(y.y_p); its distance from the exact |g|^2 - 2 g.p:
        #   the float32 |g|^2                                   <= 200u G^2
        #   y and y_p rounded, the r-term sum rounded           <= 2 G P ((r+2)u +
        #                                                          135u sqrt(r) + 2u) 1.01
        #   outside the r dimensions, 2 g^T B p                 <= 2 a_max a(p)
        #   the final addition                                  <= u (G^2 + 2 G P) 1.01
        delta = (200 * u * g_len ** 2
                 + 2 * g_len * p_len * ((r + 2) * u + 135 * u * np.sqrt(r) + 2 * u) * 1.01
                 + 2 * self.max_residual * a_p
                 + u * (g_len ** 2 + 2 * g_len * p_len) * 1.01)
        return yp.astype(np.float32), float(2.0 * delta) + 1e-12


class SearchIndex:
    """The gallery's encodings in memory, ready for exact top-K-persons search.

    A search is one float32 matrix-vector product over every face, giving each face the
    score `|g|^2 - 2 g.p` (its squared distance less the probe's constant `|p|^2`) in a
    buffer kept between searches. Only a handful of faces is looked at after that: a
    cut-off taken from a sample of the scores selects a few hundred closest faces (by
    a full scan, so all of them); grouped by person, they give the K-th best person's
    float32 score, and that plus a bound on float32 rounding (`margin`) is a threshold
    every person of the exact top K must be under. Only the persons with a face under it
    are re-scored, every one of their faces in float64, and ranked by (distance,
    person): the exact top K, whatever float32 did. When the faces under the cut-off
    hold fewer than K persons (a person with hundreds of photos near the probe) the
    cut-off grows, and as a last resort every person's minimum is taken.

    The product reads the whole matrix once (512 MB at a million faces): it is bound by
    memory bandwidth, and everything else costs about a millisecond. From
    PROJECT_MIN_FACES faces, when the encodings lie in fewer dimensions (dlib's do: about
    77), the product reads a `Projection` of them instead (80 columns: 0.63x the bytes),
    with a margin that covers the projection; the re-check uses the original encodings.
    """

    #: galleries from this many faces are scanned through a `Projection` when one fits
    PROJECT_MIN_FACES = 200_000

    projection: Projection | None
    _face_person: NDArray[np.int32] | None

    def __init__(self, enc: Encodings, project: bool | None = None) -> None:
        """`project`: scan through a `Projection` (True: whenever one fits the data;
        None: from PROJECT_MIN_FACES faces, where the saving pays for building it)."""
        matrix = np.ascontiguousarray(enc.matrix, dtype=np.float32)
        self._setup(enc.version, enc.engine_ids, enc.face_ids, matrix, enc.person_pks,
                    np.einsum("ij,ij->i", matrix, matrix, dtype=np.float32))
        if project is None:
            project = self.faces >= self.PROJECT_MIN_FACES
        self.projection = Projection.build(self.matrix, self.sq_norms) if project \
            else None

    def subset(self, rows: NDArray[np.intp]) -> SearchIndex:
        """An index of the given rows (ascending; a filtered search: its persons are the
        persons with a kept face, and only their kept faces). Searching it is the same
        exact search; its scan reads only the kept rows, through this index's projection
        when it has one (its bounds hold for any subset of the rows)."""
        sub = object.__new__(SearchIndex)
        pks = self.person_pks[self.row_persons()[rows]]
        if self.projection is None:
            sub._setup(self.version, self.engine_ids, self.face_ids[rows],
                       self.base_matrix(rows), pks, self.sq_norms[rows])
            sub.projection = None
        else:  # the scan reads the projection: the encodings are read in place
            sub._setup(self.version, self.engine_ids, self.face_ids[rows], self.matrix, pks,
                       self.sq_norms[rows], self.base_matrix_rows(rows))
            sub.projection = Projection(
                self.projection.basis, np.take(self.projection.scan, rows, axis=0),
                self.projection.max_norm, self.projection.max_residual)
        return sub

    def row_persons(self) -> NDArray[np.int32]:
        """Each row's person, as an index into `person_pks` (built on first use)."""
        if self._face_person is None:
            self._face_person = np.repeat(np.arange(self.persons, dtype=np.int32),
                                          self.ends - self.starts)
        return self._face_person

    def base_matrix_rows(self, rows: NDArray[np.intp]) -> NDArray[np.intp]:
        """The rows of `matrix` that hold the encodings of these rows of the index (the
        same rows, except in a `subset` that reads its encodings in place)."""
        return rows if self._base_rows is None else self._base_rows[rows]

    def base_matrix(self, rows: NDArray[np.intp] | None = None) -> NDArray[np.float32]:
        """The encodings of these rows (all when None), in the index's row order."""
        if rows is None:
            return self.matrix if self._base_rows is None else \
                np.take(self.matrix, self._base_rows, axis=0)
        # np.take: rows gathered in about 0.6x the time of matrix[rows]
        return np.take(self.matrix, self.base_matrix_rows(rows), axis=0)

    def _setup(self, version: int, engine_ids: frozenset[str], face_ids: NDArray[np.int64],
               matrix: NDArray[np.float32], pks: NDArray[np.int64],
               sq_norms: NDArray[np.float32], base_rows: NDArray[np.intp] | None = None
               ) -> None:
        self.version = version
        self.engine_ids = engine_ids
        self.face_ids = face_ids
        #: the encodings; a row a search returns (`nearest`) is a row of this matrix.
        #: In a `subset` that reads them in place, row i of the index is `base_rows[i]`
        self.matrix = matrix
        self._base_rows = base_rows
        self.sq_norms = sq_norms
        n = len(pks)
        if n:
            starts = np.flatnonzero(np.concatenate(([True], pks[1:] != pks[:-1])))
        else:
            starts = np.zeros(0, dtype=np.int64)
        self.starts = starts.astype(np.intp)
        self.ends = np.append(self.starts[1:], n).astype(np.intp)
        self.person_pks = pks[self.starts] if n else pks
        self.max_sq_norm = float(self.sq_norms.max()) if n else 0.0
        # the per-face scores of one search; reused, so a search allocates (and page-faults)
        # no gallery-sized array. A second thread searching meanwhile gets its own.
        self._scores = np.empty(n, dtype=np.float32)
        self._mask = np.empty(n, dtype=np.bool_)
        self._scores_lock = threading.Lock()
        # the rows of the persons the look-alike estimate samples (built on first use)
        self._sample_rows: NDArray[np.intp] | None = None
        self._sample_starts: NDArray[np.intp] | None = None
        self._face_person = None  # each row's person (index; `row_persons`)

    @property
    def faces(self) -> int:
        return len(self.face_ids)

    @property
    def persons(self) -> int:
        return len(self.person_pks)

    def margin(self, p_sq: float) -> float:
        """How far apart two float32 scores may be while the exact values are in the other
        order (twice the rounding bound of one score). A score `|g|^2 - 2 g.p` rounds: the
        two 128-term sums (in any order, FMA or not) by at most 128u(|g|^2 + 2|g||p|) and
        the final subtraction by u of its result, u = 2^-24; with 2|g||p| <= |g|^2 + |p|^2
        that is under 130u(2G + P) for G = the largest |g|^2 and P = |p|^2."""
        u = 2.0 ** -24
        return 2.0 * 1.01 * 130.0 * u * (2.0 * self.max_sq_norm + p_sq) + 1e-30

    def nearest(self, probe: NDArray[np.float32], k: int
                ) -> list[tuple[int, list[tuple[int, float, int]]]]:
        """Top-k persons by their closest face:
        [(person_pk, [(face_id, distance, matrix_row), ...])], each person's faces closest
        first. Distances exact (float64)."""
        return self.nearest_and_persons(probe, k, persons=False)[0]

    def nearest_and_persons(self, probe: NDArray[np.float32], k: int, *, persons: bool = True
                            ) -> tuple[list[tuple[int, list[tuple[int, float, int]]]],
                                       PersonDistances | None]:
        """`nearest`, and (with `persons`) what the probe-specific look-alike estimate
        reads of the probe's distances to every person (`lookalikes.PersonDistances`),
        from the same pass over the faces: the closest persons it needs and a regular
        sample of every person's closest face (all persons up to
        lookalikes.COUNT_SAMPLE), within the float32 pass's rounding and the
        projection's bound when it is used (about 1e-3 at most; the ranking of the top k
        is exact as ever)."""
        if self.faces == 0 or k <= 0:
            return [], (PersonDistances(np.zeros(0), np.zeros(0), 0) if persons else None)
        p32 = np.ascontiguousarray(probe, dtype=np.float32).reshape(-1)
        if p32.shape != (self.matrix.shape[1],):
            raise ValueError(f"a probe encoding must have {self.matrix.shape[1]} values")
        p_sq = float(np.dot(p32.astype(np.float64), p32.astype(np.float64)))
        if not np.isfinite(p_sq):
            raise ValueError("a probe encoding must be finite")
        k_eff = min(k, self.persons)
        margin = self.margin(p_sq)
        own = self._scores_lock.acquire(blocking=False)
        try:
            if own:
                scores, mask = self._scores, self._mask
            else:
                scores = np.empty(self.faces, dtype=np.float32)
                mask = np.empty(self.faces, dtype=np.bool_)
            projected = None if self.projection is None else self.projection.probe(p32)
            if projected is None:
                scan, norms, vector = self.base_matrix(), self.sq_norms, p32
            else:
                assert self.projection is not None
                scan, norms = self.projection.scan, self.sq_norms
                vector, margin = projected
            # |g|^2 - 2 g.p in place, no gallery-sized temporaries; -2p is exact (a power
            # of two), so this is bit for bit -2 (g.p) + |g|^2
            np.dot(scan, vector * np.float32(-2.0), out=scores)
            np.add(scores, norms, out=scores)
            groups = self._candidate_groups(scores, mask, k_eff, margin)
            spread = self._person_distances(scores, mask, p_sq) if persons else None
        finally:
            if own:
                self._scores_lock.release()
        return self._exact(groups, p32, k_eff), spread

    def _person_distances(self, scores: NDArray[np.float32], mask: NDArray[np.bool_],
                          p_sq: float) -> PersonDistances:
        """The closest persons the look-alike estimate needs and its sample of persons,
        from the scores |g|^2 - 2 g.p (see `nearest_and_persons`)."""
        sample = self._sampled_persons(scores, p_sq)
        need = min(lookalikes.closest_needed(self.persons), self.persons)
        if len(sample) == self.persons:  # every person: the closest are among them
            closest = np.sort(np.partition(sample, need - 1)[:need])
            return PersonDistances(closest, sample, self.persons)
        # faces under a cut-off from every _SAMPLE_STEP-th score, grouped by person,
        # until they hold `need` persons: those are the closest (every face of a person
        # left out is farther than the cut-off)
        every = scores[::_SAMPLE_STEP]
        j = min(len(every) - 1, -(-3 * need * self.faces // (self.persons * _SAMPLE_STEP)) + 8)
        face_person = self.row_persons()
        while True:
            rows = self._below(scores, mask, float(np.partition(every, j)[j]))
            groups = face_person[rows]
            first = np.flatnonzero(np.concatenate(([True], groups[1:] != groups[:-1])))
            if len(first) >= need or j >= len(every) - 1:
                break
            j = min(len(every) - 1, 4 * j)
        best = np.minimum.reduceat(scores[rows], first).astype(np.float64)
        best = np.sort(np.partition(best, need - 1)[:need]) if len(best) > need else \
            np.sort(best)
        return PersonDistances(np.sqrt(np.maximum(best + p_sq, 0.0)), sample, self.persons)

    def _sampled_persons(self, scores: NDArray[np.float32], p_sq: float
                         ) -> NDArray[np.float64]:
        """The closest face's distance of every step-th person (lookalikes.sample_step),
        from the scores |g|^2 - 2 g.p."""
        step = lookalikes.sample_step(self.persons)
        if step == 1:
            best = np.minimum.reduceat(scores, self.starts).astype(np.float64)
        else:
            if self._sample_rows is None:
                lo, hi = self.starts[::step], self.ends[::step]
                sizes = hi - lo
                self._sample_rows = (np.repeat(lo - np.cumsum(sizes) + sizes, sizes)
                                     + np.arange(int(sizes.sum()))).astype(np.intp)
                self._sample_starts = (np.cumsum(sizes) - sizes).astype(np.intp)
            assert self._sample_starts is not None
            best = np.minimum.reduceat(scores[self._sample_rows],
                                       self._sample_starts).astype(np.float64)
        best += p_sq
        np.maximum(best, 0.0, out=best)
        return np.sqrt(best, out=best)

    def _below(self, scores: NDArray[np.float32], mask: NDArray[np.bool_],
               limit: float) -> NDArray[np.intp]:
        """Rows whose score is at most `limit` (rounded up to float32: never fewer)."""
        np.less_equal(scores, _round_up32(limit), out=mask)
        return np.flatnonzero(mask)

    def _candidate_groups(self, scores: NDArray[np.float32], mask: NDArray[np.bool_],
                          k: int, margin: float) -> NDArray[np.intp]:
        """Every person (group of rows) whose closest face's float32 score is within
        `margin` of the k-th best person's: a superset of the exact top k.

        A cut-off first, from every `_SAMPLE_STEP`-th score: its j-th smallest is expected
        to have about j x step faces below it. The faces under it (all of them, by a scan)
        are grouped by person; when they hold k persons the k-th person's score is known
        exactly, whatever the sample was. Otherwise the cut-off grows; the last resort is
        each person's minimum over every face."""
        if k >= self.persons:
            return np.arange(self.persons, dtype=np.intp)
        sample = scores[::_SAMPLE_STEP]
        j = -(-4 * (4 * k + 16) // _SAMPLE_STEP)  # about 4 x (4k + 16) faces expected
        while j < len(sample) // 4:
            rows = self._below(scores, mask, float(np.partition(sample, j)[j]))
            order = rows[np.argsort(scores[rows], kind="stable")]
            groups = np.searchsorted(self.starts, order, side="right") - 1
            _, first = np.unique(groups, return_index=True)
            if len(first) >= k:
                kth = float(scores[order[np.sort(first)[k - 1]]])
                limit = kth + margin
                if limit < float(scores[order[-1]]):  # all such faces are in `rows`
                    within = order[scores[order] <= _round_up32(limit)]
                else:
                    within = self._below(scores, mask, limit)
                return np.unique(np.searchsorted(self.starts, within, side="right") - 1)
            j *= 4
        person_min = np.minimum.reduceat(scores, self.starts)
        kth = float(np.partition(person_min, k - 1)[k - 1])
        return np.flatnonzero(person_min <= _round_up32(kth + margin))

    def _exact(self, groups: NDArray[np.intp], p32: NDArray[np.float32], k: int
               ) -> list[tuple[int, list[tuple[int, float, int]]]]:
        """Float64 distances of every face of the given persons; the best k persons by
        (closest distance, person), each with its faces closest first."""
        if len(groups) == 0:
            return []
        lo, hi = self.starts[groups], self.ends[groups]
        sizes = hi - lo
        rows = np.repeat(lo - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        mrows = self.base_matrix_rows(rows)
        diff = self.matrix[mrows].astype(np.float64) - p32.astype(np.float64)
        dist = np.sqrt((diff ** 2).sum(axis=1))
        owner = np.repeat(np.arange(len(groups)), sizes)
        # rows by (group, distance, face id): each group's closest face comes first
        order = np.lexsort((self.face_ids[rows], dist, owner))
        firsts = np.cumsum(sizes) - sizes
        best = dist[order[firsts]]
        pks = self.person_pks[groups]
        ranked = np.lexsort((pks, best))[:k]
        out: list[tuple[int, list[tuple[int, float, int]]]] = []
        for j in ranked:
            sel = order[firsts[j]:firsts[j] + sizes[j]]
            out.append((int(pks[j]), [(int(self.face_ids[rows[o]]), float(dist[o]),
                                       int(mrows[o])) for o in sel]))
        return out


def _round_up32(value: float) -> np.float32:
    """The smallest float32 not below `value` (a threshold compared with float32 scores
    must not be rounded down)."""
    v = np.float32(value)
    return v if float(v) >= value else np.nextafter(v, np.float32(np.inf))


def cosine(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    den = float(np.linalg.norm(a64) * np.linalg.norm(b64))
    return float(a64 @ b64) / den if den > 0 else 0.0
