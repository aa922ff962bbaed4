"""A case's disclosure package: what an agency hands over about the face searches of a
case (Maryland Crim. Proc. §2-504; Detroit's 2024 settlement): every search of the case,
including those that showed no candidate within the threshold, each candidate list as it
was shown, every decision and second review, the engine, gallery and calibration each
search used, the system's name and version, and the case's audit events with the audit
log's head.

The package is a folder `disclosure-case-<number>-<time>` holding one PDF (reportlab,
the lead sheet's fonts), `disclosure.json` (the whole record), CSV files (searches,
candidates, decisions, second reviews, audit events; spreadsheet-safe), the probe images
and clip frames as stored, and a manifest of every file's SHA-256 (`manifest.json`, and
`SHA256SUMS` for `sha256sum -c`). It is built from the stored rows generically: every
column of the case's searches, decisions and second reviews as stored, so a column added
later appears without a change here. It is written under a temporary name, logged as one
audit "export" event (with the manifest's SHA-256), then renamed: no package without its
event.

Who may disclose: supervisors and administrators (the "disclose" permission), as for the
audit log export: the package is the agency's, not one analyst's. It includes everything,
the rationales too; so with blind second review on, a disclosure that would show its
maker a rationale still hidden from them (another user's possible lead pending its second
review) is refused until the reviews are done, as the audit export is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import facedesk
from facedesk.app import accounts, audit, cases, rerun
from facedesk.app.accounts import Session
from facedesk.app.lead_sheet import (
    BANNER,
    PDF_MAX_CHARS,
    banner_table,
    fonts,
    markup,
    page_footer,
    pdf_grid,
    safe_name,
)
from facedesk.domain import csvsafe, private
from facedesk.domain.fiswg import Checklist
from facedesk.domain.progress import CancelToken, run_to_end
from facedesk.errors import FaceDeskError
from facedesk.store import cases as case_store

SYSTEM_NAME = "FaceDesk"
PDF_NAME = "disclosure.pdf"
JSON_NAME = "disclosure.json"
MANIFEST_NAME = "manifest.json"
SUMS_NAME = "SHA256SUMS"
#: the columns the PDF shows of a search row elsewhere (its candidate table) or not at all
#: (the bytes are files of the package)
_SEARCH_SHOWN_ELSEWHERE = frozenset({"candidates", "probe_image"})


# --- the record ---------------------------------------------------------------------------


def _value(v: Any) -> Any:
    """A stored value for JSON: a JSON document stored as text decoded, bytes as their
    SHA-256 and size."""
    if isinstance(v, bytes | bytearray | memoryview):
        data = bytes(v)
        return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    if isinstance(v, str) and v[:1] in "[{" and v[-1:] in "]}":
        try:
            doc = json.loads(v)
        except ValueError:
            return v
        return doc if isinstance(doc, dict | list) else v
    return v


def _row(r: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in r.items()}


@dataclass
class Disclosure:
    """The record a package is written from (`as_dict` is disclosure.json), with the
    probe and frame bytes it holds as files (name -> bytes)."""

    doc: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)


def _probe_file(row: dict[str, Any]) -> str:
    return f"probes/search-{row['id']}-{safe_name(str(row['probe_name']))}"


def disclosure_record(session: Session, case: int | str) -> Disclosure:
    """Everything the package holds about case `case` (id or number), for `session`'s
    user (the "disclose" permission; refused while blind review hides a rationale of
    the case from them)."""
    session.require("disclose")
    c = cases.readable_case(session, case)
    cases.refuse_hidden_rationales(session, c.id, what="the package would show")
    gallery = session.gallery
    files: dict[str, bytes] = {}
    searches = []
    for r in case_store.case_search_rows(gallery, c.id):
        row = _row(r)
        if r.get("probe_image") is not None:
            name = _probe_file(r)
            files[name] = bytes(r["probe_image"])
            row["probe_image"] = {**row["probe_image"], "file": name}
        searches.append(row)
    frames = []
    for r in case_store.case_frame_rows(gallery, c.id):
        row = _row(r)
        if r.get("png") is not None:
            name = f"frames/search-{r['search_id']}-frame-{r['position']}.png"
            files[name] = bytes(r["png"])
            row["png"] = {**row["png"], "file": name}
        frames.append(row)
    decisions = [_row(r) for r in case_store.case_decision_rows(gallery, c.id)]
    reviews = [_row(r) for r in case_store.case_review_rows(gallery, c.id)]
    evidence = [_row(r) for r in case_store.case_evidence_rows(gallery, c.id)]
    status = {d.id: d.status for d in cases.decisions(gallery, c.id)}
    for d in decisions:
        d["status"] = status.get(d["id"])
    events = audit.events(gallery, case_id=c.id)
    head = audit.head(gallery)
    engine_ids = sorted({str(s["engine_id"]) for s in searches})
    used_sources = {s.get("calibration_source") for s in searches}
    new = rerun.new_candidates(cases.searches(gallery, c.id))
    calibrations = [{**k.as_dict(), "used_by_searches": k.source in used_sources,
                     "data": _value(gallery.calibration_data(k.id))
                     if k.source in used_sources else None}
                    for k in gallery.calibrations()]
    user_ids = {c.opened_by, c.closed_by, session.user_id,
                *(s["user_id"] for s in searches), *(d["reviewer"] for d in decisions),
                *(r["reviewer"] for r in reviews), *(e["recorded_by"] for e in evidence),
                *(e.user_id for e in events)}
    users = {}
    for uid in sorted(u for u in user_ids if u):
        u = accounts.user(gallery, uid)
        users[uid] = {"name": uid if u is None else u.display_name,
                      "role": None if u is None else u.role}
    summary = gallery.summary()
    doc = {
        "what": "FaceDesk case disclosure package",
        "banner": BANNER,
        "system": {"name": SYSTEM_NAME, "version": facedesk.__version__},
        "made": {"at": audit.now(), "by": session.user_id},
        "case": c.as_dict(),
        "gallery": {"id": gallery.gallery_id, "path": gallery.location,
                    "version_now": summary.version, "persons_now": summary.persons,
                    "photos_now": summary.photos, "faces_now": summary.faces,
                    "searched": [{"search_id": s["id"],
                                  "gallery_version": s.get("gallery_version"),
                                  "persons_searched": s.get("persons_searched"),
                                  "faces_searched": s.get("faces_searched")}
                                 for s in searches]},
        "engines": [{"id": e, "identity": gallery.engine_identity(e)} for e in engine_ids],
        "calibrations": calibrations,
        "calibration_sources": sorted(str(x) for x in used_sources if x),
        "rerun_new_persons": {str(k): sorted(v) for k, v in new.items()},
        "users": users,
        "searches": searches,
        "search_frames": frames,
        "decisions": decisions,
        "reviews": reviews,
        "evidence": evidence,
        "audit": [e.as_dict() for e in events],
        "audit_head": None if head is None else {"seq": head.seq, "at": head.at,
                                                 "hash": head.hash},
    }
    return Disclosure(doc, files)


# --- CSV --------------------------------------------------------------------------------------


def _cell(v: Any) -> object:
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return "" if v is None else v


def _table(rows: list[dict[str, Any]], first: tuple[str, ...] = ()) -> tuple[
        list[str], list[list[object]]]:
    """A CSV's header (the union of the rows' keys, `first` first) and its rows."""
    header = list(first)
    for r in rows:
        header += [k for k in r if k not in header]
    return header, [[_cell(r.get(k)) for k in header] for r in rows]


def csv_tables(doc: dict[str, Any]) -> dict[str, tuple[list[str], list[list[object]]]]:
    """The package's CSV files: name -> (header, rows)."""
    candidates = [{"search_id": s["id"], **c} for s in doc["searches"]
                  for c in (s.get("candidates") or [])]
    return {
        "searches.csv": _table(doc["searches"]),
        "candidates.csv": _table(candidates, ("search_id",)),
        "decisions.csv": _table(doc["decisions"]),
        "reviews.csv": _table(doc["reviews"]),
        "evidence.csv": _table(doc["evidence"]),
        "audit.csv": _table(doc["audit"]),
    }


# --- PDF --------------------------------------------------------------------------------------


def _text(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return str(v)


def _cut(text: str) -> str:
    """A value short enough to lay out on a page (the JSON file holds it whole)."""
    if len(text) <= PDF_MAX_CHARS:
        return text
    return (f"{text[:PDF_MAX_CHARS]}… [cut here: {len(text):,} characters in all; "
            f"{JSON_NAME} holds the full value]")


def _readable(column: str, v: Any) -> Any:
    """A stored JSON column in words where the PDF has a reading of it (the JSON file
    keeps it as stored): a search's filter, a decision's FISWG checklist."""
    if column == "filters" and isinstance(v, dict):
        return "; ".join([str(v.get("summary") or ""), *(
            f"left out: {lo.get('persons')} person(s), {lo.get('faces')} photo(s), "
            f"{lo.get('reason')}" for lo in v.get("left_out") or [])])
    if column == "checklist" and isinstance(v, dict):
        try:
            checklist = Checklist.from_dict(v)
        except FaceDeskError:
            return v
        return "; ".join([checklist.summary(), *(
            f"{label}: {', '.join(names)}" for label, names in checklist.grouped()
            if label != "Not judged")])
    return v


def _rows_of(record: dict[str, Any], leave_out: frozenset[str] = frozenset()
             ) -> list[tuple[str, Any]]:
    """A stored row's columns as the PDF lists them."""
    return [(k.replace("_", " ").capitalize(), _readable(k, v)) for k, v in record.items()
            if k not in leave_out]


def _who(doc: dict[str, Any], uid: Any) -> str:
    u = doc["users"].get(uid) if uid else None
    return "—" if not uid else str(uid) if u is None else f"{u['name']} ({uid})"


CANDIDATE_COLUMNS = ("Rank", "Person", "Distance", "Similarity", "FMR (95% interval)",
                     "Face id", "New")


def _candidate_cells(c: dict[str, Any], new: list[str] | None) -> list[str]:
    """A candidate's row; `new`: the persons a re-run showed first (None: not a re-run)."""
    fmr = c.get("fmr") or {}
    person = str(c.get("person_id"))
    if c.get("name") and c.get("name") != person:
        person = f"{c['name']} ({person})"
    low, high = (fmr.get("fmr_95") or [None, None])[:2]
    rate = (f"{fmr['fmr']:.2g} ({low:.2g}–{high:.2g})" if low is not None else
            f"{fmr['fmr']:.2g}") if fmr.get("fmr") is not None else "no calibration"
    return [str(c.get("rank")), person, f"{c.get('distance', 0):.4f}",
            f"{c.get('similarity', 0):.4f}", rate, _text(c.get("face_id")),
            "—" if new is None else "new" if c.get("person_id") in new else "seen before"]


def write_pdf(doc: dict[str, Any], path: Path, files: dict[str, str]) -> None:
    """The package's PDF: the banner on every page, the system, gallery, engines and
    calibrations, the case, then every search (every stored column, its candidate
    list, its decisions with their second reviews), the audit events with the head."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    f = fonts()
    red = colors.HexColor("#b00000")
    base = ParagraphStyle("d-base", fontName=f.regular, fontSize=9, leading=11.5)
    small = ParagraphStyle("d-small", parent=base, fontSize=7.5, leading=9.5)
    cell = ParagraphStyle("d-cell", parent=base, fontSize=7.5, leading=9.3)
    cell_bold = ParagraphStyle("d-cellb", parent=cell, fontName=f.bold)
    mono = ParagraphStyle("d-mono", parent=cell, fontName=f.mono, fontSize=6.5, leading=8.3)
    h1 = ParagraphStyle("d-h1", parent=base, fontName=f.bold, fontSize=15, leading=18,
                        spaceAfter=3)
    h2 = ParagraphStyle("d-h2", parent=base, fontName=f.bold, fontSize=11.5, leading=14,
                        spaceBefore=9, spaceAfter=3)
    h3 = ParagraphStyle("d-h3", parent=base, fontName=f.bold, fontSize=9.5, leading=12,
                        spaceBefore=5, spaceAfter=2)
    banner = ParagraphStyle("d-banner", parent=base, fontName=f.bold, fontSize=12.5,
                            leading=16, textColor=red, alignment=TA_CENTER)
    page_w = A4[0]
    margin, top, bottom = 15 * mm, 14 * mm, 30 * mm
    width = page_w - 2 * margin
    grid = pdf_grid(padding=1.5)
    grey = colors.HexColor("#eeeeee")

    def p(text: object, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(markup(text, f), style)

    def kv(rows: list[tuple[str, Any]], hashes: frozenset[str] = frozenset()) -> Table:
        data = [[p(k, cell_bold), p(_cut(_text(v)), mono if k in hashes else cell)]
                for k, v in rows]
        t = Table(data, colWidths=[0.27 * width, 0.73 * width], splitInRow=1)
        t.setStyle(TableStyle([*grid, ("BACKGROUND", (0, 0), (0, -1), grey)]))
        return t

    def table(header: tuple[str, ...], rows: list[list[str]], widths: list[float],
              mono_cols: frozenset[int] = frozenset()) -> Table:
        data = [[p(h, cell_bold) for h in header]]
        data += [[p(_cut(v), mono if i in mono_cols else cell) for i, v in enumerate(r)]
                 for r in rows]
        t = Table(data, colWidths=[w * width for w in widths], repeatRows=1, splitInRow=1)
        t.setStyle(TableStyle([*grid, ("BACKGROUND", (0, 0), (-1, 0), grey)]))
        return t

    c = doc["case"]
    g = doc["gallery"]
    head = doc["audit_head"]
    n_s = len(doc["searches"])
    empty = sum(1 for s in doc["searches"] if not s.get("candidates"))
    title = f"Disclosure package — case {c['number']}"
    made = (f"Made {doc['made']['at']} by {_who(doc, doc['made']['by'])} with "
            f"{doc['system']['name']} {doc['system']['version']}.")
    banner_box = banner_table(p(BANNER, banner), width)
    story: list[Any] = [
        banner_box, Spacer(1, 5), p(title, h1), p(made),
        p(f"Every search of this case is listed: {n_s} search"
          f"{'' if n_s == 1 else 'es'}, {empty} of them with no candidate within the "
          "threshold. Each candidate list is as the search showed it. The JSON and CSV "
          "files of this package hold every stored value in full; the manifest lists "
          "every file's SHA-256.", small),
        p("The system", h2),
        kv([("System", f"{doc['system']['name']} {doc['system']['version']}"),
            ("Gallery id", g["id"]), ("Gallery file", g["path"]),
            ("Gallery now", f"version {g['version_now']}: {g['persons_now']:,} persons, "
                            f"{g['photos_now']:,} photos, {g['faces_now']:,} faces")],
           frozenset({"Gallery id"})),
    ]
    for e in doc["engines"]:
        identity = [(f"Identity: {k}" if not isinstance(v, dict) else f"Identity: {k} / {kk}",
                     v if not isinstance(v, dict) else vv)
                    for k, v in (e["identity"] or {}).items()
                    for kk, vv in (v.items() if isinstance(v, dict) else [("", v)])]
        story += [p(f"Engine {e['id']}", h3),
                  kv([("Engine id", e["id"]), *identity],
                     frozenset({"Engine id", *(k for k, _ in identity if " / " in k)}))]
    stored = {k["source"]: k for k in doc["calibrations"] if k.get("used_by_searches")}
    story.append(p("Calibration or reference used", h2))
    if doc["calibration_sources"]:
        story.append(table(
            ("Source (as each search recorded it)", "Where it is", "Engine", "Impostor pairs",
             "Genuine pairs"),
            [[src, f"stored calibration {k['id']} ({k['kind']}, {k['created_at']})"
              if (k := stored.get(src)) else "the reference shipped with this FaceDesk "
              "version (not a table of the gallery)",
              _text(k and k.get("engine_id")), _text(k and k.get("impostor_pairs")),
              _text(k and k.get("genuine_pairs"))] for src in doc["calibration_sources"]],
            [0.36, 0.26, 0.16, 0.11, 0.11], frozenset({2})))
    else:
        story.append(p("No search of this case used a calibration: its distances cannot "
                       "be read as false match rates.", small))
    story += [p("The case", h2), kv([(k.replace("_", " ").capitalize(), v)
                                     for k, v in c.items()])]

    decisions_of: dict[Any, list[dict[str, Any]]] = {}
    for d in doc["decisions"]:
        decisions_of.setdefault(d.get("search_id"), []).append(d)
    reviews_of = {r.get("decision_id"): r for r in doc["reviews"]}
    evidence_of: dict[Any, list[dict[str, Any]]] = {}
    for e in doc["evidence"]:
        evidence_of.setdefault(e.get("decision_id"), []).append(e)
    for s in doc["searches"]:
        cands = s.get("candidates") or []
        rows = _rows_of(s, _SEARCH_SHOWN_ELSEWHERE)
        image = s.get("probe_image")
        rows.append(("Probe image", f"{image['file']} (SHA-256 {image['sha256']})"
                     if isinstance(image, dict) else "not stored (purged)"))
        story += [p(f"Search {s['id']} — {s.get('probe_name')} by "
                    f"{_who(doc, s.get('user_id'))}, {s.get('created_at')}", h2),
                  kv(rows, frozenset({"Probe sha256", "Engine id"}))]
        again = (s.get("provenance") or {}).get("rerun") \
            if isinstance(s.get("provenance"), dict) else None
        if isinstance(again, dict):
            story.append(p(f"A re-run of search {again.get('of_search')}'s probe against the "
                           f"faces imported since (face ids {again.get('after_face_id')} + 1 "
                           f"to {again.get('through_face_id')}); \"new\": a candidate no "
                           "earlier search of this probe in the case showed.", small))
        if cands:
            story += [p(f"Candidates shown ({len(cands)})", h3),
                      table(CANDIDATE_COLUMNS,
                            [_candidate_cells(x, doc["rerun_new_persons"].get(str(s["id"])))
                             for x in cands],
                            [0.06, 0.32, 0.1, 0.1, 0.2, 0.08, 0.14])]
        else:
            story.append(p("No candidate within the threshold: this search showed no "
                           "candidate.", h3))
        for d in decisions_of.get(s["id"], []):
            story += [p(f"Decision {d['id']} on candidate {d.get('rank')} "
                        f"({d.get('person_id')}): {d.get('decision')} — {d.get('status')}",
                        h3),
                      kv(_rows_of(d), frozenset({"Probe sha256", "Engine id"}))]
            r = reviews_of.get(d["id"])
            if r is not None:
                story += [p(f"Second review {r['id']}: {r.get('verdict')}", h3),
                          kv(_rows_of(r))]
            found = evidence_of.get(d["id"], [])
            if found:
                story += [p(f"Independent evidence for decision {d['id']}", h3),
                          table(("Recorded", "By", "Evidence"),
                                [[str(e.get("created_at")), _who(doc, e.get("recorded_by")),
                                  str(e.get("text"))] for e in found],
                                [0.22, 0.2, 0.58])]
            elif d.get("status") == "confirmed":
                story.append(p(f"Independent evidence for decision {d['id']}: "
                               f"{cases.NO_EVIDENCE_BANNER}", small))

    events = [[str(e["seq"]), str(e["at"]), _who(doc, e.get("user_id")),
               audit.KINDS.get(e["kind"], e["kind"]), str(e["hash"])] for e in doc["audit"]]
    head_text = ("the audit log is empty" if head is None else
                 f"event {head['seq']} ({head['at']}), hash {head['hash']}")
    story += [KeepTogether([p("The case's audit events", h2),
                            p(f"Audit log head when this package was made: {head_text}. "
                              "The export of this package is logged as a later \"export\" "
                              "event carrying the manifest's SHA-256.", small)]),
              table(("#", "Time", "User", "Event", "SHA-256 hash"), events,
                    [0.05, 0.22, 0.17, 0.14, 0.42], frozenset({4}))]
    if files:
        story += [p("Files of this package", h2),
                  table(("File", "SHA-256"), [[k, v] for k, v in files.items()],
                        [0.4, 0.6], frozenset({1})),
                  p("This PDF's own SHA-256 is in manifest.json and SHA256SUMS.", small)]

    footer_text = Paragraph(markup(f"{title} · {made}", f), small)

    footer = page_footer(footer_text, left_right=margin, bottom=bottom, width=width)

    SimpleDocTemplate(str(path), pagesize=A4, leftMargin=margin, rightMargin=margin,
                      topMargin=top, bottomMargin=bottom, title=title, subject=BANNER,
                      author=SYSTEM_NAME, creator=SYSTEM_NAME
                      ).build(story, onFirstPage=footer, onLaterPages=footer)


# --- the package ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisclosurePackage:
    folder: Path
    files: dict[str, str]  # name (relative to the folder) -> SHA-256
    manifest_sha256: str
    searches: int
    decisions: int
    events: int

    def as_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "files": dict(self.files),
                "manifest_sha256": self.manifest_sha256, "searches": self.searches,
                "decisions": self.decisions, "audit_events": self.events}


@dataclass(frozen=True)
class DisclosureProgress:
    done: int
    total: int
    step: str
    result: DisclosurePackage | None = None


STEPS = ("reading the case", "writing the JSON and CSV files", "writing the probe images",
         "writing the PDF", "writing the manifest", "logging the export")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def disclose_steps(session: Session, case: int | str, out: Path, *,
                   cancel: CancelToken | None = None) -> Iterator[DisclosureProgress]:
    """Write case `case`'s disclosure package into a new folder in `out`, yielding a
    progress event per step; the last one carries the `DisclosurePackage`. Cancelled,
    nothing is left behind and nothing is logged."""
    out = Path(out)
    yield DisclosureProgress(0, len(STEPS), STEPS[0])
    rec = disclosure_record(session, case)
    doc = rec.doc
    number = str(doc["case"]["number"])
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = out / f"disclosure-case-{safe_name(number)}-{stamp}"
    if out.exists() and not out.is_dir():
        raise FaceDeskError(f"{out} is a file: choose a folder to write the package in")
    if final.exists():
        raise FaceDeskError(f"{final} exists already: wait a second and export again")
    tmp = out / f".{final.name}.{os.getpid()}.tmp"
    try:
        private.make_dirs(tmp)
        hashes: dict[str, str] = {}

        def stopped() -> bool:
            return cancel is not None and cancel.cancelled

        def done(i: int) -> DisclosureProgress:
            return DisclosureProgress(i, len(STEPS), STEPS[min(i, len(STEPS) - 1)])

        yield done(1)
        private.write_text(tmp / JSON_NAME, json.dumps(doc, ensure_ascii=False, indent=1,
                                                       sort_keys=True, default=str) + "\n")
        for name, (header, rows) in csv_tables(doc).items():
            csvsafe.write_csv(tmp / name, header, rows)
        if stopped():
            return
        yield done(2)
        for name, data in rec.files.items():
            private.write_bytes(tmp / name, data)
        for p in sorted(tmp.rglob("*")):
            if p.is_file():
                hashes[p.relative_to(tmp).as_posix()] = _sha(p)
        if stopped():
            return
        yield done(3)
        with private.owner_only():
            write_pdf(doc, tmp / PDF_NAME, hashes)
        private.restrict(tmp / PDF_NAME)
        hashes[PDF_NAME] = _sha(tmp / PDF_NAME)
        if stopped():
            return
        yield done(4)
        files = dict(sorted(hashes.items()))
        manifest = {"what": doc["what"], "case": number, "made": doc["made"],
                    "system": doc["system"], "algorithm": "sha256",
                    "files": [{"name": k, "sha256": v, "bytes": (tmp / k).stat().st_size}
                              for k, v in files.items()]}
        private.write_text(tmp / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
        private.write_text(tmp / SUMS_NAME, "".join(f"{v}  {k}\n" for k, v in files.items()))
        manifest_sha = _sha(tmp / MANIFEST_NAME)
        if stopped():
            return
        yield done(5)
        audit.record(session.gallery, "export", {
            "what": "disclosure package", "case": number, "folder": final.name,
            "manifest_sha256": manifest_sha, "sums_sha256": _sha(tmp / SUMS_NAME),
            "files": len(files) + 2, "searches": len(doc["searches"]),
            "decisions": len(doc["decisions"]),
            "audit_head": doc["audit_head"],
        }, user_id=session.user_id, case_id=int(doc["case"]["id"]))
        os.replace(tmp, final)
    except OSError as exc:
        raise FaceDeskError(f"could not write the disclosure package in {out}: "
                            f"{exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    all_files = {**files, MANIFEST_NAME: manifest_sha, SUMS_NAME: _sha(final / SUMS_NAME)}
    yield DisclosureProgress(len(STEPS), len(STEPS), "done", DisclosurePackage(
        final, all_files, manifest_sha, len(doc["searches"]), len(doc["decisions"]),
        len(doc["audit"])))


def disclose(session: Session, case: int | str, out: Path) -> DisclosurePackage:
    """`disclose_steps` run to its end."""
    result = run_to_end(disclose_steps(session, case, out))
    assert result is not None  # nothing cancels it
    return result
