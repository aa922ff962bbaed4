"""The trainee quiz (pure): pairs of gallery faces to judge, and the trainee's figures
beside the algorithm's on the same pairs.

A quiz mixes *genuine* pairs (two photos of the same person, drawn at random) and
*impostor* pairs that are the gallery's closest look-alikes: each anchor face with its
nearest face of a DIFFERENT person, the closest of those first, each person in at most
one impostor pair while enough others remain. The draw is seeded: the same gallery,
size, share and seed give the same pairs in the same order (a trainer can give a class
the same quiz). Left and right are shuffled too, so the anchor is not always on one side.

The trainee answers "same", "different" or "can't tell"; the algorithm answers "same"
when the distance is at or under the chosen threshold. Figures count only the pairs the
trainee answered (a quiz finished early leaves the rest out, and says how many):

- accuracy: right answers among the answered pairs ("can't tell" is not right);
- false "same" rate: "same" said of an impostor pair, among the impostor pairs answered;
- false "different" rate: "different" said of a genuine pair, among the genuine pairs;
- "can't tell" rate, and the median seconds per pair (the trainee's only).

Each with its count and 95 % Wilson interval (facedesk.domain.evaluation.Rate), overall
and per group of a metadata column: a pair's group is its faces' group, or "A / B" when
the two faces' groups differ (an impostor can cross groups), "(not recorded)" when a face
has no value. Small groups are shown with their small counts, never left out.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.evaluation import Rate, group_labels
from facedesk.domain.formatting import percent_number

SAME, DIFFERENT, CANT_TELL = "same", "different", "cant_tell"
#: the trainee's answers, as stored
ANSWERS = (SAME, DIFFERENT, CANT_TELL)
#: the answers as people read them
ANSWER_WORDS = {SAME: "same person", DIFFERENT: "different persons", CANT_TELL: "can't tell"}
#: quiz sizes a trainer may choose
MIN_SIZE, MAX_SIZE = 2, 200
#: at most this many anchor faces are searched for their nearest impostor (seeded sample):
#: a training gallery is small; this bounds the work on a large one
MAX_ANCHORS = 4000
#: at most this many faces of one person are paired for genuine pairs
MAX_PERSON_FACES = 40
_BLOCK = 1024


@dataclass(frozen=True)
class QuizPair:
    """Two gallery faces (by face id) shown side by side; `genuine`: the same person."""

    face_a: int
    face_b: int
    person_a: int
    person_b: int
    distance: float

    @property
    def genuine(self) -> bool:
        return self.person_a == self.person_b


@dataclass(frozen=True)
class Draw:
    """The pairs of a quiz, in the order shown, and what the gallery could give."""

    pairs: tuple[QuizPair, ...]
    requested: int
    genuine: int
    impostor: int
    #: distinct genuine pairs the gallery has (persons with two photos or more)
    genuine_available: int
    #: what differs from the request, in words ("" when nothing)
    note: str = ""


def algorithm_answer(distance: float, threshold: float) -> str:
    """The algorithm's answer: "same" at or under the threshold."""
    return SAME if distance <= threshold else DIFFERENT


def _genuine_rows(person_pks: NDArray[np.int64], wanted: int, rng: np.random.Generator
                  ) -> tuple[list[tuple[int, int]], int]:
    """`wanted` distinct same-person row pairs, spread over persons (a random pair of each
    person in turn, persons in random order), and how many distinct pairs exist."""
    by_person: dict[int, list[int]] = {}
    for row, pk in enumerate(person_pks.tolist()):
        by_person.setdefault(int(pk), []).append(row)
    pools: list[list[tuple[int, int]]] = []
    available = 0
    for rows in by_person.values():
        if len(rows) < 2:
            continue
        available += len(rows) * (len(rows) - 1) // 2
        if len(rows) > MAX_PERSON_FACES:
            rows = sorted(rng.choice(rows, MAX_PERSON_FACES, replace=False).tolist())
        combos = list(itertools.combinations(rows, 2))
        pools.append([combos[i] for i in rng.permutation(len(combos))])
    pools = [pools[i] for i in rng.permutation(len(pools))]
    out: list[tuple[int, int]] = []
    depth = 0
    while len(out) < wanted and any(depth < len(p) for p in pools):
        for pool in pools:
            if depth < len(pool) and len(out) < wanted:
                out.append(pool[depth])
        depth += 1
    return out, available


def nearest_impostors(matrix: NDArray[np.float32], person_pks: NDArray[np.int64],
                      anchors: Sequence[int]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """For each anchor row, the row of the nearest face of a DIFFERENT person and its
    Euclidean distance (exact; -1 and inf when every face is of the anchor's person)."""
    m = np.asarray(matrix, dtype=np.float64)
    norms = (m * m).sum(axis=1)
    idx = np.asarray(anchors, dtype=np.int64)
    nearest = np.full(len(idx), -1, dtype=np.int64)
    dist = np.full(len(idx), np.inf)
    for start in range(0, len(idx), _BLOCK):
        rows = idx[start:start + _BLOCK]
        d2 = norms[rows][:, None] + norms[None, :] - 2.0 * (m[rows] @ m.T)
        d2[person_pks[rows][:, None] == person_pks[None, :]] = np.inf
        best = np.argmin(d2, axis=1)
        ok = np.isfinite(d2[np.arange(len(rows)), best])
        nearest[start:start + len(rows)] = np.where(ok, best, -1)
        exact = np.linalg.norm(m[rows] - m[best], axis=1)
        dist[start:start + len(rows)] = np.where(ok, exact, np.inf)
    return nearest, dist


def _impostor_rows(matrix: NDArray[np.float32], person_pks: NDArray[np.int64], wanted: int,
                   rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """The `wanted` closest look-alike pairs: each anchor's nearest different-person face,
    closest first, a person in at most one pair while others remain."""
    n = len(matrix)
    anchors = np.arange(n) if n <= MAX_ANCHORS else np.sort(
        rng.choice(n, MAX_ANCHORS, replace=False))
    nearest, dist = nearest_impostors(matrix, person_pks, anchors.tolist())
    found: dict[tuple[int, int], float] = {}
    for a, b, d in zip(anchors.tolist(), nearest.tolist(), dist.tolist(), strict=True):
        if b >= 0:
            found.setdefault((min(a, b), max(a, b)), d)
    ranked = sorted(found.items(), key=lambda item: (item[1], item[0]))
    out: list[tuple[int, int, float]] = []
    used: set[int] = set()
    for (a, b), d in ranked:  # first pass: every person once
        pa, pb = int(person_pks[a]), int(person_pks[b])
        if len(out) < wanted and pa not in used and pb not in used:
            out.append((a, b, d))
            used.update((pa, pb))
    taken = {(a, b) for a, b, _ in out}
    for (a, b), d in ranked:  # then the next closest, persons again
        if len(out) >= wanted:
            break
        if (a, b) not in taken:
            out.append((a, b, d))
    return out


def draw_pairs(matrix: NDArray[np.float32], face_ids: NDArray[np.int64],
               person_pks: NDArray[np.int64], size: int, seed: int,
               genuine_share: float = 0.5) -> Draw:
    """A quiz of `size` pairs from a gallery's encodings (rows of `matrix`, their face ids
    and person keys): about `genuine_share` genuine pairs, the rest the closest impostor
    pairs, in random order. When the gallery has too few of one kind, the other fills
    the quiz (said in `note`)."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"a quiz has {MIN_SIZE} to {MAX_SIZE} pairs, not {size}")
    if not 0.0 <= genuine_share <= 1.0:
        raise ValueError(f"the share of genuine pairs is 0 to 1, not {genuine_share}")
    rng = np.random.default_rng(seed)
    pks = np.asarray(person_pks, dtype=np.int64)
    wanted_genuine = round(size * genuine_share)
    genuine, available = _genuine_rows(pks, wanted_genuine, rng)
    impostors = _impostor_rows(matrix, pks, size - len(genuine), rng)
    if len(genuine) + len(impostors) < size and len(genuine) == wanted_genuine:
        more, _ = _genuine_rows(pks, size - len(impostors), np.random.default_rng(seed))
        genuine += [g for g in more if g not in genuine][:size - len(impostors) - len(genuine)]
    m = np.asarray(matrix, dtype=np.float64)
    rows = [(a, b, float(np.linalg.norm(m[a] - m[b]))) for a, b in genuine] + impostors
    pairs = []
    for a, b, d in (rows[i] for i in rng.permutation(len(rows))):
        if rng.random() < 0.5:
            a, b = b, a
        pairs.append(QuizPair(int(face_ids[a]), int(face_ids[b]), int(pks[a]), int(pks[b]),
                              round(d, 6)))
    notes = []
    if len(genuine) < wanted_genuine:
        notes.append(f"the gallery has only {available:,} genuine pairs (same person, two "
                     f"photos): {len(genuine)} of the {wanted_genuine} asked for")
    if len(pairs) < size:
        notes.append(f"only {len(pairs)} pairs could be drawn of the {size} asked for")
    elif len(impostors) > size - wanted_genuine:
        notes.append(f"{len(impostors)} impostor pairs fill the quiz")
    return Draw(tuple(pairs), size, len(genuine), len(impostors), available, "; ".join(notes))


def pair_group(a: str | None, b: str | None) -> str:
    """A pair's group: its faces' group, or "A / B" when they differ."""
    la, lb = (str(x) for x in group_labels([a, b]))
    return la if la == lb else " / ".join(sorted((la, lb)))


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judged:
    """One pair as judged: the truth, the distance, its group, the trainee's answer (None:
    not answered) and the seconds it took."""

    genuine: bool
    distance: float
    group: str
    answer: str | None
    seconds: float | None = None


@dataclass(frozen=True)
class Figures:
    """One answerer's figures on a set of answered pairs."""

    answered: int
    correct: Rate
    false_same: Rate
    false_different: Rate
    cant_tell: Rate
    median_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"answered": self.answered, "accuracy": self.correct.as_dict(),
                "false_same_rate": self.false_same.as_dict(),
                "false_different_rate": self.false_different.as_dict(),
                "cant_tell_rate": self.cant_tell.as_dict(),
                "median_seconds_per_pair": self.median_seconds}


def figures(genuine: Sequence[bool], answers: Sequence[str],
            seconds: Sequence[float | None] = ()) -> Figures:
    """Accuracy, false "same", false "different" and "can't tell" rates of `answers` to
    pairs whose truth is `genuine`, and the median of `seconds` (those known)."""
    right = sum(1 for g, a in zip(genuine, answers, strict=True)
                if a == (SAME if g else DIFFERENT))
    impostor = [a for g, a in zip(genuine, answers, strict=True) if not g]
    same = [a for g, a in zip(genuine, answers, strict=True) if g]
    times = [s for s in seconds if s is not None and math.isfinite(s)]
    return Figures(len(answers), Rate(right, len(answers)),
                   Rate(impostor.count(SAME), len(impostor)),
                   Rate(same.count(DIFFERENT), len(same)),
                   Rate(list(answers).count(CANT_TELL), len(answers)),
                   statistics.median(times) if times else None)


@dataclass(frozen=True)
class GroupScore:
    group: str
    pairs: int
    genuine: int
    impostor: int
    trainee: Figures
    algorithm: Figures

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "pairs": self.pairs, "genuine_pairs": self.genuine,
                "impostor_pairs": self.impostor, "trainee": self.trainee.as_dict(),
                "algorithm": self.algorithm.as_dict()}


def _group_score(group: str, judged: Sequence[Judged], threshold: float) -> GroupScore:
    truth = [j.genuine for j in judged]
    return GroupScore(
        group, len(judged), sum(truth), len(truth) - sum(truth),
        figures(truth, [j.answer or "" for j in judged], [j.seconds for j in judged]),
        figures(truth, [algorithm_answer(j.distance, threshold) for j in judged]))


@dataclass(frozen=True)
class Score:
    """A quiz's figures at `threshold`: all answered pairs (`overall`), and per group."""

    threshold: float
    pairs: int
    overall: GroupScore
    groups: tuple[GroupScore, ...]

    @property
    def unanswered(self) -> int:
        return self.pairs - self.overall.pairs

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "pairs": self.pairs,
                "answered": self.overall.pairs, "unanswered": self.unanswered,
                "overall": self.overall.as_dict(),
                "groups": [g.as_dict() for g in self.groups]}


def score(judged: Sequence[Judged], threshold: float, grouped: bool = True) -> Score:
    """The trainee's figures beside the algorithm's (same when distance <= `threshold`) on
    the pairs the trainee answered, overall and (with `grouped`) per group, groups in
    name order."""
    answered = [j for j in judged if j.answer is not None]
    by_group: dict[str, list[Judged]] = {}
    for j in answered:
        by_group.setdefault(j.group, []).append(j)
    groups = tuple(_group_score(g, rows, threshold) for g, rows in sorted(by_group.items())
                   ) if grouped else ()
    return Score(threshold, len(judged), _group_score("all", answered, threshold), groups)


# --- words -----------------------------------------------------------------------------------

#: the columns of `score_rows`
SCORE_COLUMNS = ("group", "who", "pairs answered", "accuracy", 'false "same"',
                 'false "different"', "can't tell", "median time per pair")


def rate_cell(r: Rate) -> str:
    """A rate as people read it, with its count and 95 % interval: "75 % (3 of 4; 95 %:
    30–95 %)"; "– (no pairs)" when nothing was counted."""
    if not r.n:
        return "– (no pairs)"
    lo, hi = r.interval
    return (f"{percent_number(r.value)} % ({r.k:,} of {r.n:,}; 95 %: "
            f"{percent_number(lo)}–{percent_number(hi)} %)")


def score_rows(s: Score) -> list[list[str]]:
    """The figures as a table (SCORE_COLUMNS): the trainee's row, then the algorithm's
    (at the threshold), for all pairs and then each group."""
    out = []
    for g in (s.overall, *s.groups):
        for who, f in (("trainee", g.trainee), (f"algorithm (≤ {s.threshold:g})", g.algorithm)):
            secs = "–" if f.median_seconds is None else f"{f.median_seconds:.1f} s"
            out.append([g.group, who, f"{f.answered:,}", rate_cell(f.correct),
                        rate_cell(f.false_same), rate_cell(f.false_different),
                        rate_cell(f.cant_tell) if who == "trainee" else "never", secs])
    return out
