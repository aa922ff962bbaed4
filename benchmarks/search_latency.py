"""Search latency of FaceDesk's exact index against a face_recognition-style scan.

Opens a gallery, times building the in-memory index once per build run
(`Gallery.load_encodings()` + `SearchIndex(...)`), then times `SearchIndex.nearest(probe,
K)` for P probes taken from the gallery's own rows (evenly spaced rows of the matrix,
so the run is deterministic). For comparison it times what face_recognition does for a
search, `face_distance`: `np.linalg.norm(known - probe, axis=1)` over a float64 matrix
(built once, outside the timing; face_recognition's CLI passes a Python list, which numpy
converts on every call and which is slower still), followed by a full `argsort`.

It also checks that both give the same top-K persons (by each person's closest face).

numpy's OpenBLAS threads the matrix-vector product; on a small, busy machine that can cost
more than it gains. Compare with `OPENBLAS_NUM_THREADS=1` in the environment (it must be
set before numpy is imported, so it is not an option of this script); the first line of
the output shows what was set.

Example:
    .venv/bin/python benchmarks/search_latency.py --db /tmp/lfw.db --probes 200
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from facedesk.domain.search_index import SearchIndex
from facedesk.store import Gallery


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def fr_style(matrix64: NDArray[np.float64], probe: NDArray[np.float32]
             ) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """face_recognition.face_distance on a float64 matrix, then a full sort."""
    dist = np.linalg.norm(matrix64 - probe.astype(np.float64), axis=1)
    return dist, np.argsort(dist, kind="stable")


def top_persons(order: NDArray[np.intp], person_pks: NDArray[np.int64], k: int) -> list[int]:
    """The first k distinct persons along a face order (each person's closest face)."""
    out: list[int] = []
    seen: set[int] = set()
    for row in order:
        pk = int(person_pks[row])
        if pk not in seen:
            seen.add(pk)
            out.append(pk)
            if len(out) == k:
                break
    return out


def summary(label: str, values: list[float]) -> str:
    return (f"{label:44s} median {statistics.median(values):8.3f} ms   "
            f"p95 {percentile(values, 95):8.3f} ms   min {min(values):8.3f}   "
            f"max {max(values):8.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, required=True, help="gallery file")
    ap.add_argument("--probes", type=int, default=200, help="probes (rows of the gallery)")
    ap.add_argument("--k", type=int, default=20, help="persons returned per search")
    ap.add_argument("--builds", type=int, default=3, help="times the index is built")
    ap.add_argument("--warmup", type=int, default=5, help="untimed searches first")
    args = ap.parse_args()

    blas = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
            if k in os.environ}
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores, load avg {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"BLAS env {blas or 'not set'}")

    t0 = time.perf_counter()
    gallery = Gallery.open(args.db)
    open_ms = (time.perf_counter() - t0) * 1000
    build_ms: list[float] = []
    load_ms: list[float] = []
    index: SearchIndex | None = None
    for _ in range(max(1, args.builds)):
        t0 = time.perf_counter()
        enc = gallery.load_encodings()
        t1 = time.perf_counter()
        index = SearchIndex(enc)
        t2 = time.perf_counter()
        load_ms.append((t1 - t0) * 1000)
        build_ms.append((t2 - t0) * 1000)
    assert index is not None
    row_persons = enc.person_pks  # the person of each matrix row
    print(f"gallery {args.db}: {index.faces} faces of {index.persons} persons "
          f"(version {index.version}); Gallery.open {open_ms:.1f} ms")
    print(f"index build (load_encodings + SearchIndex), {len(build_ms)} builds: "
          + ", ".join(f"{b:.1f}" for b in build_ms)
          + f" ms (median {statistics.median(build_ms):.1f} ms; load_encodings median "
          f"{statistics.median(load_ms):.1f} ms; first build cold: {build_ms[0]:.1f} ms)")

    n = index.faces
    count = min(args.probes, n)
    rows = np.linspace(0, n - 1, count).round().astype(np.intp)
    probes = [index.matrix[r].copy() for r in rows]

    t0 = time.perf_counter()
    matrix64 = index.matrix.astype(np.float64)
    t_conv = (time.perf_counter() - t0) * 1000
    print(f"float64 copy of the matrix for the face_distance-style scan: {t_conv:.1f} ms "
          "(once, not in the timings below)")

    for p in probes[: args.warmup]:
        index.nearest(p, args.k)
        fr_style(matrix64, p)

    fd_ms: list[float] = []
    fr_ms: list[float] = []
    agree = 0
    clock = time.perf_counter
    for p in probes:  # interleaved, so both see the same machine load
        t0 = clock()
        hits = index.nearest(p, args.k)
        t1 = clock()
        _, order = fr_style(matrix64, p)
        t2 = clock()
        fd_ms.append((t1 - t0) * 1000)
        fr_ms.append((t2 - t1) * 1000)
        fd_persons = [pk for pk, _ in hits]
        if fd_persons == top_persons(order, row_persons, args.k):
            agree += 1

    print(f"{count} probes (gallery rows, evenly spaced), top {args.k} persons each:")
    print(summary("SearchIndex.nearest (float32 + exact recheck)", fd_ms))
    print(summary("norm(float64 matrix - probe) + argsort", fr_ms))
    print(f"ratio of medians (face_distance-style / SearchIndex): "
          f"{statistics.median(fr_ms) / statistics.median(fd_ms):.1f}x")
    print(f"same top-{args.k} persons in the same order: {agree} of {count} probes")
    gallery.close()


if __name__ == "__main__":
    main()
