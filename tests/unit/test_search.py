from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FAKE_FACTORY, FakeEngine, face_photo, no_face, one_face, save_png

from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.domain.faces import Box
from facedesk.domain.search_index import SearchIndex
from facedesk.engine.spec import EngineSpec
from facedesk.errors import EmptyGallery, EngineMismatch, FaceChoiceError, NoFaceFound
from facedesk.store import EncodingMatrix, Gallery


def matrix(persons: list[int], seed: int = 0, dup_rows: bool = False) -> EncodingMatrix:
    rng = np.random.default_rng(seed)
    m = rng.normal(0, 0.09, (len(persons), 128)).astype(np.float32)
    if dup_rows:  # exact ties between persons
        m[1::2] = m[0::2][: len(m[1::2])]
    return EncodingMatrix(np.arange(1, len(persons) + 1, dtype=np.int64),
                          np.asarray(persons, dtype=np.int64), m, frozenset({"e"}), 1)


def brute_force(enc: EncodingMatrix, probe: np.ndarray, k: int) -> list[tuple[int, float]]:
    d = np.sqrt(((enc.matrix.astype(np.float64) - probe.astype(np.float64)) ** 2).sum(axis=1))
    best: dict[int, tuple[float, int]] = {}
    for row, pk in enumerate(enc.person_pks):
        cand = (float(d[row]), int(enc.face_ids[row]))
        if int(pk) not in best or cand < best[int(pk)]:
            best[int(pk)] = cand
    ranked = sorted(best.items(), key=lambda kv: (kv[1][0], kv[0]))
    return [(pk, dist) for pk, (dist, _) in ranked[:k]]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 7, 400])
def test_exact_top_k_persons(seed: int, k: int) -> None:
    rng = np.random.default_rng(100 + seed)
    persons = sorted(rng.integers(0, 300, 2000).tolist())
    enc = matrix(persons, seed, dup_rows=seed % 2 == 1)
    index = SearchIndex(enc)
    probe = enc.matrix[rng.integers(0, len(persons))] + rng.normal(0, 0.01, 128).astype(
        np.float32)
    got = index.nearest(probe, k)
    want = brute_force(enc, probe, k)
    assert [pk for pk, _ in got] == [pk for pk, _ in want]
    assert [faces[0][1] for _, faces in got] == pytest.approx([d for _, d in want], abs=1e-12)
    for _, faces in got:  # each person's photos closest first
        dists = [f[1] for f in faces]
        assert dists == sorted(dists)


def test_empty_index() -> None:
    enc = EncodingMatrix(np.zeros(0, np.int64), np.zeros(0, np.int64),
                         np.zeros((0, 128), np.float32), frozenset(), 0)
    assert SearchIndex(enc).nearest(np.zeros(128, np.float32), 5) == []


@pytest.fixture
def gallery(store_gallery: Gallery) -> Gallery:
    """This module's galleries are a file and a database on a server (both backends)."""
    return store_gallery


@pytest.fixture
def searched(gallery: Gallery, people_dir: Path, fake_spec: EngineSpec) -> Gallery:
    for _ in run_import(gallery, people_dir, engine=fake_spec, options=ImportOptions(workers=1)):
        pass
    return gallery


def test_search_ranks_the_right_person_first(searched: Gallery, tmp_path: Path) -> None:
    engine = FakeEngine()
    probe_path = save_png(one_face(2, variant=99), tmp_path / "probe.png")
    probe = analyze_probe(engine, probe_path)
    face = choose_face(engine, probe)
    result = Searcher(searched, engine.identity()).search(face.encoding, top_k=3)
    assert next(c.person_id for c in result.candidates) == "person_2"
    assert [c.rank for c in result.candidates] == [1, 2, 3]
    assert len({c.person_id for c in result.candidates}) == 3
    first = result.candidates[0]
    assert first.photos_of_person == 3 and len(first.other_photos) == 2
    assert first.other_photos[0]["distance"] >= first.distance
    assert 0.9 < first.similarity <= 1.0
    assert result.persons_searched == 5 and result.faces_searched == 15
    assert first.photo["path"].endswith(".png") and first.photo["metadata"] == {}


def test_index_is_built_once_per_gallery_version(searched: Gallery, tmp_path: Path,
                                                 fake_spec: EngineSpec) -> None:
    s = Searcher(searched, FakeEngine().identity())
    first = s.index()
    assert s.index() is first
    save_png(one_face(9), tmp_path / "more" / "P9" / "a.png")
    for _ in run_import(searched, tmp_path / "more", engine=fake_spec,
                        options=ImportOptions(workers=1)):
        pass
    rebuilt = s.index()
    assert rebuilt is not first and rebuilt.faces == first.faces + 1


def test_search_refuses_another_engine(searched: Gallery) -> None:
    other = FakeEngine(version="2")
    with pytest.raises(EngineMismatch, match="meaningless"):
        Searcher(searched, other.identity()).search(np.zeros(128, np.float32))


def test_empty_gallery(gallery: Gallery) -> None:
    with pytest.raises(EmptyGallery):
        Searcher(gallery, FakeEngine().identity()).search(np.zeros(128, np.float32))


def test_choosing_the_probe_face(tmp_path: Path) -> None:
    engine = FakeEngine()
    two = face_photo([(1, Box(10, 60, 60, 10)), (2, Box(20, 190, 140, 80))], size=(200, 160))
    probe = analyze_probe(engine, save_png(two, tmp_path / "two.png"))
    assert [f.index for f in probe.faces] == [0, 1]
    assert choose_face(engine, probe, "largest").index == 1
    assert choose_face(engine, probe, 0).box == Box(10, 60, 60, 10)
    with pytest.raises(FaceChoiceError, match=r"face 5 does not exist.*2 faces"):
        choose_face(engine, probe, 5)
    blank = analyze_probe(engine, save_png(no_face(), tmp_path / "blank.png"))
    assert blank.faces == []
    with pytest.raises(NoFaceFound, match="draw a box"):
        choose_face(engine, blank)
    drawn = choose_face(engine, blank, box=Box(20, 120, 120, 20))
    assert drawn.box == Box(20, 120, 120, 20) and drawn.encoding.shape == (128,)
    with pytest.raises(FaceChoiceError, match="outside"):
        choose_face(engine, blank, box=Box(500, 900, 900, 500))


def test_probe_faces_carry_quality(tmp_path: Path) -> None:
    engine = FakeEngine()
    probe = analyze_probe(engine, save_png(one_face(1), tmp_path / "p.png"))
    q = probe.faces[0].quality
    assert q.size_px == 80 and q.eye_distance_px > 10 and abs(q.yaw_deg) < 5
    assert q.brightness > 0 and q.sharpness > 0
    assert probe.faces[0].crop_jpeg[:2] == b"\xff\xd8"
    assert probe.as_dict()["faces"][0]["quality"]["size_px"] == 80


def test_fake_engine_spec_is_importable() -> None:
    assert EngineSpec(FAKE_FACTORY).create().identity()["engine"] == "fake"


def ranked_persons(enc: EncodingMatrix, probe: np.ndarray) -> list[tuple[int, float]]:
    """Every person by (closest face's float64 distance, pk): brute force, vectorised for
    large galleries (rows already grouped by person)."""
    d = np.sqrt(((enc.matrix.astype(np.float64) - probe.astype(np.float64)) ** 2).sum(axis=1))
    pks = enc.person_pks
    starts = np.flatnonzero(np.concatenate(([True], pks[1:] != pks[:-1])))
    best = np.minimum.reduceat(d, starts)
    order = np.lexsort((pks[starts], best))
    return [(int(pks[starts][j]), float(best[j])) for j in order]


def clustered(faces: int, seed: int) -> EncodingMatrix:
    """Persons with 1-5 photos around a centre, plus one person with 1,000 photos all
    close together (more faces near a probe than the first cut-off holds)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 6, faces)
    counts = counts[: np.searchsorted(np.cumsum(counts), faces - 1000) + 1]
    counts = np.append(counts, 1000)
    centres = 0.5 + rng.normal(0, 0.05, (len(counts), 128))
    m = np.repeat(centres, counts, axis=0) + rng.normal(0, 0.025, (int(counts.sum()), 128))
    pks = np.repeat(np.arange(1, len(counts) + 1) * 3, counts)  # pks with gaps
    m[-1000:] = centres[-1] + rng.normal(0, 0.002, (1000, 128))
    m[10] = m[11]  # an exact tie between two faces (maybe two persons)
    return EncodingMatrix(rng.permutation(len(pks)).astype(np.int64) + 1, pks,
                          m.astype(np.float32), frozenset({"e"}), 1)


@pytest.mark.parametrize("seed", range(3))
def test_exact_top_k_persons_at_scale(seed: int) -> None:
    """30,000 faces: the sampled cut-off, its growth when one person fills it, and the
    per-person fallback all give the brute-force float64 ranking."""
    enc = clustered(30_000, seed)
    index = SearchIndex(enc)
    rng = np.random.default_rng(seed)
    probes = [enc.matrix[r] for r in rng.integers(0, 30_000, 2)]  # distance 0
    probes += [enc.matrix[r] + rng.normal(0, 0.02, 128).astype(np.float32)
               for r in rng.integers(0, 30_000, 2)]
    probes.append(enc.matrix[-1] + np.float32(0.001))  # inside the 1,000-photo person
    probes.append(enc.matrix[10])  # the tie
    probes.append(np.full(128, 0.5, np.float32))  # far from everyone
    for probe in probes:
        want = ranked_persons(enc, probe)
        for k in (1, 20, 150, 1_500):
            got = index.nearest(probe, k)
            assert [pk for pk, _ in got] == [pk for pk, _ in want[:k]]
            assert [faces[0][1] for _, faces in got] == [d for _, d in want[:k]]
    _, faces = index.nearest(enc.matrix[-1], 1)[0]
    assert len(faces) == 1000 and [f[1] for f in faces] == sorted(f[1] for f in faces)


def test_rounding_margin_covers_the_float32_scores() -> None:
    """The float32 score of every face is within half the margin of the exact value."""
    enc = clustered(20_000, 7)
    index = SearchIndex(enc)
    probe = enc.matrix[123] + np.float32(0.01)
    m64 = enc.matrix.astype(np.float64)
    p64 = probe.astype(np.float64)
    exact = (m64 ** 2).sum(axis=1) - 2 * (m64 @ p64)
    scores = index.sq_norms - 2 * (index.matrix @ probe)
    assert np.abs(scores - exact).max() <= index.margin(float(p64 @ p64)) / 2


def low_rank(faces: int, seed: int, rank: int = 70) -> EncodingMatrix:
    """Encodings like dlib's: persons with 1-5 photos in a `rank`-dimensional subspace
    of the 128 dimensions (plus a common offset), norms about 1.4."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(128, 128)))[0][:, :rank]
    counts = rng.integers(1, 6, faces)
    counts = counts[: np.searchsorted(np.cumsum(counts), faces) + 1]
    n = int(counts.sum())
    offset = basis @ rng.normal(0, 1, rank)
    offset *= 1.3 / np.linalg.norm(offset)
    centres = rng.normal(0, 0.06, (len(counts), rank))
    coords = np.repeat(centres, counts, axis=0) + rng.normal(0, 0.03, (n, rank))
    m = (offset + coords @ basis.T).astype(np.float32)
    pks = np.repeat(np.arange(1, len(counts) + 1), counts)
    return EncodingMatrix(np.arange(1, n + 1, dtype=np.int64), pks, m, frozenset({"e"}), 1)


@pytest.mark.parametrize("seed", range(2))
def test_projected_scan_gives_the_exact_top_k(seed: int) -> None:
    """Encodings in a subspace are scanned through a projection (fewer columns); the
    answer is still the brute-force float64 ranking, also for a probe outside the
    subspace (scanned with every dimension) and for exact ties."""
    enc = low_rank(20_000, seed)
    index = SearchIndex(enc, project=True)
    assert index.projection is not None and index.projection.dims == 80
    assert index.projection.max_residual < 0.05
    rng = np.random.default_rng(seed)
    subspace_noise = enc.matrix[rng.integers(0, len(enc.matrix), 2)] - enc.matrix[0]
    probes = [enc.matrix[r] for r in rng.integers(0, len(enc.matrix), 2)]
    probes += [enc.matrix[r] + np.float32(0.3) * d
               for r, d in zip(rng.integers(0, len(enc.matrix), 2), subspace_noise,
                               strict=True)]
    outside = enc.matrix[7] + rng.normal(0, 0.05, 128).astype(np.float32)
    assert index.projection.probe(outside) is None  # too far outside: every dimension
    probes.append(outside)
    for probe in probes:
        want = ranked_persons(enc, probe)
        for k in (1, 20, 300):
            got = index.nearest(probe, k)
            assert [pk for pk, _ in got] == [pk for pk, _ in want[:k]]
            assert [faces[0][1] for _, faces in got] == [d for _, d in want[:k]]


def test_projected_scores_stay_within_the_margin() -> None:
    enc = low_rank(20_000, 5)
    index = SearchIndex(enc, project=True)
    proj = index.projection
    assert proj is not None
    m64 = enc.matrix.astype(np.float64)
    for probe in (enc.matrix[3], enc.matrix[11] * np.float32(0.9)):
        projected = proj.probe(probe)
        assert projected is not None
        yp, margin = projected
        p64 = probe.astype(np.float64)
        exact = (m64 ** 2).sum(axis=1) - 2 * (m64 @ p64)
        scores = index.sq_norms - 2 * (proj.scan @ yp)
        assert np.abs(scores - exact).max() <= margin / 2


def test_full_rank_encodings_are_scanned_whole() -> None:
    assert SearchIndex(clustered(5_000, 1), project=True).projection is None
    small = low_rank(2_000, 1)
    assert SearchIndex(small).projection is None  # below PROJECT_MIN_FACES
