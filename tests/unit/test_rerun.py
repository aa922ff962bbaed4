"""Re-running a case against new bookings (facedesk.app.rerun): a first folder imported
and searched, a second folder with new persons (and a new photo of a known one) imported,
the case re-run: only the new faces are searched, the new searches are recorded and
logged, and only candidates no earlier search of the probe showed are marked new. On a
real gallery file with the fake engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from accountability import PASSWORDS, tamper
from click.testing import CliRunner
from fakes import FAKE_FACTORY, FakeEngine, one_face, save_png

from facedesk.app import accounts, audit, cases, rerun
from facedesk.app.importer import ImportOptions, run_import
from facedesk.app.search import Searcher, analyze_probe, choose_face
from facedesk.cli import options as cli_options
from facedesk.cli.main import cli as facedesk_cli
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.engine.spec import EngineSpec
from facedesk.errors import CaseError, NotPermitted
from facedesk.store import Gallery

PURPOSE = accounts.DEFAULT_PURPOSES[0]


def _import(g: Gallery, folder: Path) -> None:
    """An import, by the administrator once the gallery has users."""
    user = "admin" if accounts.has_users(g) else None
    for _ in run_import(g, folder, engine=EngineSpec(FAKE_FACTORY),
                        options=ImportOptions(workers=1), user_id=user):
        pass


def _folder(root: Path, photos: dict[int, range]) -> Path:
    for person, variants in photos.items():
        for v in variants:
            save_png(one_face(person, v), root / f"person_{person}" / f"{v}.png")
    return root


@pytest.fixture
def world(tmp_path: Path, store_location: Path | str):
    g = Gallery.open(store_location, create=True)  # a file, and a database on a server
    _import(g, _folder(tmp_path / "first", {p: range(3) for p in range(4)}))
    admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                password=PASSWORDS["admin"],
                                                os_account="os-admin")
    admin.add_user("ann", "Ann Analyst", "analyst", password=PASSWORDS["ann"],
                   os_account="os-ann")
    admin.add_user("sam", "Sam Supervisor", "supervisor", os_account="os-sam")
    for person in (1, 5):
        save_png(one_face(person, 8), tmp_path / f"probe_{person}.png")
    yield g, tmp_path
    g.close()


def _search(g: Gallery, session: accounts.Session, case: cases.Case, path: Path
            ) -> cases.CaseSearch:
    eng = FakeEngine()
    probe = analyze_probe(eng, path)
    return cases.search_for_case(session, case, Searcher(g, eng.identity()), probe,
                                 choose_face(eng, probe), 20)


def _rerun(session: accounts.Session, case: cases.Case, **kw: object) -> rerun.RerunReport:
    report = run_to_end(rerun.rerun_steps(session, case.id, FakeEngine(), **kw))  # type: ignore[arg-type]
    assert report is not None
    return report


def test_a_rerun_searches_only_new_faces_and_marks_new_candidates(world) -> None:
    g, tmp = world
    ann = accounts.sign_in_os(g, "os-ann")
    case = cases.open_case(ann, "R-1", PURPOSE)
    first_1 = _search(g, ann, case, tmp / "probe_1.png")
    first_5 = _search(g, ann, case, tmp / "probe_5.png")
    assert [c.person_id for c in first_1.result.candidates] == ["person_1"]
    assert first_5.result.candidates == []  # no candidate within the threshold
    faces_before = first_1.result.faces_searched
    assert rerun.waiting_cases(accounts.sign_in_os(g, "os-admin")) == []

    # new bookings: two new persons and a new photo of person_1
    _import(g, _folder(tmp / "second", {1: range(3, 4), 5: range(3), 6: range(3)}))
    waiting = rerun.waiting_cases(accounts.sign_in_os(g, "os-admin"))
    assert [(w.case.number, w.probes, w.new_faces) for w in waiting] == [("R-1", 2, 7)]

    events_before = len(audit.events(g, case_id=case.id, kinds=["search"]))
    report = _rerun(ann, case)
    by_name = {p.probe_name: p for p in report.probes}
    p1, p5 = by_name["probe_1.png"], by_name["probe_5.png"]
    assert p1.outcome == p5.outcome == rerun.SEARCHED
    for p in (p1, p5):
        assert p.search is not None
        assert p.search.result.faces_searched == 7  # the new faces only
        assert p.search.result.persons_searched == 3
    assert p5.search is not None and p1.search is not None
    assert [c.person_id for c in p5.search.result.candidates] == ["person_5"]
    assert p5.new_persons == ("person_5",)
    assert [c.person_id for c in p1.search.result.candidates] == ["person_1"]
    assert p1.new_persons == ()  # shown by the probe's first search already
    assert p1.search.result.candidates[0].photo["path"].endswith("3.png")
    # recorded as searches of the case, with their audit events
    stored = cases.searches(g, case.id)
    assert len(stored) == 4
    assert len(audit.events(g, case_id=case.id, kinds=["search"])) == events_before + 2
    rec = cases.search_record(g, p5.search.id)
    assert rec.provenance is not None
    assert rec.provenance["rerun"]["of_search"] == first_5.id
    assert rec.provenance["rerun"]["after_face_id"] == \
        rerun.snapshot(g, cases.search_record(g, first_5.id))
    assert cases.probe_image(g, rec.id) == (tmp / "probe_5.png").read_bytes()
    assert rerun.new_candidates(stored) == {p1.search.id: set(),
                                            p5.search.id: {"person_5"}}
    assert faces_before == 12
    assert p1.as_dict()["candidates"][0]["new"] is False
    assert p5.as_dict()["candidates"][0]["new"] is True

    # nothing new since: nothing is searched; a possible lead takes it off the list
    again = _rerun(ann, case)
    assert {p.outcome for p in again.probes} == {rerun.NOTHING_NEW}
    assert len(cases.searches(g, case.id)) == 4
    _import(g, _folder(tmp / "third", {7: range(2)}))
    assert [w.case.number for w in rerun.waiting_cases(ann)] == ["R-1"]
    cases.decide(ann, p5.search.id, 1, "possible_lead", "same ear and chin")
    assert rerun.waiting_cases(ann) == []


def test_purged_probes_are_named_and_closed_cases_refused(world) -> None:
    g, tmp = world
    ann = accounts.sign_in_os(g, "os-ann")
    case = cases.open_case(ann, "R-2", PURPOSE)
    s1 = _search(g, ann, case, tmp / "probe_1.png")
    _search(g, ann, case, tmp / "probe_5.png")
    # as a retention purge of an earlier FaceDesk left it: the bytes gone, the row kept
    # (on a server, its triggers refuse that change to anyone: made with them off)
    tamper(g, ("UPDATE searches SET probe_image = NULL, purged_at = '2026-01-02' "
               "WHERE id = ?", (s1.id,)))
    _import(g, _folder(tmp / "second", {5: range(2)}))
    report = _rerun(ann, case)
    by_name = {p.probe_name: p for p in report.probes}
    assert by_name["probe_1.png"].outcome == rerun.NOT_RERUNNABLE
    assert "purged under the retention rule on 2026-01-02" in by_name["probe_1.png"].reason
    assert by_name["probe_5.png"].outcome == rerun.SEARCHED

    admin = accounts.sign_in_os(g, "os-admin")
    with pytest.raises(NotPermitted):  # an administrator does not search
        _rerun(admin, case)
    closed = cases.close_case(ann, case)
    with pytest.raises(CaseError, match=r"closed.*cannot be re-run"):
        _rerun(ann, closed)
    assert rerun.waiting_cases(admin) == []  # closed cases are not listed


def test_a_cancelled_rerun_keeps_what_it_recorded(world) -> None:
    g, tmp = world
    ann = accounts.sign_in_os(g, "os-ann")
    case = cases.open_case(ann, "R-3", PURPOSE)
    _search(g, ann, case, tmp / "probe_1.png")
    _search(g, ann, case, tmp / "probe_5.png")
    _import(g, _folder(tmp / "second", {5: range(2)}))
    cancel = CancelToken()
    last = None
    for ev in rerun.rerun_steps(ann, case.id, FakeEngine(), cancel=cancel):
        if ev.done == 1:
            cancel.cancel()
        last = ev
    assert last is not None and last.result is not None and last.result.cancelled
    assert [p.outcome for p in last.result.probes] == [rerun.SEARCHED, rerun.NOT_REACHED]
    assert len(cases.searches(g, case.id)) == 3


def test_the_cli_lists_waiting_cases_and_reruns_one(world, monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    g, tmp = world
    monkeypatch.setattr(cli_options, "engine_spec",
                        lambda detector, jitters: EngineSpec(FAKE_FACTORY))
    ann = accounts.sign_in_os(g, "os-ann")
    case = cases.open_case(ann, "R-4", PURPOSE)
    _search(g, ann, case, tmp / "probe_1.png")
    _search(g, ann, case, tmp / "probe_5.png")
    _import(g, _folder(tmp / "second", {5: range(2)}))

    def cli(*args: str, user: str = "ann") -> str:
        env = {"FACEDESK_USER": user, "FACEDESK_PASSWORD": PASSWORDS[user]}
        res = CliRunner().invoke(facedesk_cli, [*args, "--db", str(g.open_location)], env=env)
        assert res.exit_code == 0, (res.output, res.exception)
        return res.stdout

    listed = cli("rerun", "--list", user="admin")
    assert "case R-4: 2 probe(s) with new faces (up to 2 faces imported" in listed
    out = cli("rerun", "--case", "R-4", "--quiet")
    assert "re-ran case R-4: 2 new search(es)" in out
    marked = [line.split() for line in out.splitlines() if line.endswith("NEW")]
    assert [(m[0], m[2]) for m in marked] == [("1", "person_5")]
    assert "no open case without a possible lead" in cli("rerun", "--list", user="admin")


def test_a_filtered_search_is_re_run_with_its_filter_against_the_new_faces_only(
        tmp_path: Path) -> None:
    """A search narrowed to sex=F searched fewer faces than the gallery had: its re-run
    starts after the gallery's last face then (not after its own count), searches only the
    new faces the filter keeps, and says so when the filter keeps none of them."""
    from bookings import fake_manifest

    from facedesk.domain import filters

    g = Gallery.open(tmp_path / "g.db", create=True)
    try:
        for _ in run_import(g, None, manifest=fake_manifest(tmp_path / "first"),
                            engine=EngineSpec(FAKE_FACTORY), options=ImportOptions(workers=1)):
            pass
        admin = accounts.create_first_administrator(g, "admin", "Ada Admin",
                                                    password=PASSWORDS["admin"],
                                                    os_account="os-admin")
        admin.add_user("ann", "Ann Analyst", "analyst", password=PASSWORDS["ann"],
                       os_account="os-ann")
        ann = accounts.sign_in_os(g, "os-ann")
        case = cases.open_case(ann, "R-F", PURPOSE)
        eng = FakeEngine()
        probe = analyze_probe(eng, save_png(one_face(0, 50), tmp_path / "probe.png"))
        first = cases.search_for_case(ann, case, Searcher(g, eng.identity()), probe,
                                      choose_face(eng, probe), 20,
                                      flt=filters.parse(["sex=F"], None))
        assert first.result.faces_searched == 9  # 3 women x 3 bookings of 15 faces

        # new bookings: a man only; the filter keeps none of them
        _import(g, _folder(tmp_path / "men", {7: range(2)}))
        report = _rerun(ann, case)
        [only] = report.probes
        assert only.outcome == rerun.NOTHING_NEW and only.new_faces == 2
        assert "sex=F" in only.reason

        # then a woman (person 9 is F: the manifest says so) and another man
        folder = tmp_path / "mixed"
        rows = ["path,person_id,sex"]
        for person, sex in ((9, "F"), (8, "M")):
            for v in range(2):
                path = save_png(one_face(person, v), folder / f"p{person}_{v}.png")
                rows.append(f"{path},person_{person},{sex}")
        (folder / "m.csv").write_text("\n".join(rows) + "\n")
        for _ in run_import(g, None, manifest=folder / "m.csv", engine=EngineSpec(FAKE_FACTORY),
                            options=ImportOptions(workers=1), user_id="admin"):
            pass
        report = _rerun(ann, case)
        [only] = report.probes
        assert only.outcome == rerun.SEARCHED and only.search is not None
        # the 2 men's and the woman's new faces were new; the filter kept hers only
        assert only.search.result.faces_searched == 2
        assert only.search.result.filtered is not None
        stored = cases.searches(g, case.id)[-1]
        assert stored.filters is not None and stored.filters["where"][0]["value"] == "F"
    finally:
        g.close()
