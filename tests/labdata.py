"""Synthetic labelled galleries for the accuracy lab's tests (core and GUI): real gallery
files of synthetic encodings, with a 'sex' metadata column and real JPEG crops."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from facedesk.domain.faces import engine_id
from facedesk.domain.imaging import jpeg_bytes
from facedesk.store import FaceRecord, Gallery, PhotoRecord

ENGINE = {"engine": "synthetic", "dlib": "0"}
CROP = jpeg_bytes(np.full((12, 10, 3), 128, dtype=np.uint8))


def synthetic_gallery(path: Path | str, persons: int = 60, photos: int = 3, seed: int = 1,
                      spread: float = 0.06) -> tuple[Gallery, np.ndarray, np.ndarray]:
    """persons x photos faces around a random centre each; every person has metadata
    'sex' (F for every third person) and the first person none."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 0.045, (persons, 128))
    g = Gallery.open(path, create=True)
    eid = engine_id(ENGINE)
    g.register_engine(eid, ENGINE)
    run = g.start_run("synthetic", "folders", {}, eid)
    records, pks, rows = [], [], []
    for p in range(persons):
        n = photos if p % 5 else 1  # every fifth person has one photo only
        for k in range(n):
            enc = (centres[p] + rng.normal(0, spread / math.sqrt(128) * 4, 128)).astype("<f4")
            meta = {} if p == 0 else {"sex": "F" if p % 3 == 0 else "M"}
            records.append(PhotoRecord(
                sha256=f"{p:04d}{k:02d}".ljust(64, "0"), path=f"/x/p{p}/{k}.jpg",
                size_bytes=1, width=10, height=10, format="PNG", person_id=f"P{p:03d}",
                person_name=None, metadata=meta, faces_found=1,
                face=FaceRecord(eid, (0, 9, 9, 0), [], 10, 5.0, 50.0, 100.0, 0.0,
                                enc.tobytes(), CROP)))
            pks.append(p)
            rows.append(enc)
    g.add_photos(run, records)
    return g, np.array(rows, dtype=np.float64), np.array(pks)


#: the users of `training_gallery`: id -> role (mapped to the OS account "os-<id>")
TRAINING_USERS = {"admin": "administrator", "tia": "trainer", "ann": "analyst",
                  "abe": "analyst"}


def training_gallery(path: Path | str, persons: int = 30) -> Path | str:
    """A closed synthetic gallery (see `synthetic_gallery`) set up for training: its
    'training' setting on, and the users of TRAINING_USERS, signed in by OS account
    (`accounts.sign_in_os(g, "os-tia")`: no password hashing)."""
    from facedesk.app import accounts, audit

    g, _, _ = synthetic_gallery(path, persons=persons)
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin", os_account="os-admin")
    for uid, role in TRAINING_USERS.items():
        if uid != "admin":
            admin.add_user(uid, f"{uid.title()} {role.title()}", role, os_account=f"os-{uid}")
    admin.set_setting("training", True)
    audit.baseline(g, user_id="admin")  # the synthetic photos were stored without events
    g.close()
    return path
