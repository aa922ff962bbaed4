"""Re-run and disclosure with the real engine on LFW (issue 18, items 3 and 5), through
the command line as a real process: a probe of a person not yet booked is searched in a
case; new bookings (a manifest with booking dates and dates of birth) bring that person;
`facedesk rerun` searches only the new faces and marks the person NEW; `facedesk disclose`
writes the package, whose manifest checks with sha256sum."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pypdf
from conftest import CaseGallery, LfwGallery, cli_env, facedesk_command, lfw_photos

from facedesk.app import accounts
from facedesk.app.importer import ImportOptions, run_import
from facedesk.engine.spec import EngineSpec
from facedesk.store import Gallery


def _run(*args: str | Path, user: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**cli_env(), "FACEDESK_USER": user, "FACEDESK_PASSWORD": password}
    return subprocess.run([*facedesk_command(), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=env)


def test_rerun_finds_the_new_booking_and_the_package_discloses_it(
        case_gallery: CaseGallery, lfw_gallery: LfwGallery, lfw_images: Path,
        real_engine_spec: EngineSpec, tmp_path: Path) -> None:
    known = set(lfw_gallery.persons)
    newcomer = next(d.name for d in sorted(lfw_images.iterdir())
                    if d.is_dir() and d.name not in known
                    and len(lfw_photos(lfw_images, d.name)) >= 4)
    photos = lfw_photos(lfw_images, newcomer)[:4]
    ann = ("ann", "harbor-Violet-7731")
    admin = ("admin", "quartz-Lantern-6150")
    with Gallery.open(case_gallery.db) as g:  # the real threshold: 0.60
        accounts.sign_in(g, *admin).set_setting("threshold", 0.6)
    db = case_gallery.db

    first = _run("search", photos[0], "--db", db, "--case", case_gallery.case, "--json",
                 user=ann[0], password=ann[1])
    assert first.returncode == 0, first.stderr
    assert newcomer not in {c["person_id"] for c in json.loads(first.stdout)["candidates"]}

    # new bookings: the newcomer's other photos, with booking-style metadata
    manifest = tmp_path / "bookings.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "person_id", "name", "date_of_birth", "booked_on"])
        for i, p in enumerate(photos[1:]):
            w.writerow([p.relative_to(lfw_images).as_posix(), newcomer,
                        newcomer.replace("_", " "), "1971-03-0" + str(i + 1),
                        f"2026-11-2{i}"])
    with Gallery.open(db) as g:
        faces_before = g.counts()["faces"]
        for _ in run_import(g, lfw_images, manifest=manifest, engine=real_engine_spec,
                            options=ImportOptions(workers=1), user_id="admin"):
            pass
        new_faces = g.counts()["faces"] - faces_before
    assert new_faces >= 2

    listed = _run("rerun", "--list", "--db", db, "--json", user=admin[0], password=admin[1])
    assert listed.returncode == 0, listed.stderr
    assert [(w["case"], w["new_faces"]) for w in json.loads(listed.stdout)] == \
        [(case_gallery.case, new_faces)]

    again = _run("rerun", "--case", case_gallery.case, "--db", db, "--json",
                 user=ann[0], password=ann[1])
    assert again.returncode == 0, again.stderr
    [probe] = json.loads(again.stdout)["probes"]
    assert probe["outcome"] == "searched" and probe["new_faces"] == new_faces
    top = probe["candidates"][0]
    assert top["person_id"] == newcomer and top["new"] is True and top["distance"] < 0.6
    assert probe["new_persons"] == [newcomer]
    assert top["photo"]["metadata"]["booked_on"].startswith("2026-11-2")

    out = tmp_path / "disclosure"
    made = _run("disclose", "--case", case_gallery.case, "--out", out, "--db", db,
                "--json", user=admin[0], password=admin[1])
    assert made.returncode == 0, made.stderr
    folder = Path(json.loads(made.stdout)["folder"])
    check = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    text = "\n".join(page.extract_text()
                     for page in pypdf.PdfReader(folder / "disclosure.pdf").pages)
    assert "Search 1" in text and "Search 2" in text and "new" in text
    assert "dlib" in text  # the engine's identity
    assert os.stat(folder / "disclosure.pdf").st_mode & 0o077 == 0
