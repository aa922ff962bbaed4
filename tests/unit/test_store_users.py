"""The store's rows of users, failed sign-ins, settings and calibrations, on a real SQLite
file and a real PostgreSQL database: typed records in, typed records out (the rules are the
app's, tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facedesk.store import Gallery
from facedesk.store import calibrations as cal_rows
from facedesk.store import users as rows
from facedesk.store.records import digests_of


def test_user_rows_round_trip_as_records(store_location: Path | str) -> None:
    with Gallery.open(store_location, create=True) as g:
        assert not rows.has_users(g) and rows.all_users(g) == []
        ada = rows.UserRecord("ada", "Ada Admin", "administrator", "os-ada", True, "h")
        with g.write() as conn:
            rows.insert_user(conn, ada, "2026-01-01T00:00:00+00:00")
            rows.insert_user(conn, rows.UserRecord("bo", "Bo", "analyst", None, True, None),
                             "2026-01-01T00:00:00+00:00")
            before = digests_of(conn, "users", ["bo"])
            bo = rows.update_user(conn, "bo", {"active": 0, "os_account": "os-bo"})
            assert digests_of(conn, "users", ["bo"]) != before
            with pytest.raises(ValueError, match="unknown user columns"):
                rows.update_user(conn, "bo", {"created_at": "x"})
        assert bo == rows.UserRecord("bo", "Bo", "analyst", "os-bo", False, None)
        assert rows.get_user(g, "ada") == ada and rows.get_user(g, "nobody") is None
        assert [u.id for u in rows.all_users(g, active_only=True)] == ["ada"]
        assert rows.active_user_of_os_account(g, "os-ada") == ada
        assert rows.active_user_of_os_account(g, "os-bo") is None  # inactive
        assert rows.os_account_owner(g, "os-bo") == "bo"
        assert rows.os_account_owner(g, "os-bo", other_than="bo") is None
        assert rows.active_administrators(g) == 1


def test_failures_settings_and_the_calibration_in_use(store_location: Path | str) -> None:
    with Gallery.open(store_location, create=True) as g:
        with g.write() as conn:
            rows.insert_user(conn, rows.UserRecord("bo", "Bo", "analyst", None, True, "h"),
                             "2026-01-01T00:00:00+00:00")
            rows.set_failures(conn, "bo", 2, 100.5)
            rows.write_setting(conn, "top_k", 7)
            rows.add_name_key(conn, "ab" * 32)
            rows.add_name_key(conn, "cd" * 32)  # the first one stays
        assert rows.failures_of(g, "bo") == rows.FailureRecord("bo", 2, 100.5)
        assert rows.all_failures(g) == [rows.FailureRecord("bo", 2, 100.5)]
        assert rows.stored_settings(g) == {"top_k": 7}
        assert rows.name_key(g) == "ab" * 32
        with g.write() as conn:
            rows.clear_failures(conn, "bo")
            cid = cal_rows.add(conn, created_at="t", kind="gallery", engine_id="e",
                               source="s", impostor_pairs=3, genuine_pairs=1, data="{}")
            cal_rows.set_in_use(conn, cid)
        assert rows.failures_of(g, "bo") is None
        (stored,) = cal_rows.stored(g)
        assert stored == cal_rows.StoredCalibration(cid, "t", "gallery", "e", "s", 3, 1, True)
        assert cal_rows.in_use_id(g) == cid and cal_rows.data(g, cid) == "{}"
        with g.write() as conn:
            cal_rows.set_in_use(conn, None)
        assert cal_rows.in_use_id(g) is None and not cal_rows.stored(g)[0].in_use
        assert not cal_rows.exists(g, cid + 1)
