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
    # accountability (facedesk.app.accounts, cases, audit): who may act, the case every
    # search belongs to, what each search showed, the second reviewer's verdict on a
    # possible lead, and the hash-chained audit log of every event
    5: [
        """CREATE TABLE users (
            id TEXT PRIMARY KEY CHECK (length(trim(id)) > 0),
            display_name TEXT NOT NULL,
            role TEXT NOT NULL
                CHECK (role IN ('analyst', 'supervisor', 'trainer', 'administrator')),
            password_hash TEXT,
            os_account TEXT UNIQUE,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE CHECK (length(trim(number)) > 0),
            purpose TEXT NOT NULL CHECK (length(trim(purpose)) > 0),
            purpose_detail TEXT NOT NULL DEFAULT '',
            training INTEGER NOT NULL,
            opened_by TEXT NOT NULL REFERENCES users(id),
            opened_at TEXT NOT NULL,
            closed_by TEXT REFERENCES users(id),
            closed_at TEXT,
            closing_note TEXT
        )""",
        # one search as it was shown: the probe (its bytes until retention purges them),
        # the settings and the candidate list (JSON, in rank order)
        """CREATE TABLE searches (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            user_id TEXT NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            probe_sha256 TEXT NOT NULL,
            probe_name TEXT NOT NULL,
            probe_image BLOB,
            probe_box TEXT NOT NULL,
            quality TEXT NOT NULL,
            engine_id TEXT NOT NULL,
            gallery_version INTEGER NOT NULL,
            persons_searched INTEGER NOT NULL,
            faces_searched INTEGER NOT NULL,
            threshold REAL NOT NULL,
            top_k INTEGER NOT NULL,
            calibration_source TEXT,
            candidates TEXT NOT NULL,
            audit_seq INTEGER NOT NULL,
            purged_at TEXT
        )""",
        "CREATE INDEX searches_case ON searches(case_id)",
        "ALTER TABLE decisions ADD COLUMN case_id INTEGER REFERENCES cases(id)",
        "ALTER TABLE decisions ADD COLUMN search_id INTEGER REFERENCES searches(id)",
        "ALTER TABLE decisions ADD COLUMN audit_seq INTEGER",
        # 1: a possible lead that waits for a second reviewer (the two-person rule was on)
        "ALTER TABLE decisions ADD COLUMN second_review INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX decisions_case ON decisions(case_id)",
        # the second reviewer's verdict on an analyst's possible lead
        """CREATE TABLE lead_reviews (
            id INTEGER PRIMARY KEY,
            decision_id INTEGER NOT NULL UNIQUE REFERENCES decisions(id),
            reviewer TEXT NOT NULL REFERENCES users(id),
            verdict TEXT NOT NULL CHECK (verdict IN ('confirmed', 'overturned')),
            rationale TEXT NOT NULL CHECK (length(trim(rationale)) > 0),
            blind INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            audit_seq INTEGER NOT NULL
        )""",
        # append-only: each event's hash covers its fields and the previous event's hash
        # (facedesk.app.audit); the triggers refuse changes, the verifier finds the rest
        """CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            user_id TEXT,
            kind TEXT NOT NULL,
            case_id INTEGER,
            data TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )""",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only: an event cannot be changed');
        END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only: an event cannot be deleted');
        END""",
        # appends only at the end: no INSERT OR REPLACE over an event, no gap
        """CREATE TRIGGER audit_append_only BEFORE INSERT ON audit
        WHEN NEW.seq != (SELECT coalesce(max(seq), 0) + 1 FROM audit) BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only: events are added at the end');
        END""",
    ],
    # the probe-specific look-alike curve of each search (facedesk.domain.lookalikes; JSON,
    # repeated in the search's audit event); NULL for searches made before it
    6: [
        "ALTER TABLE searches ADD COLUMN lookalikes TEXT",
    ],
    7: [
        # failed password sign-ins in a row per user: the back-off and the lockout
        # (facedesk.app.accounts); a success or an administrator's unlock deletes the row
        """CREATE TABLE sign_in_failures (
            user_id TEXT PRIMARY KEY REFERENCES users(id),
            failures INTEGER NOT NULL CHECK (failures > 0),
            last_failure REAL NOT NULL
        )""",
    ],
    # CCTV clips (facedesk.domain.clips): a search whose probe came from a video keeps its
    # provenance (JSON: the clip's SHA-256, size, container and codec, the frames used
    # with their numbers, times and PNG hashes, whether a fused template was searched,
    # every crop, rotation and brightness/contrast change), and the PNG of each frame
    8: [
        "ALTER TABLE searches ADD COLUMN provenance TEXT",
        """CREATE TABLE search_frames (
            id INTEGER PRIMARY KEY,
            search_id INTEGER NOT NULL REFERENCES searches(id),
            position INTEGER NOT NULL,
            frame INTEGER NOT NULL,
            time_s REAL NOT NULL,
            png BLOB,
            sha256 TEXT NOT NULL,
            UNIQUE (search_id, position)
        )""",
    ],
    # issue 18: the FISWG feature-by-feature checklist of a decision (facedesk.domain.fiswg;
    # JSON {component: {"value", "note"}}, also in the decision's audit event; NULL for
    # decisions made before it or without one), and the independent evidence an analyst
    # obtained for a confirmed lead before its lead sheet goes out (one row per item)
    9: [
        "ALTER TABLE decisions ADD COLUMN checklist TEXT",
        """CREATE TABLE lead_evidence (
            id INTEGER PRIMARY KEY,
            decision_id INTEGER NOT NULL REFERENCES decisions(id),
            text TEXT NOT NULL CHECK (length(trim(text)) > 0),
            recorded_by TEXT NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            audit_seq INTEGER NOT NULL
        )""",
        "CREATE INDEX lead_evidence_decision ON lead_evidence(decision_id)",
    ],
    # the trainee quiz (facedesk.app.quiz): a quiz per trainee, its pairs in the order
    # shown with the truth (genuine: same person) and the distance, each filled in with
    # the trainee's answer (same / different / cant_tell) and the seconds it took
    10: [
        """CREATE TABLE quiz_sessions (
            id INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            finished_at TEXT,
            gallery_version INTEGER NOT NULL,
            seed INTEGER NOT NULL,
            size INTEGER NOT NULL,
            genuine_share REAL NOT NULL,
            threshold REAL NOT NULL,
            group_key TEXT
        )""",
        "CREATE INDEX quiz_sessions_user ON quiz_sessions(user_id)",
        """CREATE TABLE quiz_answers (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES quiz_sessions(id),
            position INTEGER NOT NULL,
            face_a INTEGER NOT NULL,
            face_b INTEGER NOT NULL,
            genuine INTEGER NOT NULL CHECK (genuine IN (0, 1)),
            distance REAL NOT NULL,
            pair_group TEXT NOT NULL,
            answer TEXT CHECK (answer IN ('same', 'different', 'cant_tell')),
            seconds REAL,
            answered_at TEXT,
            UNIQUE (session_id, position)
        )""",
    ],
}

SCHEMA_VERSION = max(MIGRATIONS)
