"""Calibrations kept in a gallery: measure one on a labelled gallery, store it with its
provenance, choose the one in use (an administrator's setting, logged). What a
calibration is and how it is measured lives in facedesk.domain.rates."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import numpy as np

from facedesk.app import accounts, audit
from facedesk.app.accounts import Session
from facedesk.domain.rates import (
    Calibration,
    measure,
    reference,
)
from facedesk.errors import EvaluationError, NotPermitted
from facedesk.store import Gallery
from facedesk.store.gallery import now_iso

OUTSIDE_PROBES = "outside_probes"
#: a gallery's own calibration needs repeat photos of this many persons (genuine pairs)...
MIN_REPEAT_PERSONS = 20
#: ...and this many impostor pairs (FMR 1e-3 then rests on at least 10 pairs)
MIN_IMPOSTOR_PAIRS = 10_000


def measure_gallery(gallery: Gallery, *, label: str | None = None) -> Calibration:
    """Measure a calibration on every pair of a labelled gallery's faces."""
    enc = gallery.load_encodings()
    if len(enc.engine_ids) != 1:
        raise EvaluationError(f"{gallery.path}: a calibration needs faces of exactly one "
                              f"engine; this gallery has {len(enc.engine_ids)}")
    (eid,) = enc.engine_ids
    pks, counts = np.unique(enc.person_pks, return_counts=True)
    repeat = int(np.count_nonzero(counts > 1))
    impostors = (len(enc.person_pks) ** 2 - int((counts.astype(np.int64) ** 2).sum())) // 2
    if repeat < MIN_REPEAT_PERSONS or impostors < MIN_IMPOSTOR_PAIRS:
        raise EvaluationError(
            f"{gallery.path}: too little to calibrate on: {repeat} persons with repeat "
            f"photos (needs {MIN_REPEAT_PERSONS}) and {impostors:,} pairs of different "
            f"persons (needs {MIN_IMPOSTOR_PAIRS:,}); FaceDesk keeps using the reference "
            "calibration")
    name = label or gallery.path.name
    return measure(
        enc.matrix, enc.person_pks, engine_identity=gallery.engine_identity(eid) or {},
        source=f"{name}: {len(enc.face_ids):,} faces of {len(pks):,} persons "
               f"({repeat:,} with repeat photos), all pairs",
        provenance={"gallery": str(gallery.path), "gallery_id": gallery.gallery_id,
                    "gallery_version": enc.version, "faces": len(enc.face_ids),
                    "persons": len(pks), "persons_with_repeats": repeat,
                    "measured_at": now_iso()})


def store(gallery: Gallery, cal: Calibration, kind: str, *, use: bool = True,
          session: Session | None = None) -> int:
    """Keep a calibration in the gallery (kind 'gallery': measured on its own photos;
    'reference': on another labelled set) and, by default, put it in use (see `use`)."""
    if cal.engine_id not in gallery.engine_ids():
        raise EvaluationError(
            f"{gallery.path}: the calibration was measured for engine {cal.engine_id}, "
            "which did not encode this gallery")
    if use:
        _may_change(gallery, session)
    def log(conn: sqlite3.Connection, cid: int) -> None:
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
        row = conn.execute("SELECT value FROM meta WHERE key = 'calibration_id'").fetchone()
        before = None if row is None else int(row[0])
        if calibration_id == before:
            return
        if calibration_id is None:
            conn.execute("DELETE FROM meta WHERE key = 'calibration_id'")
        else:
            if conn.execute("SELECT 1 FROM calibrations WHERE id = ?",
                            (calibration_id,)).fetchone() is None:
                raise EvaluationError(f"there is no calibration {calibration_id} in "
                                      f"{gallery.path} (facedesk calibrate --list)")
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES "
                         "('calibration_id', ?)", (str(calibration_id),))
        audit.append(conn, gallery.gallery_id, "setting_changed",
                     {"setting": "calibration", "from": before, "to": calibration_id},
                     user_id=None if session is None else session.user_id,
                     records={"meta": ["calibration_id"]})


def in_use(gallery: Gallery) -> Calibration | None:
    """The calibration a search of this gallery reads distances with: the one stored in
    the gallery and put in use, else the reference shipped with FaceDesk; None when it was
    measured with an engine that did not encode this gallery. Its source says which."""
    cid = gallery.calibration_in_use()
    data = None if cid is None else gallery.calibration_data(cid)
    if data is None:
        cal = reference()
        prefix = "reference shipped with FaceDesk"
    else:
        cal = Calibration.from_json(data)
        kind = next((c["kind"] for c in gallery.calibrations() if c["id"] == cid), "")
        prefix = "this gallery's own photos" if kind == "gallery" else \
            "this agency's outside probes" if cal.provenance.get("method") == \
            OUTSIDE_PROBES else "reference"
    engines = gallery.engine_ids()
    if cal is None or (engines and cal.engine_id not in engines):
        return None
    return replace(cal, source=f"{prefix} — {cal.source}")
