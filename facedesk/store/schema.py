"""The gallery schema, as numbered migrations. `PRAGMA user_version` holds the number of
the last one applied; a gallery is only ever moved forward, one migration per
transaction. Never edit a released migration: add the next one."""

from __future__ import annotations

#: SQLite application_id of a FaceDesk gallery ("FDK1"): tells our files from others
APPLICATION_ID = 0x46444B31

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        # what produced an encoding: library versions and model file hashes (JSON)
        """CREATE TABLE engines (
            id TEXT PRIMARY KEY,
            identity TEXT NOT NULL,
            first_used TEXT NOT NULL
        )""",
        """CREATE TABLE persons (
            id INTEGER PRIMARY KEY,
            person_id TEXT NOT NULL UNIQUE,
            name TEXT,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE import_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            kind TEXT NOT NULL,
            options TEXT NOT NULL,
            engine_id TEXT REFERENCES engines(id),
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'completed', 'cancelled', 'interrupted',
                                  'failed')),
            total INTEGER NOT NULL DEFAULT 0,
            already_stored INTEGER NOT NULL DEFAULT 0,
            imported INTEGER NOT NULL DEFAULT 0,
            no_face INTEGER NOT NULL DEFAULT 0,
            multi_face INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE photos (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            person_pk INTEGER NOT NULL REFERENCES persons(id),
            path TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            format TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            faces_found INTEGER NOT NULL,
            import_run_id INTEGER REFERENCES import_runs(id),
            added_at TEXT NOT NULL
        )""",
        "CREATE INDEX photos_person ON photos(person_pk)",
        # the photo's subject only: one face per photo; the others are counted in
        # photos.faces_found
        """CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            photo_id INTEGER NOT NULL UNIQUE REFERENCES photos(id),
            person_pk INTEGER NOT NULL REFERENCES persons(id),
            engine_id TEXT NOT NULL REFERENCES engines(id),
            box_top INTEGER NOT NULL,
            box_right INTEGER NOT NULL,
            box_bottom INTEGER NOT NULL,
            box_left INTEGER NOT NULL,
            landmarks TEXT NOT NULL,
            size_px INTEGER NOT NULL,
            eye_distance_px REAL NOT NULL,
            sharpness REAL NOT NULL,
            brightness REAL NOT NULL,
            yaw_deg REAL NOT NULL,
            encoding BLOB NOT NULL CHECK (length(encoding) = 512),
            crop BLOB
        )""",
        "CREATE INDEX faces_person ON faces(person_pk, id)",
        """CREATE TABLE import_problems (
            id INTEGER PRIMARY KEY,
            run_id INTEGER NOT NULL REFERENCES import_runs(id),
            path TEXT NOT NULL,
            code TEXT NOT NULL,
            reason TEXT NOT NULL,
            line INTEGER
        )""",
        "CREATE INDEX import_problems_run ON import_problems(run_id)",
    ],
    # a reviewer's decision on one candidate of one search: the only outcome of a search
    # that is ever written, and only when the reviewer confirms it
    2: [
        """CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            reviewer TEXT NOT NULL CHECK (length(trim(reviewer)) > 0),
            decision TEXT NOT NULL
                CHECK (decision IN ('possible_lead', 'not_the_person', 'inconclusive')),
            rationale TEXT NOT NULL CHECK (length(trim(rationale)) > 0),
            first_impression TEXT,
            blind_review INTEGER NOT NULL,
            probe_sha256 TEXT NOT NULL,
            probe_path TEXT NOT NULL,
            probe_box TEXT NOT NULL,
            engine_id TEXT NOT NULL REFERENCES engines(id),
            gallery_version INTEGER NOT NULL,
            persons_searched INTEGER NOT NULL,
            person_id TEXT NOT NULL,
            face_id INTEGER NOT NULL REFERENCES faces(id),
            rank INTEGER NOT NULL,
            distance REAL NOT NULL,
            similarity REAL NOT NULL
        )""",
        "CREATE INDEX decisions_probe ON decisions(probe_sha256)",
    ],
    3: [
        # how the subject face was found: "hog:1" (HOG detector, upsampled once), "hog:2",
        # "cnn:0", or "frame" (no detector found it; the centre of a tightly cropped
        # photo was taken as the face). Rows before migration 3 were all "hog:1".
        "ALTER TABLE faces ADD COLUMN detector TEXT NOT NULL DEFAULT 'hog:1'",
        # distance -> false match rate tables measured for this gallery's engine: on
        # another labelled set (kind 'reference') or on this gallery's own repeat photos
        # (kind 'gallery'). meta 'calibration_id' names the one in use; none = the
        # reference table shipped with FaceDesk.
        """CREATE TABLE calibrations (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('reference', 'gallery')),
            engine_id TEXT NOT NULL,
            source TEXT NOT NULL,
            impostor_pairs INTEGER NOT NULL,
            genuine_pairs INTEGER NOT NULL,
            data TEXT NOT NULL
        )""",
    ],
    # the summary's questions answered from an index at a million faces (a cold scan of
    # the faces table took 30 s): which engines encoded faces, photos without / with
    # several faces
    4: [
        "CREATE INDEX faces_engine ON faces(engine_id)",
        "CREATE INDEX photos_faces_found ON photos(faces_found)",
    ],
}

SCHEMA_VERSION = max(MIGRATIONS)
