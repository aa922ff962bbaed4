"""The lead sheet: one confirmed possible lead, printed for the case file.

A lead sheet says, first and on every page, that it is an investigative lead only, not
probable cause and not an identification. It shows the probe image beside the chosen
candidate's face, the candidate's distance with its false match rate and expected
look-alikes (or that there is no calibration), the whole candidate list that was shown,
the engine, gallery and search settings, the probe's quality warnings, who decided and
who confirmed it with their rationales, the case, and the audit hashes of the events
involved with the audit head when the sheet was made.

Two formats from one record (`cases.lead_record(...).as_dict()`): a self-contained HTML page
(`render_html`) and a PDF (`write_pdf`, reportlab, DejaVu Sans so that names in any
alphabet print; Chinese, Japanese and Korean characters, which DejaVu lacks, fall back to
a CJK font of the system or to reportlab's standard Asian fonts). `export_lead_sheet`
writes the files and logs one audit "export" event with each file's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from facedesk.app import accounts, audit, cases
from facedesk.app.accounts import Session
from facedesk.domain import private
from facedesk.domain.fiswg import Checklist
from facedesk.domain.imaging import load_image
from facedesk.errors import FaceDeskError, LeadError

BANNER = "Investigative lead only — not probable cause, not an identification"
NO_CALIBRATION = ("no calibration for this engine: distances cannot be read as false "
                  "match rates")
NO_SECOND_REVIEW = ("no second review: the two-person rule was off when this lead was "
                    "recorded")
PROBE_PURGED = ("The probe image is no longer stored (purged under the retention rule); "
                "its SHA-256 is given below.")
FORMATS = ("pdf", "html")

#: the largest side of an image embedded in a sheet, in pixels
IMAGE_MAX_SIDE = 900


# --- the record, in words ---------------------------------------------------------------------


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _sig(value: Any) -> str:
    if value is None:
        return "—"
    try:
        return f"{float(value):.3g}"
    except (TypeError, ValueError):
        return str(value)


def fmr_text(cand: dict[str, Any]) -> str:
    """A candidate's false match rate with its 95 % interval, or a dash (no calibration)."""
    fmr = cand.get("fmr")
    if not fmr:
        return "—"
    low, high = [*(fmr.get("fmr_95") or []), None, None][:2]
    return f"{_sig(fmr.get('fmr'))} (95%: {_sig(low)}–{_sig(high)})"


def _who(record: dict[str, Any], user_id: Any) -> str:
    if user_id is None:
        return "—"
    return str(record.get("users", {}).get(user_id, user_id))


def _yes(value: Any) -> str:
    return "yes" if value else "no"


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, str]]:
    if isinstance(value, dict):
        for k in sorted(value):
            yield from _flatten(f"{prefix} / {k}" if prefix else str(k), value[k])
    elif isinstance(value, list | tuple):
        yield prefix, ", ".join(str(v) for v in value)
    else:
        yield prefix, str(value)


@dataclass(frozen=True)
class Section:
    title: str
    rows: list[tuple[str, str]]  # label, value
    mono: frozenset[str] = frozenset()  # labels whose values are hashes or ids
    note: str = ""


def _person(cand: dict[str, Any]) -> str:
    name = cand.get("name")
    pid = str(cand.get("person_id"))
    return pid if not name or name == pid else f"{name} ({pid})"


def title(record: dict[str, Any]) -> str:
    return (f"Lead sheet — case {record['case']['number']}, "
            f"decision {record['decision']['id']}")


def summary(record: dict[str, Any]) -> str:
    cand = record["candidate"]
    return (f"Confirmed possible lead: candidate {cand['rank']} of search "
            f"{record['search']['id']}, {_person(cand)}.")


def chosen_section(record: dict[str, Any]) -> Section:
    cand = record["candidate"]
    search = record["search"]
    photo = cand.get("photo") or {}
    source = search.get("calibration_source")
    rows = [
        ("Candidate", f"rank {cand['rank']}: {_person(cand)}"),
        ("Distance", f"{_num(cand.get('distance'))} (euclidean, lower = more alike)"),
        ("Similarity", f"{_num(cand.get('similarity'))} (cosine; not a probability)"),
        ("Look-alikes for this probe", probe_lookalikes_text(cand)),
        ("Look-alikes at the threshold", threshold_lookalikes_text(search)),
        ("False match rate", fmr_text(cand) if source else NO_CALIBRATION),
        ("Expected look-alikes (reference table)",
         _sig(cand.get("expected_lookalikes")) if source else NO_CALIBRATION),
        ("Calibration", str(source) if source else NO_CALIBRATION),
        ("Gallery photo", str(photo.get("path", "—"))),
        ("Photo SHA-256", str(photo.get("sha256", "—"))),
        ("Photos of this person", str(cand.get("photos_of_person", "—"))),
    ]
    note = ("Look-alikes for this probe: how many different persons of this gallery are "
            "expected to be at least this close to this probe, estimated from its distances "
            "to every person searched, with a 90% band (the figure to read). "
            + ("Expected look-alikes (reference table) = persons searched × FMR of the "
               "calibration: the same for every probe, kept for reference." if source
               else ""))
    return Section("The chosen candidate", rows, frozenset({"Photo SHA-256"}), note)


def probe_lookalikes_text(cand: dict[str, Any]) -> str:
    """A candidate's probe-specific look-alikes with its band, or a dash (a search made
    before they were estimated)."""
    looks = cand.get("lookalikes")
    if not looks:
        return "—"
    return f"{_sig(looks.get('expected'))} (90%: {_sig(looks.get('low'))}–" \
           f"{_sig(looks.get('high'))})"


def threshold_lookalikes_text(search: dict[str, Any]) -> str:
    """The probe-specific look-alikes at the administrator's threshold, with the method."""
    at = (search.get("lookalikes") or {}).get("at_threshold")
    if not at:
        return "—"
    return (f"{_sig(at.get('expected'))} (90%: {_sig(at.get('low'))}–"
            f"{_sig(at.get('high'))}) at distance {_num(at.get('distance'), 2)}; method "
            f"{search['lookalikes'].get('method')}, "
            f"{search['lookalikes'].get('persons')} persons")


CANDIDATE_HEADER = ("", "Rank", "Person", "Distance", "Similarity",
                    "Look-alikes for this probe (90%)", "FMR (95% interval)",
                    "Ref. look-alikes")


def candidate_rows(record: dict[str, Any]) -> list[tuple[bool, list[str]]]:
    chosen = record["candidate"]["rank"]
    return [(c["rank"] == chosen,
             ["◆ LEAD" if c["rank"] == chosen else "", str(c["rank"]), _person(c),
              _num(c.get("distance")), _num(c.get("similarity")), probe_lookalikes_text(c),
              fmr_text(c), _sig(c.get("expected_lookalikes"))])
            for c in record["candidates"]]


def candidates_note(record: dict[str, Any]) -> str:
    s = record["search"]
    n = len(record["candidates"])
    shown = f"{n} candidate{'s' if n != 1 else ''}"
    calib = (f"FMR from: {s['calibration_source']}." if s.get("calibration_source")
             else f"{NO_CALIBRATION[0].upper()}{NO_CALIBRATION[1:]}.")
    return (f"All {shown} shown to the analyst (distance at most {_num(s.get('threshold'), 2)}, "
            f"at most {s.get('top_k')}), nearest first; the lead is marked ◆. {calib}")


def search_section(record: dict[str, Any]) -> Section:
    s, g, eng = record["search"], record["gallery"], record["engine"]
    rows = [
        ("Search", f"{s['id']}, made {s.get('created_at')} by {_who(record, s.get('user_id'))}"),
        ("Engine id", str(eng.get("id"))),
    ]
    identity = eng.get("identity") or {}
    rows += [(f"Engine identity: {k}", v) for k, v in _flatten("", identity)] or [
        ("Engine identity", "not stored in this gallery")]
    rows += [
        ("Gallery id", str(g.get("id"))),
        ("Gallery version", str(g.get("version"))),
        ("Persons searched", str(g.get("persons_searched"))),
        ("Faces searched", str(g.get("faces_searched"))),
        ("Threshold", _num(s.get("threshold"), 3)),
        ("Top-K", str(s.get("top_k"))),
    ]
    mono = {"Engine id", "Gallery id"} | {
        label for label, value in rows
        if re.fullmatch(r"[0-9a-f]{32,}", value)}
    return Section("Engine, gallery and search settings", rows, frozenset(mono))


def probe_section(record: dict[str, Any]) -> Section:
    s = record["search"]
    q = s.get("quality") or {}
    warnings = list(q.get("warnings") or [])
    figures = q.get("figures") or {}
    rows = [
        ("Probe file", str(s.get("probe_name"))),
        ("Probe SHA-256", str(s.get("probe_sha256"))),
        ("Quality warnings", "; ".join(warnings) if warnings else "none"),
        ("Face used", f"face {_face_index(q)} of {q.get('faces_in_probe', '—')} found in the "
                      f"probe, box (top, right, bottom, left) {s.get('probe_box')}"),
        ("Detector", str(q.get("detector", "—"))),
        ("Quality figures", ", ".join(f"{k.replace('_', ' ')} {_sig(v)}"
                                      for k, v in sorted(figures.items())) or "—"),
    ]
    if record.get("probe_image") is None:
        rows.append(("Probe image", f"not stored: purged{_purged_at(s)}"))
    rows += clip_rows(s.get("provenance"))
    return Section("The probe", rows, frozenset({"Probe SHA-256", "Clip SHA-256"}))


def clip_rows(prov: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Where a probe taken from a video came from (facedesk.domain.clips provenance)."""
    if not prov or prov.get("kind") != "clip":
        return []
    clip = prov.get("clip") or {}
    size = clip.get("size_bytes")
    rows = [
        ("Source clip", f"{clip.get('name')} ({_sig(size / 2**20) if size else '—'} MB, "
                        f"{clip.get('container')}, {clip.get('codec')}, "
                        f"{clip.get('width')}x{clip.get('height')})"),
        ("Clip SHA-256", str(clip.get("sha256"))),
        ("Clip reading", str(prov.get("read", "—"))),
        ("Searched with", (f"the fused template of {len(prov.get('frames') or [])} frames "
                           "(mean of their normalised encodings)") if prov.get("fused")
         else "one frame"),
    ]
    if prov.get("track") is not None:
        rows.append(("Face track", str(prov["track"])))
    for i, f in enumerate(prov.get("frames") or [], start=1):
        adj = "; ".join(f"{a.get('op')} {a.get('value')}" for a in f.get("adjustments") or [])
        rows.append((f"Frame {i}", f"frame {f.get('frame')} at {f.get('timecode')}, PNG "
                                   f"SHA-256 {f.get('png_sha256')}; changes made: "
                                   f"{adj or 'none'}"))
    return rows


def _face_index(q: dict[str, Any]) -> str:
    idx = q.get("face_index")
    return "—" if idx is None else str(int(idx) + 1)


def _purged_at(s: dict[str, Any]) -> str:
    return f" on {s['purged_at']}" if s.get("purged_at") else ""


def people_section(record: dict[str, Any]) -> Section:
    d, r = record["decision"], record.get("review")
    rows = [
        ("Analyst", _who(record, d.get("reviewer"))),
        ("Decision recorded", str(d.get("created_at"))),
        ("Analyst's rationale", str(d.get("rationale"))),
    ]
    if d.get("first_impression"):
        rows.append(("First impression", str(d["first_impression"])))
    if r:
        rows += [
            ("Supervisor", _who(record, r.get("reviewer"))),
            ("Verdict", f"{cases.VERDICTS.get(r.get('verdict', ''), r.get('verdict'))}"
                        f"{' (blind review)' if r.get('blind') else ''}"),
            ("Second review recorded", str(r.get("created_at"))),
            ("Supervisor's rationale", str(r.get("rationale"))),
        ]
    else:
        rows.append(("Second review", NO_SECOND_REVIEW))
    return Section("Decision and second review", rows)


def checklist_section(record: dict[str, Any]) -> Section:
    """The analyst's FISWG feature-by-feature comparison: every component's judgement
    with its note (a dissimilarity of a possible lead with its explanation)."""
    checklist = Checklist.from_dict(record["decision"].get("checklist") or {})
    if not checklist.features:
        return Section("Feature-by-feature comparison (FISWG)",
                       [("Checklist", "none recorded with this decision")])
    rows = [(label, f"{value} — {note}" if note else value)
            for label, value, note in checklist.rows()]
    return Section("Feature-by-feature comparison (FISWG)", rows,
                   note=f"{checklist.summary()}. A dissimilarity's note explains it: an "
                        "unexplained dissimilarity excludes (FISWG).")


def evidence_section(record: dict[str, Any]) -> Section:
    found = record.get("evidence") or []
    if not found:
        return Section("Independent evidence", [("Evidence", cases.NO_EVIDENCE_BANNER)])
    return Section("Independent evidence", [
        (f"Item {i}", f"{e['text']} (recorded by {_who(record, e['recorded_by'])} on "
                      f"{e['created_at']})") for i, e in enumerate(found, start=1)],
        note="Evidence obtained independently of the face search, recorded before this "
             "sheet was made.")


def banner_lines(record: dict[str, Any]) -> list[str]:
    """The banner at the top of the sheet: the lead-only warning, and while no
    independent evidence is recorded, that there is none yet (Detroit's policy)."""
    return [BANNER] + ([] if record.get("evidence") else [cases.NO_EVIDENCE_BANNER])


def case_section(record: dict[str, Any]) -> Section:
    c = record["case"]
    rows = [
        ("Case number", str(c.get("number"))),
        ("Purpose", str(c.get("purpose"))),
        ("Detail", str(c.get("purpose_detail") or "—")),
        ("Opened by", f"{_who(record, c.get('opened_by'))} on {c.get('opened_at')}"),
        ("State", "open" if not c.get("closed_at") else
         f"closed on {c['closed_at']} by {_who(record, c.get('closed_by'))}"),
    ]
    if c.get("training"):
        rows.append(("Training", "a training case: never a case result"))
    return Section("The case", rows)


AUDIT_HEADER = ("Event", "Time", "SHA-256 hash")


def audit_rows(record: dict[str, Any]) -> list[list[str]]:
    return [[f"{e['seq']}: {audit.KINDS.get(e['kind'], e['kind'])}", str(e["at"]),
             str(e["hash"])] for e in record.get("audit", [])]


def audit_note(record: dict[str, Any]) -> str:
    head = record.get("audit_head")
    at = (record.get("export") or {}).get("at")
    when = f" ({at})" if at else ""
    if head is None:
        return f"Audit log head when this sheet was made{when}: the log is empty."
    return (f"Audit log head when this sheet was made{when}: event {head['seq']}, "
            f"hash {head['hash']}. The export of this sheet is logged as a later "
            "\"export\" event that carries each file's SHA-256.")


def sections(record: dict[str, Any]) -> list[Section]:
    return [chosen_section(record), search_section(record), probe_section(record),
            people_section(record), checklist_section(record), evidence_section(record),
            case_section(record)]


def made_line(record: dict[str, Any]) -> str:
    exp = record.get("export") or {}
    if not exp:
        return "FaceDesk lead sheet."
    return f"FaceDesk lead sheet, made {exp.get('at')} by {exp.get('by')}."


# --- images ------------------------------------------------------------------------------------


def _jpeg(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=90)
    return out.getvalue()


def probe_picture(record: dict[str, Any]) -> bytes | None:
    """The probe image with the searched face outlined, as JPEG (None: purged, or it can
    no longer be decoded)."""
    data = record.get("probe_image")
    if not data:
        return None
    try:
        rgb = load_image(bytes(data), name="probe").rgb
    except FaceDeskError:
        return None
    img = Image.fromarray(rgb)
    box = record["search"].get("probe_box")
    if isinstance(box, list | tuple) and len(box) == 4:
        top, right, bottom, left = (int(v) for v in box)
        width = max(2, round(max(img.size) / 200))
        ImageDraw.Draw(img).rectangle((left, top, right, bottom), outline=(255, 0, 160),
                                      width=width)
    img.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE), Image.Resampling.LANCZOS)
    return _jpeg(img)


def crop_picture(record: dict[str, Any]) -> bytes | None:
    data = record.get("candidate_crop")
    if not data:
        return None
    try:
        with Image.open(io.BytesIO(bytes(data))) as img:
            img.load()
            return bytes(data) if img.format == "JPEG" else _jpeg(img)
    except (OSError, ValueError):
        return None


def _size(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as img:
        return img.size


def probe_missing_text(record: dict[str, Any]) -> str:
    if record.get("probe_image") is None:
        return PROBE_PURGED
    return "The stored probe image could not be decoded; its SHA-256 is given below."


CROP_MISSING = "No face crop of this candidate is stored in the gallery."


# --- HTML --------------------------------------------------------------------------------------


_CSS = """
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Segoe UI", Arial, "Noto Sans", "Noto Sans CJK SC",
       "Microsoft YaHei", sans-serif; font-size: 10.5pt; color: #111; margin: 0 auto;
       max-width: 190mm; padding: 10mm 8mm 18mm; line-height: 1.35; }
.banner { border: 3px solid #b00; color: #b00; font-weight: bold; font-size: 15pt;
          text-align: center; padding: 8px 10px; margin: 0 0 10px; }
h1 { font-size: 16pt; margin: 6px 0 2px; }
h2 { font-size: 12.5pt; margin: 16px 0 6px; border-bottom: 1px solid #999;
     padding-bottom: 2px; }
.sub { color: #333; margin: 0 0 8px; }
.images { display: flex; gap: 6mm; margin: 8px 0; }
.images figure { flex: 1 1 0; margin: 0; text-align: center; border: 1px solid #ccc;
                 padding: 4px; }
.images img { width: 100%; max-height: 85mm; object-fit: contain; display: block;
              image-rendering: auto; }
.images .missing { height: 40mm; display: flex; align-items: center;
                   justify-content: center; padding: 6px; color: #b00;
                   font-weight: bold; }
figcaption { font-size: 9pt; color: #333; margin-top: 3px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 6px; }
th, td { border: 1px solid #bbb; padding: 3px 5px; vertical-align: top; text-align: left;
         font-size: 9.5pt; overflow-wrap: anywhere; }
th { background: #eee; }
table.kv th { width: 32%; font-weight: bold; }
tr.lead td { background: #fff3c4; font-weight: bold; }
.mono { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 8.5pt;
        overflow-wrap: anywhere; }
.note { font-size: 9pt; color: #333; margin: 2px 0 6px; }
footer { border-top: 2px solid #b00; color: #b00; font-weight: bold; font-size: 9pt;
         padding-top: 3px; margin-top: 14px; text-align: center; }
/* the page is one table whose footer browsers repeat at the foot of every printed page */
table.page, table.page > tbody > tr > td, table.page > tfoot > tr > td {
  border: none; padding: 0; margin: 0; font-size: inherit; }
table.page > tfoot { display: table-footer-group; }
@media print {
  body { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .images, tr, table.kv { break-inside: avoid; page-break-inside: avoid; }
  @page { margin: 14mm 12mm; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _img_html(data: bytes | None, alt: str, caption: str, missing: str) -> str:
    if data is None:
        return (f'<figure><div class="missing">{_e(missing)}</div>'
                f"<figcaption>{_e(caption)}</figcaption></figure>")
    uri = f"data:image/jpeg;base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<figure><img src="{uri}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _section_html(sec: Section) -> str:
    rows = "".join(
        f'<tr><th>{_e(label)}</th><td{" class=mono" if label in sec.mono else ""}>'
        f"{_e(value)}</td></tr>" for label, value in sec.rows)
    note = f'<p class="note">{_e(sec.note)}</p>' if sec.note else ""
    return f'<h2>{_e(sec.title)}</h2>\n<table class="kv">{rows}</table>{note}\n'


def image_captions(record: dict[str, Any]) -> tuple[str, str]:
    s, cand = record["search"], record["candidate"]
    return (f"Probe: {s.get('probe_name')} (the face searched is outlined)",
            f"Candidate {cand['rank']}: {_person(cand)}, distance {_num(cand.get('distance'))}")


def render_html(record: dict[str, Any]) -> str:
    """The lead sheet as one self-contained HTML page (images inline, CSS inline)."""
    probe_cap, crop_cap = image_captions(record)
    chosen, search, probe, people, checklist, found, case = sections(record)
    cand_rows = "".join(
        f'<tr{" class=lead" if lead else ""}>' + "".join(f"<td>{_e(v)}</td>" for v in cells)
        + "</tr>" for lead, cells in candidate_rows(record))
    cand_table = ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in CANDIDATE_HEADER)
                  + f"</tr>{cand_rows}</table>")
    audit_table = ("<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in AUDIT_HEADER) + "</tr>"
                   + "".join("<tr>" + "".join(
                       f'<td{" class=mono" if i == 2 else ""}>{_e(v)}</td>'
                       for i, v in enumerate(row)) + "</tr>" for row in audit_rows(record))
                   + "</table>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_e(title(record))}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        '<table class="page"><tbody><tr><td>\n'
        + "".join(f'<div class="banner">{_e(t)}</div>\n' for t in banner_lines(record))
        + f"<h1>{_e(title(record))}</h1>\n"
        f'<p class="sub">{_e(summary(record))} {_e(made_line(record))}</p>\n'
        '<div class="images">'
        + _img_html(probe_picture(record), "probe image", probe_cap, probe_missing_text(record))
        + _img_html(crop_picture(record), "candidate face", crop_cap, CROP_MISSING)
        + "</div>\n"
        + _section_html(chosen)
        + f"<h2>Every candidate shown</h2>\n<p class=\"note\">{_e(candidates_note(record))}</p>"
        + cand_table + "\n"
        + _section_html(search) + _section_html(probe) + _section_html(people)
        + _section_html(checklist) + _section_html(found) + _section_html(case)
        + f"<h2>Audit</h2>\n{audit_table}<p class=\"note\">{_e(audit_note(record))}</p>\n"
        + "</td></tr></tbody>\n<tfoot><tr><td>"
        + f"<footer>{_e(BANNER)} · {_e(title(record))}</footer>"
        + "</td></tr></tfoot></table>\n</body>\n</html>\n"
    )


# --- PDF ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    mono: str
    covers: Callable[[str], bool]  # whether the regular font has a glyph for a character


@lru_cache(maxsize=1)
def fonts() -> Fonts:
    """Register DejaVu Sans (matplotlib's copy) with reportlab; Helvetica if it is missing."""
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    try:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        regular = TTFont("DejaVuSans", str(folder / "DejaVuSans.ttf"))
        bold = TTFont("DejaVuSans-Bold", str(folder / "DejaVuSans-Bold.ttf"))
        mono = TTFont("DejaVuSansMono", str(folder / "DejaVuSansMono.ttf"))
    except (ImportError, OSError, TTFError):
        return Fonts("Helvetica", "Helvetica-Bold", "Courier", lambda ch: ord(ch) < 256)
    for f in (regular, bold, mono):
        pdfmetrics.registerFont(f)
    addMapping("DejaVuSans", 0, 0, "DejaVuSans")  # <b> in a paragraph: the bold face
    addMapping("DejaVuSans", 1, 0, "DejaVuSans-Bold")
    addMapping("DejaVuSans", 0, 1, "DejaVuSans")
    addMapping("DejaVuSans", 1, 1, "DejaVuSans-Bold")
    glyphs = frozenset(regular.face.charToGlyph)
    return Fonts("DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono",
                 lambda ch: ord(ch) in glyphs)


#: CJK fonts with TrueType outlines that reportlab can embed, where systems keep them
SYSTEM_CJK_FONTS = (
    "C:/Windows/Fonts/msyh.ttc", "C:/Windows/Fonts/simsun.ttc", "C:/Windows/Fonts/malgun.ttf",
    "C:/Windows/Fonts/msgothic.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf", "/Library/Fonts/Arial Unicode.ttf",
)


@lru_cache(maxsize=1)
def _system_fallbacks() -> tuple[tuple[str, frozenset[int]], ...]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    found = []
    for i, path in enumerate(SYSTEM_CJK_FONTS):
        if not os.path.isfile(path):
            continue
        name = f"FaceDeskFallback{i}"
        try:
            font = TTFont(name, path, subfontIndex=0)
        except (OSError, TTFError, ValueError, KeyError):
            continue  # e.g. PostScript (CFF) outlines, which reportlab cannot embed
        pdfmetrics.registerFont(font)
        found.append((name, frozenset(font.face.charToGlyph)))
    return tuple(found)


def _cid_font(ch: str) -> str | None:
    """reportlab's standard (not embedded) Asian font for a character DejaVu lacks: a PDF
    reader shows it with its own CJK font, and the text stays searchable."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    cp = ord(ch)
    if 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
        name = "HYSMyeongJo-Medium"  # Korean
    elif 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF:
        name = "HeiseiMin-W3"  # Japanese kana
    elif (0x2E80 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or 0xFF00 <= cp <= 0xFFEF
          or 0x20000 <= cp <= 0x2FA1F):
        name = "STSong-Light"  # CJK ideographs and punctuation
    else:
        return None
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    return name


def _font_for(ch: str, f: Fonts) -> str | None:
    """None: the paragraph's own font; else the font that has the character."""
    if ch.isspace() or f.covers(ch):
        return None
    for name, glyphs in _system_fallbacks():
        if ord(ch) in glyphs:
            return name
    return _cid_font(ch)


def markup(text: object, f: Fonts | None = None) -> str:
    """`text` as reportlab paragraph markup: escaped, with characters that the paragraph's
    font lacks set in a font that has them."""
    f = f or fonts()
    out: list[str] = []
    run: list[str] = []
    current: str | None = None

    def flush() -> None:
        if run:
            s = html.escape("".join(run), quote=False)
            out.append(s if current is None else f'<font name="{current}">{s}</font>')
            run.clear()

    for ch in str(text):
        font = _font_for(ch, f)
        if font != current:
            flush()
            current = font
        run.append(ch)
    flush()
    return "".join(out)


#: the longest text of one field the PDF shows: a longer one (a 3,000-character name)
#: could not be laid out on a page; it is cut there, and shown whole in the HTML sheet
PDF_MAX_CHARS = 300


#: free texts a person wrote: split across pages in full, never cut
PDF_WHOLE_TEXTS = frozenset({"rationale", "purpose_detail", "closing_note", "note"})


def pdf_cut(text: str) -> str:
    if len(text) <= PDF_MAX_CHARS:
        return text
    return (f"{text[:PDF_MAX_CHARS]}… [cut here: {len(text):,} characters in all; the HTML "
            "lead sheet shows the full text]")


def _pdf_record(value: Any, key: str = "") -> Any:
    """The record with every long name, id or metadata value cut (`pdf_cut`); the
    rationales and notes stay whole (their paragraphs split across pages)."""
    if isinstance(value, dict):
        return {k: _pdf_record(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_pdf_record(v, key) for v in value]
    if isinstance(value, str) and key not in PDF_WHOLE_TEXTS:
        return pdf_cut(value)
    return value


def pdf_grid(padding: float = 2) -> list[tuple[Any, ...]]:
    """The table grid of FaceDesk's PDFs (the lead sheet, the disclosure package)."""
    from reportlab.lib import colors

    return [("GRID", (0, 0), (-1, -1), 0.5, colors.HexColor("#bbbbbb")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            ("TOPPADDING", (0, 0), (-1, -1), padding),
            ("BOTTOMPADDING", (0, 0), (-1, -1), padding)]


def banner_table(banner: Any, width: float) -> Any:
    """The banner paragraph `banner` (or a list of paragraphs, one row each) in its red
    box, `width` wide."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    box = Table([[b] for b in (banner if isinstance(banner, list) else [banner])],
                colWidths=[width])
    box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 2, colors.HexColor("#b00000")),
                             ("TOPPADDING", (0, 0), (-1, -1), 6),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 7)]))
    return box


def page_footer(words: Any, *, left_right: float, bottom: float, width: float
                ) -> Callable[[Any, Any], None]:
    """What every page of FaceDesk's PDFs ends with: a red rule, the banner, `words` (a
    paragraph) and the page number, in the bottom margin (A4)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm

    f, page_w = fonts(), A4[0]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor("#b00000"))
        canvas.setLineWidth(1.2)
        y = bottom - 7 * mm
        canvas.line(left_right, y, page_w - left_right, y)
        canvas.setFillColor(colors.HexColor("#b00000"))
        canvas.setFont(f.bold, 10)
        canvas.drawCentredString(page_w / 2, y - 5 * mm, BANNER)
        canvas.setFillColor(colors.HexColor("#333333"))
        canvas.setFont(f.regular, 8)
        _, h = words.wrapOn(canvas, width - 20 * mm, 20 * mm)
        words.drawOn(canvas, left_right, y - 8 * mm - h)
        canvas.drawRightString(page_w - left_right, y - 8 * mm - 8, f"page {doc.page}")
        canvas.restoreState()

    return footer


def write_pdf(record: dict[str, Any], path: Path) -> None:
    """The lead sheet as a PDF (A4; fits Letter's printable area), the banner at the top
    and in the footer of every page."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image as RLImage,
    )
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    record = _pdf_record(record)
    f = fonts()
    red = colors.HexColor("#b00000")
    base = ParagraphStyle("base", fontName=f.regular, fontSize=9, leading=11.5)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10)
    cell = ParagraphStyle("cell", parent=base, fontSize=8.5, leading=10.5)
    cell_bold = ParagraphStyle("cellb", parent=cell, fontName=f.bold)
    mono = ParagraphStyle("mono", parent=base, fontName=f.mono, fontSize=7, leading=9.5)
    time = ParagraphStyle("time", parent=cell, fontSize=7.5)
    hashes = ParagraphStyle("hashes", parent=mono, fontSize=6.8)
    head = ParagraphStyle("head", parent=base, fontName=f.bold, fontSize=11.5, leading=14,
                          spaceBefore=8, spaceAfter=3)
    h1 = ParagraphStyle("h1", parent=base, fontName=f.bold, fontSize=15, leading=18,
                        spaceAfter=2)
    banner = ParagraphStyle("banner", parent=base, fontName=f.bold, fontSize=13.5,
                            leading=17, textColor=red, alignment=TA_CENTER)
    caption = ParagraphStyle("caption", parent=small, alignment=TA_CENTER)
    missing = ParagraphStyle("missing", parent=base, fontName=f.bold, textColor=red,
                             alignment=TA_CENTER)

    page_w = A4[0]
    # Letter is 215.9 mm wide and 279.4 mm high: these margins keep the frame inside both
    left_right, top, bottom = 17 * mm, 15 * mm, 30 * mm
    width = page_w - 2 * left_right

    def p(text: object, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(markup(text, f), style)

    grid = pdf_grid()

    def kv(sec: Section) -> list[Any]:
        data = [[p(label, cell_bold), p(value, mono if label in sec.mono else cell)]
                for label, value in sec.rows]
        t = Table(data, colWidths=[0.3 * width, 0.7 * width], splitInRow=1)
        t.setStyle(TableStyle([*grid, ("BACKGROUND", (0, 0), (0, -1),
                                       colors.HexColor("#eeeeee"))]))
        out: list[Any] = [KeepTogether([p(sec.title, head), t])]
        if sec.note:
            out.append(p(sec.note, small))
        return out

    box_w, box_h = (width - 6 * mm) / 2, 80 * mm

    def picture(data: bytes | None, text: str) -> Any:
        if data is None:
            t = Table([[p(text, missing)]], colWidths=[box_w - 6], rowHeights=[40 * mm])
            t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
            return t
        w, h = _size(data)
        scale = min((box_w - 8) / w, (box_h - 8) / h)
        return RLImage(io.BytesIO(data), width=w * scale, height=h * scale)

    probe_cap, crop_cap = image_captions(record)
    images = Table(
        [[picture(probe_picture(record), probe_missing_text(record)),
          picture(crop_picture(record), CROP_MISSING)],
         [p(probe_cap, caption), p(crop_cap, caption)]],
        colWidths=[box_w, box_w], spaceBefore=4, spaceAfter=4)
    images.setStyle(TableStyle([
        ("BOX", (0, 0), (0, -1), 0.5, colors.HexColor("#bbbbbb")),
        ("BOX", (1, 0), (1, -1), 0.5, colors.HexColor("#bbbbbb")),
        ("ALIGN", (0, 0), (-1, -1), "CENTER"), ("VALIGN", (0, 0), (-1, 0), "MIDDLE")]))
    images.hAlign = "CENTER"

    banner_box = banner_table([p(t, banner) for t in banner_lines(record)], width)

    cand_widths = [0.08, 0.05, 0.18, 0.09, 0.09, 0.19, 0.22, 0.10]
    cand_data: list[list[Any]] = [[p(h, cell_bold) for h in CANDIDATE_HEADER]]
    lead_rows = []
    for i, (lead, cells) in enumerate(candidate_rows(record), start=1):
        cand_data.append([p(v, cell_bold if lead else cell) for v in cells])
        if lead:
            lead_rows.append(i)
    cand_table = Table(cand_data, colWidths=[w * width for w in cand_widths], repeatRows=1)
    cand_table.setStyle(TableStyle(
        [*grid, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))]
        + [("BACKGROUND", (0, r), (-1, r), colors.HexColor("#fff3c4")) for r in lead_rows]))

    audit_data: list[list[Any]] = [[p(h, cell_bold) for h in AUDIT_HEADER]]
    audit_data += [[p(a, cell), p(b, time), p(c, hashes)] for a, b, c in audit_rows(record)]
    audit_table = Table(audit_data, colWidths=[w * width for w in (0.17, 0.29, 0.54)],
                        repeatRows=1)
    audit_table.setStyle(TableStyle(
        [*grid, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee"))]))

    chosen, search, probe, people, checklist, found, case = sections(record)
    story: list[Any] = [
        banner_box, Spacer(1, 5),
        p(title(record), h1), p(f"{summary(record)} {made_line(record)}", base),
        Spacer(1, 3), images,
        *kv(chosen),
        KeepTogether([p("Every candidate shown", head), p(candidates_note(record), small),
                      Spacer(1, 2), cand_table]),
        *kv(search), *kv(probe), *kv(people), *kv(checklist), *kv(found), *kv(case),
        KeepTogether([p("Audit", head), audit_table, Spacer(1, 2),
                      p(audit_note(record), small)]),
    ]

    words = f"{title(record)} · {made_line(record)}"
    words = words if len(words) <= 200 else f"{words[:199]}…"
    footer_words = Paragraph(markup(words, f), small)

    footer = page_footer(footer_words, left_right=left_right, bottom=bottom, width=width)

    doc = SimpleDocTemplate(
        str(path), pagesize=A4, leftMargin=left_right, rightMargin=left_right,
        topMargin=top, bottomMargin=bottom, title=title(record), subject=BANNER,
        author="FaceDesk", creator="FaceDesk")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


# --- export ------------------------------------------------------------------------------------


def safe_name(text: str) -> str:
    """`text` with only letters, digits, '.', '_' and '-' (others become '-')."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return s or "unnamed"


def file_names(record: dict[str, Any], formats: Sequence[str] = FORMATS) -> list[str]:
    stem = (f"lead-sheet-case-{safe_name(str(record['case']['number']))}-decision-"
            f"{int(record['decision']['id'])}")
    return [f"{stem}.{fmt}" for fmt in formats]


def export_lead_sheet(session: Session, decision_id: int, out: Path,
                      formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the lead sheet of a confirmed lead into the folder `out` (one file per
    format), then log one audit "export" event naming each file and its SHA-256."""
    formats = tuple(dict.fromkeys(formats))
    unknown = [x for x in formats if x not in FORMATS]
    if unknown or not formats:
        raise FaceDeskError(f"a lead sheet is written as {' and/or '.join(FORMATS)}, "
                            f"not {', '.join(unknown) or 'nothing'}")
    record = cases.lead_record(session, decision_id).as_dict()
    gallery = session.gallery
    if (problem := cases.evidence_problem(gallery, decision_id)) is not None:
        raise LeadError(problem)
    users = dict(record.get("users") or {})
    case = record["case"]
    for uid in (case.get("opened_by"), case.get("closed_by"), session.user_id):
        if uid and uid not in users:
            u = accounts.user(gallery, uid)
            users[uid] = uid if u is None else f"{u.display_name} ({uid})"
    record["users"] = users
    record["export"] = {"at": audit.now(), "by": users[session.user_id]}

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FaceDeskError(f"{out} is a file: choose a folder to write the lead sheet in")
    try:
        private.make_dirs(out)
    except OSError as exc:
        raise FaceDeskError(f"cannot create the folder {out}: {exc.strerror or exc}") from None

    # every file is written in full under a temporary name, the export is logged, and
    # only then do the files take their names: no sheet without its event
    written: list[tuple[Path, Path, str]] = []  # final name, temporary file, SHA-256
    try:
        for fmt, name in zip(formats, file_names(record, formats), strict=True):
            tmp = out / f".{name}.{os.getpid()}.tmp"
            written.append((out / name, tmp, ""))
            if fmt == "pdf":  # readable by its owner only, like every export
                with private.owner_only():
                    write_pdf(record, tmp)
                private.restrict(tmp)
            else:
                private.write_bytes(tmp, render_html(record).encode("utf-8"))
            written[-1] = (out / name, tmp, hashlib.sha256(tmp.read_bytes()).hexdigest())
        audit.record(gallery, "export", {
            "what": "lead sheet", "decision_id": int(decision_id), "case": case["number"],
            "files": [{"name": final.name, "sha256": digest}
                      for final, _, digest in written],
        }, user_id=session.user_id, case_id=int(case["id"]))
        for final, tmp, _ in written:
            os.replace(tmp, final)
    except OSError as exc:
        raise FaceDeskError(f"could not write the lead sheet in {out}: "
                            f"{exc.strerror or exc}") from None
    finally:
        for _, tmp, _ in written:
            tmp.unlink(missing_ok=True)
    return [final for final, _, _ in written]
