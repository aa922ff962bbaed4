"""Calibrations kept in a gallery: measure one on a labelled gallery, store it with its
provenance, choose the one in use (an administrator's setting, logged). What a
calibration is and how it is measured lives in facedesk.domain.rates; the rows in
facedesk.store.calibrations.

Measuring is a generator of `CalibrationProgress` events checking a CancelToken
(`measuring`, and the whole job `calibrate`: measure, store, put in use), shared by the
CLI's `calibrate` and the GUI's calibration dialog."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facedesk.app import accounts, audit
from facedesk.app.accounts import Session
from facedesk.domain.progress import CancelToken
from facedesk.domain.rates import (
    Calibration,
    measure_steps,
    reference,
)
from facedesk.errors import EvaluationError, NotPermitted
from facedesk.store import Gallery
from facedesk.store import calibrations as rows
from facedesk.store.calibrations import StoredCalibration
from facedesk.store.db import Connection, now_iso

OUTSIDE_PROBES = "outside_probes"
#: a gallery's own calibration needs repeat photos of this many persons (genuine pairs)...
MIN_REPEAT_PERSONS = 20
#: ...and this many impostor pairs (FMR 1e-3 then rests on at least 10 pairs)
MIN_IMPOSTOR_PAIRS = 10_000


@dataclass(frozen=True)
class CalibrationProgress:
    phase: str  # "loading" | "measuring" | "stored" | "finished"
    done: int  # blocks of pairs measured
    total: int
    #: finished: the calibration measured (None when cancelled)
    calibration: Calibration | None = None
    #: `calibrate`, from "stored" on: the id it was stored under
    calibration_id: int | None = None
    status: str = "running"  # finished: completed | cancelled


def measure_gallery(gallery: Gallery, *, label: str | None = None) -> Calibration:
    """Measure a calibration on every pair of a labelled gallery's faces (all at once; see
    `measuring` for progress and cancelling)."""
    *_, last = measuring(gallery, label=label)
    assert last.calibration is not None
    return last.calibration


def measuring(gallery: Gallery, *, label: str | None = None,
              cancel: CancelToken | None = None) -> Iterator[CalibrationProgress]:
    """Measure a calibration on every pair of a labelled gallery's faces, yielding progress
    (one event per block of pairs); the last event (phase "finished") carries it, or None
    when `cancel` stopped it."""
    cancel = cancel or CancelToken()
    yield CalibrationProgress("loading", 0, 0)
    enc = gallery.load_encodings()
    if len(enc.engine_ids) != 1:
        raise EvaluationError(f"{gallery.location}: a calibration needs faces of exactly one "
                              f"engine; this gallery has {len(enc.engine_ids)}")
    (eid,) = enc.engine_ids
    pks, counts = np.unique(enc.person_pks, return_counts=True)
    repeat = int(np.count_nonzero(counts > 1))
    impostors = (len(enc.person_pks) ** 2 - int((counts.astype(np.int64) ** 2).sum())) // 2
    if repeat < MIN_REPEAT_PERSONS or impostors < MIN_IMPOSTOR_PAIRS:
        raise EvaluationError(
            f"{gallery.location}: too little to calibrate on: {repeat} persons with repeat "
            f"photos (needs {MIN_REPEAT_PERSONS}) and {impostors:,} pairs of different "
            f"persons (needs {MIN_IMPOSTOR_PAIRS:,}); FaceDesk keeps using the reference "
            "calibration")
    name = label or gallery.name
    steps = measure_steps(
        enc.matrix, enc.person_pks, engine_identity=gallery.engine_identity(eid) or {},
        source=f"{name}: {len(enc.face_ids):,} faces of {len(pks):,} persons "
               f"({repeat:,} with repeat photos), all pairs",
        provenance={"gallery": str(gallery.location), "gallery_id": gallery.gallery_id,
                    "gallery_version": enc.version, "faces": len(enc.face_ids),
                    "persons": len(pks), "persons_with_repeats": repeat,
                    "measured_at": now_iso()})
    done = total = 0
    while True:
        if cancel.cancelled:
            yield CalibrationProgress("finished", done, total, status="cancelled")
            return
        try:
            done, total = next(steps)
        except StopIteration as stop:
            yield CalibrationProgress("finished", done, total, calibration=stop.value,
                                      status="completed")
            return
        yield CalibrationProgress("measuring", done, total)


def calibrate(gallery: Gallery, *, reference_path: Path | str | None = None, use: bool = True,
              session: Session | None = None, cancel: CancelToken | None = None
              ) -> Iterator[CalibrationProgress]:
    """The calibration job: measure on the gallery's own faces (kind 'gallery') or on the
    labelled gallery at `reference_path` (kind 'reference'), store it and, when `use`, put
    it in use (an administrator's setting once the gallery has users: checked before
    measuring). The last event (phase "finished") carries the calibration and the id it
    was stored under; both None when `cancel` stopped it (nothing is stored then)."""
    if use:
        _may_change(gallery, session)
    if reference_path is None:
        events, kind = measuring(gallery, cancel=cancel), "gallery"
        last = yield from _until_finished(events)
    else:
        with Gallery.open(reference_path) as ref:
            events, kind = measuring(ref, cancel=cancel), "reference"
            last = yield from _until_finished(events)
    if last.calibration is None:
        yield last
        return
    cid = store(gallery, last.calibration, kind, use=use, session=session)
    yield replace(last, phase="stored", calibration_id=cid, status="running")
    yield replace(last, calibration_id=cid)


def _until_finished(events: Iterator[CalibrationProgress]
                    ) -> Generator[CalibrationProgress, None, CalibrationProgress]:
    """Pass on the events before "finished"; return that one (for `yield from`)."""
    for ev in events:
        if ev.phase == "finished":
            return ev
        yield ev
    raise AssertionError("measuring ended without a finished event")


def stored(gallery: Gallery) -> list[StoredCalibration]:
    """The calibrations stored in the gallery, oldest first, and which one is in use."""
    return rows.stored(gallery)


def store(gallery: Gallery, cal: Calibration, kind: str, *, use: bool = True,
          session: Session | None = None) -> int:
    """Keep a calibration in the gallery (kind 'gallery': measured on its own photos;
    'reference': on another labelled set) and, by default, put it in use (see `use`)."""
    if cal.engine_id not in gallery.engine_ids():
        raise EvaluationError(
            f"{gallery.location}: the calibration was measured for engine {cal.engine_id}, "
            "which did not encode this gallery")
    if use:
        _may_change(gallery, session)
    def log(conn: Connection, cid: int) -> None:
        audit.append(conn, gallery.gallery_id, "calibration_added",
                     {"id": cid, "kind": kind, "engine_id": cal.engine_id,
                      "source": cal.source, "impostor_pairs": cal.impostor_pairs,
                      "genuine_pairs": cal.genuine_pairs},
                     user_id=None if session is None else session.user_id,
                     records={"calibrations": [cid]})

    cid = gallery.add_calibration(kind, cal.engine_id, cal.source, cal.impostor_pairs,
                                  cal.genuine_pairs, cal.to_json(), use=False, log=log)
    if use:
        _put_in_use(gallery, cid, session)
    return cid


def _may_change(gallery: Gallery, session: Session | None) -> None:
    if accounts.has_users(gallery):
        if session is None:
            raise NotPermitted("changing the calibration in use is an administrator's "
                               "setting: sign in")
        session.require("change_settings")


def use(gallery: Gallery, calibration_id: int | None, *,
        session: Session | None = None) -> None:
    """Put a stored calibration in use (None: the reference shipped with FaceDesk). It
    changes the false match rates every search shows, so it is a setting: once the
    gallery has users, only an administrator's session may change it, and the change is
    an audit event ("setting_changed", setting "calibration")."""
    _put_in_use(gallery, calibration_id, session)


def _put_in_use(gallery: Gallery, calibration_id: int | None,
                session: Session | None) -> None:
    _may_change(gallery, session)
    with gallery.write() as conn:
        before = rows.in_use_id(conn)
        if calibration_id == before:
            return
        if calibration_id is not None and not rows.exists(conn, calibration_id):
            raise EvaluationError(f"there is no calibration {calibration_id} in "
                                  f"{gallery.location} (facedesk calibrate --list)")
        rows.set_in_use(conn, calibration_id)
        audit.append(conn, gallery.gallery_id, "setting_changed",
                     {"setting": "calibration", "from": before, "to": calibration_id},
                     user_id=None if session is None else session.user_id,
                     records={"meta": [rows.IN_USE_KEY]})


def in_use(gallery: Gallery) -> Calibration | None:
    """The calibration a search of this gallery reads distances with: the one stored in
    the gallery and put in use, else the reference shipped with FaceDesk; None when it was
    measured with an engine that did not encode this gallery. Its source says which."""
    cid = rows.in_use_id(gallery)
    data = None if cid is None else rows.data(gallery, cid)
    if data is None:
        cal = reference()
        prefix = "reference shipped with FaceDesk"
    else:
        cal = Calibration.from_json(data)
        kind = next((c.kind for c in rows.stored(gallery) if c.id == cid), "")
        prefix = "this gallery's own photos" if kind == "gallery" else \
            "this agency's outside probes" if cal.provenance.get("method") == \
            OUTSIDE_PROBES else "reference"
    engines = gallery.engine_ids()
    if cal is None or (engines and cal.engine_id not in engines):
        return None
    return replace(cal, source=f"{prefix} — {cal.source}")
