"""Cases on the command line: opening, listing, showing and closing them, decisions on
candidates (with their FISWG feature-by-feature checklists), the second review of possible
leads, the independent evidence of confirmed leads, lead sheets and retention. A thin layer
over facedesk.app.cases: every rule is checked there. Commands that act sign in first
(facedesk/cli/signin.py)."""

from __future__ import annotations

from pathlib import Path

import click

from facedesk.app import accounts, cases
from facedesk.app.cases import DECISIONS, Decision
from facedesk.cli.options import db_option, json_option, user_option
from facedesk.cli.output import echo, emit_json, short
from facedesk.cli.signin import signed_in
from facedesk.domain.fiswg import COMPONENTS, VALUES, Checklist
from facedesk.store import Gallery

# --- cases ------------------------------------------------------------------------------------


@click.group("case")
def case_group() -> None:
    """Cases: every search belongs to an open case."""


def _purpose(gallery: Gallery, text: str) -> str:
    """A purpose as typed: its text, or its number in the administrator's list."""
    purposes = accounts.settings(gallery).purposes
    if text.strip().isdigit() and 1 <= int(text) <= len(purposes):
        return purposes[int(text) - 1]
    return text


@case_group.command("open")
@click.argument("number")
@db_option()
@user_option()
@click.option("--purpose", required=True,
              help="One of the administrator's purposes (its text or its number, see "
                   "`facedesk settings show`), or 'Other' with --detail.")
@click.option("--detail", default="", help="What the case is about (required for Other).")
def case_open(number: str, db: Path, user: str | None, purpose: str, detail: str) -> None:
    """Open a case NUMBER for a documented purpose."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "open_case")
        case = cases.open_case(session, number, _purpose(gallery, purpose), detail)
    echo(f"opened {case.label}")


@case_group.command("list")
@db_option()
@user_option()
@click.option("--all", "show_all", is_flag=True, help="Closed cases too.")
@json_option()
def case_list(db: Path, user: str | None, show_all: bool, as_json: bool) -> None:
    """List the open cases (with --all, the closed ones too), newest first."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "read_cases")
        found = cases.case_summaries(session, open_only=not show_all)
    if as_json:
        emit_json([c.as_dict() for c in found])
        return
    if not found:
        click.echo("no open cases" if not show_all else "no cases")
        return
    for summary in found:
        c, n_s, n_r = summary.case, summary.searches, summary.confirmed_leads
        echo(f"{c.label}  — opened by {c.opened_by} {c.opened_at}; {n_s} search"
             f"{'es' if n_s != 1 else ''}, {n_r} confirmed lead{'s' if n_r != 1 else ''}")


@case_group.command("show")
@click.argument("number")
@db_option()
@user_option()
@json_option()
def case_show(number: str, db: Path, user: str | None, as_json: bool) -> None:
    """A case's searches, the candidates each one showed, the decisions with their status
    and the second reviews."""
    with Gallery.open(db) as gallery:
        view = cases.case_view(signed_in(gallery, user, "read_cases"), number)
        evidence = {d.id: cases.evidence(gallery, d.id) for d in view.results}
    if as_json:
        emit_json({**view.as_dict(), "evidence": {
            str(k): [e.as_dict() for e in v] for k, v in evidence.items()}})
        return
    case = view.case
    found = [s.as_dict() for s in view.searches]
    decided = [d.as_dict() for d in view.decisions]
    detail = f" — {case.purpose_detail}" if case.purpose_detail else ""
    echo(f"{case.label}{detail}")
    echo(f"  opened by {case.opened_by} {case.opened_at}")
    if not case.is_open:
        note = f": {case.closing_note}" if case.closing_note else ""
        echo(f"  closed by {case.closed_by} {case.closed_at}{note}")
    echo(f"searches ({len(found)}):")
    for s in found:
        state = "  [purged]" if s["purged_at"] else ""
        echo(f"  search {s['id']} {s['created_at']} by {s['user_id']}: probe "
             f"{s['probe_name']} (sha256 {s['probe_sha256'][:12]}…), "
             f"{s['persons_searched']} persons searched, threshold {s['threshold']:.2f}, "
             f"top {s['top_k']}: {len(s['candidates'])} "
             f"candidate{'' if len(s['candidates']) == 1 else 's'} shown{state}")
        for c in s["candidates"]:
            echo(f"    {c['rank']:>3}  {c['distance']:.4f}  {c['person_id']}")
    echo(f"decisions ({len(decided)}):")
    for dec, d in zip(view.decisions, decided, strict=True):
        echo(f"  decision {d['id']} {d['created_at']} by {d['reviewer']}: candidate "
             f"{d['rank']} of search {d['search_id']} ({d['person_id']}, distance "
             f"{d['distance']:.4f}): {DECISIONS.get(d['decision'], d['decision'])} — "
             f"{cases.LEAD_STATUS[d['status']]}")
        echo(f"      rationale: {short(d['rationale'])}")
        _echo_checklist(dec, dec.id in view.hidden)
        if dec.id in evidence:
            items = evidence[dec.id]
            echo("      independent evidence: " + ("; ".join(
                f"{e.text} ({e.recorded_by} {e.created_at})" for e in items) if items else
                "none recorded yet"))
        r = d["review"]
        if r:
            echo(f"      second review {r['id']} by {r['reviewer']} {r['created_at']}: "
                 f"{cases.VERDICTS.get(r['verdict'], r['verdict'])}"
                 f"{' (blind)' if r['blind'] else ''} — {short(r['rationale'])}")
    if view.results:
        echo("case results (confirmed possible leads): " + ", ".join(
            f"decision {d.id} ({d.person_id})" for d in view.results))


@case_group.command("close")
@click.argument("number")
@db_option()
@user_option()
@click.option("--note", default="", help="Why the case is closed.")
def case_close(number: str, db: Path, user: str | None, note: str) -> None:
    """Close a case: it becomes read-only."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "close_case")
        case = cases.close_case(session, cases.require_open_case(gallery, number), note)
    echo(f"closed {case.label}")


# --- decisions and the second review ---------------------------------------------------------


def _echo_checklist(d: Decision, hidden: bool, indent: str = "      ") -> None:
    """A decision's FISWG checklist, one line per judged component (hidden in a blind
    second review, like the rationale)."""
    if hidden:
        echo(f"{indent}checklist: {cases.BLIND_HIDDEN}")
        return
    if d.checklist is None:
        return
    echo(f"{indent}checklist: {d.checklist.summary()}")
    for f in d.checklist.features:
        note = f" — {f.note}" if f.note else ""
        echo(f"{indent}  {f.label}: {VALUES[f.value]}{note}")


FEATURE_HELP = (
    "One FISWG component's judgement, COMPONENT=VALUE or COMPONENT=dissimilar:NOTE; repeat "
    f"for each component. Components: {', '.join(COMPONENTS)}. Values: "
    f"{', '.join(VALUES)}. A dissimilarity needs a note (on a possible lead, its "
    "explanation: an unexplained dissimilarity excludes). With the administrator's "
    "checklist_required on, a possible lead needs all components.")


@click.command("decide")
@db_option()
@user_option()
@click.option("--search", "search_id", type=int, required=True,
              help="The search id that `facedesk search` printed.")
@click.option("--rank", type=click.IntRange(1, None), required=True,
              help="The candidate's rank in that search.")
@click.option("--decision", type=click.Choice(list(DECISIONS)), required=True)
@click.option("--rationale", required=True, help="What you compared and saw.")
@click.option("--feature", "features", multiple=True, metavar="COMPONENT=VALUE[:NOTE]",
              help=FEATURE_HELP)
def decide(db: Path, user: str | None, search_id: int, rank: int, decision: str,
           rationale: str, features: tuple[str, ...]) -> None:
    """Record your decision on one candidate of a search, with the FISWG
    feature-by-feature checklist (--feature, e.g. --feature eyes=similar --feature
    "nose=dissimilar:broken since the booking photo")."""
    checklist = Checklist.parse_features(features)
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "decide")
        d = cases.decide(session, search_id, rank, decision, rationale, checklist=checklist)
    echo(f"decision {d.id} recorded: candidate {rank} ({d.person_id}) of "
         f"search {search_id}: {DECISIONS[decision]} — {cases.LEAD_STATUS[d.status]}")
    if d.status == "pending":
        click.echo("a supervisor reviews it: facedesk leads review "
                   f"{d.id} --db {db} --verdict confirmed|overturned --rationale ...")


@click.group("leads")
def leads_group() -> None:
    """Possible leads and their second review by a supervisor."""


@leads_group.command("pending")
@db_option()
@user_option()
@json_option()
def leads_pending(db: Path, user: str | None, as_json: bool) -> None:
    """Possible leads waiting for a second review, oldest first."""
    with Gallery.open(db) as gallery:
        waiting = cases.pending_for(signed_in(gallery, user, "read_cases"))
    if as_json:
        emit_json([p.as_dict() for p in waiting])
        return
    if not waiting:
        click.echo("no possible leads waiting for a second review")
        return
    for p in waiting:
        d = p.decision
        echo(f"decision {d.id}  case {d.case_number}  by {d.reviewer} "
             f"{d.created_at}: candidate {d.rank} of search "
             f"{d.search_id} ({d.person_id}, distance {d.distance:.4f})")
        echo(f"    rationale: {short(d.rationale)}")
        _echo_checklist(d, p.rationale_hidden, "    ")


@leads_group.command("review")
@click.argument("decision_id", type=int)
@db_option()
@user_option()
@click.option("--verdict", type=click.Choice(list(cases.VERDICTS)), required=True)
@click.option("--rationale", required=True, help="What you compared and saw.")
@click.option("--blind", is_flag=True,
              help="You reviewed without reading the analyst's rationale.")
def leads_review(decision_id: int, db: Path, user: str | None, verdict: str, rationale: str,
                 blind: bool) -> None:
    """Confirm or overturn a pending possible lead (supervisors only; not your own)."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "review_lead")
        d = cases.review_lead(session, decision_id, verdict, rationale, blind=blind)
    echo(f"decision {decision_id} ({d.person_id}, case {d.case_number}): "
         f"{cases.LEAD_STATUS[d.status]}")
    _echo_checklist(d, False, "  ")  # the verdict is in: the analyst's checklist is shown
    if d.status == "confirmed":
        click.echo(f"before its lead sheet goes out, record the independent evidence: "
                   f"facedesk evidence add {decision_id} --db {db} --text ...")


@click.group("evidence")
def evidence_group() -> None:
    """Independent evidence obtained for a confirmed lead (never act on a face search
    alone): recorded before its lead sheet goes out."""


@evidence_group.command("add")
@click.argument("decision_id", type=int)
@db_option()
@user_option()
@click.option("--text", required=True,
              help="What independent evidence was obtained: what, from whom, when.")
def evidence_add(decision_id: int, db: Path, user: str | None, text: str) -> None:
    """Record independent evidence for confirmed lead DECISION_ID (its analyst or a
    supervisor)."""
    with Gallery.open(db) as gallery:
        e = cases.record_evidence(signed_in(gallery, user, "decide"), decision_id, text)
    echo(f"evidence {e.id} recorded for decision {decision_id} by {e.recorded_by}")


@evidence_group.command("list")
@click.argument("decision_id", type=int)
@db_option()
@user_option()
@json_option()
def evidence_list(decision_id: int, db: Path, user: str | None, as_json: bool) -> None:
    """The independent evidence recorded for DECISION_ID, oldest first."""
    with Gallery.open(db) as gallery:
        d = cases.get_decision(gallery, decision_id)
        cases.readable_case(signed_in(gallery, user, "read_cases"), d.case_id)
        found = cases.evidence(gallery, decision_id)
    if as_json:
        emit_json([e.as_dict() for e in found])
        return
    if not found:
        click.echo(f"no independent evidence recorded for decision {decision_id}")
    for e in found:
        echo(f"evidence {e.id} {e.created_at} by {e.recorded_by}: {e.text}")


@click.command("lead-sheet")
@click.argument("decision_id", type=int)
@db_option()
@user_option()
@click.option("--out", "out_dir", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="The folder to write the lead sheet into.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "html", "both"]), default="both",
              show_default=True)
def lead_sheet(decision_id: int, db: Path, user: str | None, out_dir: Path, fmt: str) -> None:
    """Export the lead sheet of a confirmed lead (PDF and/or HTML)."""
    from facedesk.app.lead_sheet import export_lead_sheet

    formats = ("pdf", "html") if fmt == "both" else (fmt,)
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "lead_sheet")
        written = export_lead_sheet(session, decision_id, out_dir, formats)
    for p in written:
        click.echo(f"wrote {p}")


# --- retention ----------------------------------------------------------------------------------


@click.group("retention")
def retention_group() -> None:
    """Purge searches of cases without a confirmed lead after the retention period."""


@retention_group.command("purge")
@db_option()
@user_option()
@click.option("--dry-run", is_flag=True, help="Only list what would be purged.")
@json_option()
def retention_purge(db: Path, user: str | None, dry_run: bool, as_json: bool) -> None:
    """Purge (administrators only) the probe images, searches, decisions and second reviews
    older than retention_days of cases with no confirmed lead; a purge event remains."""
    with Gallery.open(db) as gallery:
        session = signed_in(gallery, user, "purge")
        plan = cases.purge_plan(gallery) if dry_run else cases.purge(session)
    if as_json:
        emit_json({"dry_run": dry_run, **plan.as_dict()})
        return
    if plan.retention_days is None:
        click.echo("no retention period is set (retention_days is none): nothing is purged")
        return
    verb = "would purge" if dry_run else "purged"
    click.echo(f"retention {plan.retention_days} days (cutoff {plan.cutoff}): {verb} "
               f"{len(plan.searches)} searches, {len(plan.decisions)} decisions, "
               f"{len(plan.cases)} cases touched")
    click.echo(f"  searches:  {', '.join(map(str, plan.searches)) or '-'}")
    click.echo(f"  decisions: {', '.join(map(str, plan.decisions)) or '-'}")
    echo(f"  cases:     {', '.join(plan.cases) or '-'}")
    for h in plan.probe_hashes:
        click.echo(f"  probe sha256 {h}")


COMMANDS: list[click.Command] = [case_group, decide, leads_group, evidence_group, lead_sheet,
                                 retention_group]
