"""Gallery import: list a source, analyse every new photo on all cores, store the subject
face of each, and record every problem with its reason.

`run_import` is a generator of `ImportProgress` events and checks a `CancelToken`. It is
idempotent and resumable: photos are recognised by the SHA-256 of their bytes, results
are committed in small transactions, and a re-run (or a run after the process was killed
at any moment) stores only what is missing.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from facedesk.app import audit, engines
from facedesk.app.accounts import require_user, settings
from facedesk.app.sources import Item, Listing, list_folder, read_manifest
from facedesk.domain import analysis, imaging
from facedesk.domain.analysis import DEFAULT_IMPORT_FALLBACKS, DetectOptions
from facedesk.domain.faces import Face, FaceEngine
from facedesk.domain.progress import CancelToken, RateMeter
from facedesk.engine.spec import EngineSpec, engine_id
from facedesk.errors import FaceDeskError, SourceError
from facedesk.store import FaceRecord, Gallery, PhotoRecord, Problem, RunCounts
from facedesk.store.db import Connection

#: results are committed at least this often (photos) ...
BATCH_PHOTOS = 64
#: ... or after this many seconds, whichever comes first
BATCH_SECONDS = 2.0


#: a gallery import first looks for the subject on copies of the photo from about this
#: long (DetectOptions.quick_side, analysis.quick_sides): 100 and 174 px for an LFW photo
#: (250 px); 101, 174, 301 and 521 px for a 600 x 750 booking photo. Chosen with
#: benchmarks/import_recall.py (`--quick-side N` tries another), against the detection on
#: the usual copy: on all 13,233 LFW photos the same 13,166 have a face (and 4 more), the
#: subject's box overlaps the usual one by 0.92 (median IoU) and its encoding lies 0.031
#: from it (median; 95 % below 0.08; in 27 photos, 0.2 %, another face of the photo becomes
#: the subject); on 1,000 booking-like photos 0.025 (95 % below 0.08). Detection then costs
#: a quarter of the usual on LFW photos and a twelfth on booking photos (benchmarks/
#: stages.py); 125-145 give the same LFW copies and larger booking ones (33 vs 26 ms).
DEFAULT_IMPORT_QUICK_SIDE = 110


def import_detect_options(upsample: int = 1, max_side: int = 1024,
                          fallbacks: tuple[str, ...] | None = None,
                          quick_side: int = DEFAULT_IMPORT_QUICK_SIDE) -> DetectOptions:
    """Detection options of a gallery import: the subject is looked for on a small copy
    first (`quick_side`), then on the usual one; a photo where the primary detection finds
    no face is looked at again with DEFAULT_IMPORT_FALLBACKS."""
    return DetectOptions(upsample=upsample, max_side=max_side, quick_side=quick_side,
                         fallbacks=DEFAULT_IMPORT_FALLBACKS if fallbacks is None else fallbacks)


@dataclass(frozen=True)
class ImportOptions:
    workers: int = 0  # 0 = one per core
    detect: DetectOptions = field(default_factory=import_detect_options)
    layout: str = "auto"  # folder sources: auto | folders | flat
    person_pattern: str | None = None  # flat folders: regex mapping file names to persons
    #: manifests: header names of the path / person_id / name columns, when not so called
    columns_map: dict[str, str] | None = None
    #: manifests: folders whose photos may be named by absolute path (the administrator's
    #: import_roots setting: run_import reads it from the gallery)
    import_roots: tuple[str, ...] = ()

    def effective_workers(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ImportProgress:
    phase: str  # "listing" | "importing" | "finished"
    done: int  # items processed (rows refused before reading count as done)
    total: int  # items in the source (files found / manifest rows, refused ones too)
    counts: RunCounts
    rate: float  # items per second
    eta_s: float | None
    elapsed_s: float
    current: str = ""
    run_id: int | None = None
    status: str = "running"  # finished: completed | cancelled | failed
    problems: tuple[Problem, ...] = ()  # finished: every problem of the run

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            **self.counts.as_dict(),
            "elapsed_s": round(self.elapsed_s, 2),
            "photos_per_s": round(self.rate, 2),
            "problems": [p.as_dict() for p in self.problems],
        }


def list_source(source: Path | None, manifest: Path | None,
                options: ImportOptions) -> Listing:
    """SOURCE may be a folder or a CSV manifest; with `manifest`, SOURCE (optional) is the
    folder the manifest's paths are relative to (default: the manifest's folder).
    Paths are made absolute and normalised, so the gallery finds its originals from anywhere."""
    # absolute and without '..' (abspath, not resolve: a symlinked folder keeps its name)
    source = Path(os.path.abspath(source)) if source is not None else None
    manifest = Path(os.path.abspath(manifest)) if manifest is not None else None
    if manifest is not None:
        if source is not None and not source.is_dir():
            raise SourceError(f"{source}: with --manifest, SOURCE must be the photo folder")
        return read_manifest(manifest, base=source, columns_map=options.columns_map,
                             allowed_roots=options.import_roots)
    if source is None:
        raise SourceError("give a folder of photos or a CSV manifest to import")
    if source.is_file() and source.suffix.lower() in (".csv", ".tsv", ".txt"):
        return read_manifest(source, columns_map=options.columns_map,
                             allowed_roots=options.import_roots)
    return list_folder(source, options.layout, options.person_pattern)


# --- the per-photo work (runs in worker processes) ---------------------------------------


@dataclass(frozen=True)
class ItemResult:
    item: Item
    sha256: str = ""
    record: PhotoRecord | None = None  # new photo to store
    already_stored: bool = False
    problem: Problem | None = None


_worker: dict[str, Any] = {}


def _init_worker(spec: EngineSpec, detect: DetectOptions, eng_id: str,
                 known: frozenset[str], in_process: bool = False) -> None:
    if not in_process:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about stopping
    _worker.update(engine=spec.create(), detect=detect, engine_id=eng_id, known=known)


def face_record(face: Face, eng_id: str) -> FaceRecord:
    q = face.quality
    return FaceRecord(
        engine_id=eng_id,
        box=(face.box.top, face.box.right, face.box.bottom, face.box.left),
        landmarks=face.landmarks,
        size_px=q.size_px,
        eye_distance_px=q.eye_distance_px,
        sharpness=q.sharpness,
        brightness=q.brightness,
        yaw_deg=q.yaw_deg,
        encoding=face.encoding.astype("<f4").tobytes(),
        crop_jpeg=face.crop_jpeg,
        detector=face.detector,
    )


def process_item(item: Item) -> ItemResult:
    return analyse_item(item, _worker["engine"], _worker["detect"], _worker["engine_id"],
                        _worker["known"])


def analyse_item(item: Item, engine: FaceEngine, detect: DetectOptions, eng_id: str,
                 known: frozenset[str] = frozenset()) -> ItemResult:
    """One photo through the import pipeline: read, hash, find the subject face, encode.
    Also how outside probe sets are encoded (facedesk/app/experiment.py), so a probe is
    read exactly as a gallery photo is."""
    try:
        data = imaging.read_file(item.path)
        sha = imaging.sha256_bytes(data)
        if sha in known:
            return ItemResult(item, sha, already_stored=True)
        image = imaging.load_image(data, name=item.display)
        face, n_found = analysis.subject_face(engine, image, detect)
    except FaceDeskError as exc:
        return ItemResult(item, problem=Problem(item.display, exc.code, _reason(exc, item),
                                                item.line))
    except Exception as exc:  # a defect, not the user's fault: keep going, say what it was
        return ItemResult(item, problem=Problem(
            item.display, "internal_error", f"unexpected {type(exc).__name__}: {exc}",
            item.line))
    record = PhotoRecord(
        sha256=sha,
        path=str(item.path),
        size_bytes=len(data),
        width=image.width,
        height=image.height,
        format=image.format,
        person_id=item.person_id,
        person_name=item.person_name,
        metadata=item.metadata,
        faces_found=n_found,
        face=None if face is None else face_record(face, eng_id),
    )
    return ItemResult(item, sha, record=record)


def _reason(exc: FaceDeskError, item: Item) -> str:
    """The error's message without the file name the problem row already carries."""
    msg = exc.message
    for prefix in (f"{item.display}: ", f"{item.path}: "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg


def _worker_env() -> None:
    # one BLAS thread per worker process: the workers already fill the cores
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


# --- the run -------------------------------------------------------------------------------


def run_import(
    gallery: Gallery,
    source: Path | None,
    *,
    manifest: Path | None = None,
    options: ImportOptions | None = None,
    engine: EngineSpec | None = None,
    cancel: CancelToken | None = None,
    user_id: str | None = None,
) -> Iterator[ImportProgress]:
    """Import a source into `gallery`, yielding progress; the last event has phase
    'finished' and carries the run's counts and problems. The run is an audit event of
    `user_id`, who must be allowed to import (NotPermitted before anything is read; None:
    only while the gallery has no users yet): the one place the rule is checked, for the
    CLI and the GUI alike."""
    require_user(gallery, user_id, "import")
    options = options or ImportOptions()
    spec = engine or EngineSpec()
    cancel = cancel or CancelToken()
    started = time.monotonic()
    counts = RunCounts()

    def event(phase: str, done: int, meter: RateMeter | None, current: str = "",
              run_id: int | None = None) -> ImportProgress:
        return ImportProgress(
            phase=phase, done=refused + done, total=listing.total, counts=replace(counts),
            rate=meter.rate(done) if meter else 0.0, eta_s=meter.eta(done) if meter else None,
            elapsed_s=time.monotonic() - started, current=current, run_id=run_id)

    options = replace(options, import_roots=tuple(settings(gallery).import_roots))
    listing = list_source(source, manifest, options)
    refused = len(listing.problems)  # rows refused before any photo is read
    counts.total = listing.total
    yield event("listing", 0, None)

    local_engine = spec.create()
    identity = local_engine.identity()
    eng_id = engine_id(identity)
    engines.require_engine(gallery, identity)
    def log_engine(conn: Connection, written: dict[str, list[Any]]) -> None:
        audit.append(conn, gallery.gallery_id, "import_batch",
                     {"engine_id": eng_id, "engine_added": True}, user_id=user_id,
                     records=written)

    gallery.register_engine(eng_id, identity, log=log_engine)
    run_options = {"workers": options.effective_workers(), "upsample": options.detect.upsample,
                   "detect_max_side": options.detect.max_side,
                   "detect_quick_side": options.detect.quick_side,
                   "fallbacks": list(options.detect.fallbacks), "layout": listing.kind,
                   "engine": spec.factory, "engine_options": spec.options}
    src_label = str(manifest if manifest is not None else source)
    run_id = gallery.start_run(src_label, listing.kind, run_options, eng_id)
    # logged at its start too: photos committed by a run that is then killed have an event
    audit.record(gallery, "import", {"run_id": run_id, "source": src_label,
                                     "status": "started", "items": listing.total},
                 user_id=user_id)

    stored = gallery.stored_hashes()
    known = frozenset(stored)
    seen: dict[str, Item] = {}  # sha -> first item of this run with that content
    problems: list[Problem] = list(listing.problems)
    counts.failed = len(listing.problems)
    pending_records: list[PhotoRecord] = []
    pending_problems: list[Problem] = list(listing.problems)
    last_flush = time.monotonic()

    def log_batch(conn: Connection, written: dict[str, list[Any]]) -> None:
        # the rows this commit wrote, by digest: a face changed later is found and named
        audit.append(conn, gallery.gallery_id, "import_batch",
                     {"run_id": run_id, "photos": len(written.get("photos", [])),
                      "faces": len(written.get("faces", []))},
                     user_id=user_id, records=written)

    def flush() -> None:
        nonlocal last_flush
        gallery.add_photos(run_id, pending_records, log=log_batch)
        gallery.add_problems(run_id, pending_problems)
        pending_records.clear()
        pending_problems.clear()
        last_flush = time.monotonic()

    def account(res: ItemResult) -> None:
        if res.problem is not None:
            counts.failed += 1
            problems.append(res.problem)
            pending_problems.append(res.problem)
            return
        if res.already_stored:
            counts.already_stored += 1
            return
        first = seen.get(res.sha256)
        if first is not None:
            counts.duplicates += 1
            who = ("" if first.person_id == res.item.person_id else
                   f" (listed for person {first.person_id}, here for {res.item.person_id})")
            dup = Problem(res.item.display, "duplicate",
                          f"same photo as {first.display}{who}; stored once", res.item.line)
            problems.append(dup)
            pending_problems.append(dup)
            return
        seen[res.sha256] = res.item
        assert res.record is not None
        counts.imported += 1
        if res.record.faces_found == 0:
            counts.no_face += 1
            nf = Problem(res.item.display, "no_face",
                         "no face found (photo stored without a face; it cannot be searched)",
                         res.item.line)
            problems.append(nf)
            pending_problems.append(nf)
        elif res.record.faces_found > 1:
            counts.multi_face += 1
        pending_records.append(res.record)

    meter = RateMeter(total=len(listing.items))
    done = 0
    status = "completed"
    workers = min(options.effective_workers(), max(1, len(listing.items)))
    init_args = (spec, options.detect, eng_id, known)
    pool = None
    try:
        if workers <= 1:
            _init_worker(*init_args, in_process=True)
            results: Iterator[ItemResult] = map(process_item, listing.items)
        else:
            _worker_env()
            ctx = multiprocessing.get_context("spawn")  # safe beside threads (the GUI)
            if threading.current_thread() is threading.main_thread():
                # workers start with Ctrl-C ignored (inherited), so only this process
                # reacts to it, even in the second before their initializer runs
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
                try:
                    pool = ctx.Pool(workers, initializer=_init_worker, initargs=init_args)
                finally:
                    signal.signal(signal.SIGINT, previous)
            else:
                pool = ctx.Pool(workers, initializer=_init_worker, initargs=init_args)
            chunk = max(1, min(8, len(listing.items) // (workers * 16)))
            results = pool.imap_unordered(process_item, listing.items, chunksize=chunk)
        yield event("importing", 0, meter, run_id=run_id)
        last_flush = time.monotonic()
        for res in results:
            account(res)
            done += 1
            if (len(pending_records) >= BATCH_PHOTOS
                    or time.monotonic() - last_flush >= BATCH_SECONDS):
                flush()
            yield event("importing", done, meter, res.item.display, run_id)
            if cancel.cancelled:
                status = "cancelled"
                break
        flush()
    except (GeneratorExit, KeyboardInterrupt):
        # the consumer stopped iterating, or Ctrl-C: keep what is done
        status = "cancelled"
        flush()
        raise
    except BaseException:
        status = "failed"
        with contextlib.suppress(Exception):
            flush()
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        _worker.clear()
        def finish() -> None:
            gallery.finish_run(run_id, status, counts)
            audit.record(gallery, "import", {
                "run_id": run_id, "source": src_label, "status": status,
                "engine_id": eng_id, "gallery_version": gallery.version,
                **counts.as_dict()}, user_id=user_id)

        if status == "failed":
            with contextlib.suppress(Exception):
                finish()
        else:
            finish()
    final = event("finished", done, meter, run_id=run_id)
    yield replace(final, status=status, problems=tuple(problems))
