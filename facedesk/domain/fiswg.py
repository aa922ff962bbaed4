"""The feature-by-feature comparison checklist of FISWG's Facial Image Comparison Feature
List (v2.0): each facial component of the probe and the candidate compared and judged
similar, dissimilar or not visible, with a note. Pure logic, no database, no Qt.

The checklist is recorded with a decision (facedesk.app.cases.decide). Its rules live in
ONE place, `checklist_problem`:

- every component named is one of COMPONENTS and every value one of VALUES;
- a dissimilar component needs a note (what differs);
- FISWG: "an unexplained dissimilarity excludes". FaceDesk cannot judge whether an
  explanation holds; what it can enforce is that none is missing. So a possible lead
  with a dissimilar component must carry, in that component's note, the explanation of
  why the dissimilarity does not exclude (ageing, weight, pose, lighting, resolution or
  compression, an alteration such as a new scar or tattoo). The note is put before the
  second reviewer and printed on the lead sheet, where a person judges it. We chose this
  over refusing every possible lead with a dissimilarity because FISWG itself separates
  explainable from unexplainable dissimilarities: an explained one does not exclude;
- when the administrator requires it (setting `checklist_required`), a possible lead
  needs a complete checklist: every component similar, dissimilar or not visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from facedesk.errors import FaceDeskError

#: FISWG Facial Image Comparison Feature List v2.0 components, in the list's order
COMPONENTS: dict[str, str] = {
    "skin": "Skin",
    "face_head_outline": "Face/head outline",
    "face_head_composition": "Face/head composition",
    "hair": "Hair",
    "forehead": "Forehead",
    "eyebrows": "Eyebrows",
    "eyes": "Eyes",
    "cheeks": "Cheeks",
    "nose": "Nose",
    "ears": "Ears",
    "mouth": "Mouth",
    "chin_jawline": "Chin/jawline",
    "neck": "Neck",
    "facial_hair": "Facial hair",
    "facial_lines": "Facial lines",
    "scars": "Scars",
    "facial_marks": "Facial marks",
    "alterations": "Alterations",
}

#: a component's judgement
VALUES: dict[str, str] = {
    "similar": "Similar",
    "dissimilar": "Dissimilar",
    "not_visible": "Not visible",
}

#: FISWG's rule, quoted wherever a possible lead's dissimilarity is refused
UNEXPLAINED_EXCLUDES = "an unexplained dissimilarity excludes (FISWG)"


class ChecklistError(FaceDeskError):
    code = "checklist"


@dataclass(frozen=True)
class Feature:
    """One component's judgement with its note ('' when none)."""

    component: str
    value: str
    note: str = ""

    @property
    def label(self) -> str:
        return COMPONENTS[self.component]

    def as_dict(self) -> dict[str, str]:
        return {"value": self.value, "note": self.note}


def _key(name: str) -> str:
    """A component or value as typed ('Chin/jawline', 'not visible', 'NOT-VISIBLE') as its
    key."""
    return "_".join(name.strip().lower().replace("/", " ").replace("-", " ").split())


@dataclass(frozen=True)
class Checklist:
    """The judged components in COMPONENTS' order (components not judged are absent)."""

    features: tuple[Feature, ...] = ()

    @classmethod
    def of(cls, features: Iterable[Feature]) -> Checklist:
        """From features in any order; ChecklistError on an unknown component or value,
        or a component given twice."""
        found: dict[str, Feature] = {}
        for f in features:
            component, value = _key(f.component), _key(f.value)
            if component not in COMPONENTS:
                raise ChecklistError(f"unknown facial component {f.component!r}; the "
                                     f"components: {', '.join(COMPONENTS)}")
            if value not in VALUES:
                raise ChecklistError(f"{COMPONENTS[component]}: the value is one of "
                                     f"{', '.join(VALUES)}, not {f.value!r}")
            if component in found:
                raise ChecklistError(f"{COMPONENTS[component]} is given twice")
            found[component] = Feature(component, value, f.note.strip())
        return cls(tuple(found[c] for c in COMPONENTS if c in found))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checklist:
        """From {component: {"value": ..., "note": ...}} or {component: value}."""
        if not isinstance(data, Mapping):
            raise ChecklistError("a checklist is a JSON object of component: value")
        out = []
        for component, v in data.items():
            if isinstance(v, Mapping):
                value, note = v.get("value"), v.get("note") or ""
            else:
                value, note = v, ""
            if not isinstance(value, str) or not isinstance(note, str):
                raise ChecklistError(f"{component}: give a value ({', '.join(VALUES)}) and "
                                     "optionally a note, as text")
            out.append(Feature(str(component), value, note))
        return cls.of(out)

    @classmethod
    def from_json(cls, text: str | None) -> Checklist | None:
        """A stored or typed checklist (None: none stored)."""
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ChecklistError(f"the checklist is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def parse_features(cls, specs: Iterable[str]) -> Checklist:
        """From the command line's `COMPONENT=VALUE[:NOTE]` (e.g. `eyes=similar`,
        `nose=dissimilar:broken since the booking photo`)."""
        out = []
        for spec in specs:
            component, eq, rest = spec.partition("=")
            if not eq or not component.strip() or not rest.strip():
                raise ChecklistError(f"{spec!r}: write a feature as COMPONENT=VALUE or "
                                     "COMPONENT=dissimilar:NOTE (e.g. eyes=similar)")
            value, _, note = rest.partition(":")
            out.append(Feature(component, value, note))
        return cls.of(out)

    def feature(self, component: str) -> Feature | None:
        return next((f for f in self.features if f.component == component), None)

    @property
    def missing(self) -> list[str]:
        """The components not judged yet."""
        judged = {f.component for f in self.features}
        return [c for c in COMPONENTS if c not in judged]

    @property
    def complete(self) -> bool:
        return not self.missing

    def dissimilar(self) -> list[Feature]:
        return [f for f in self.features if f.value == "dissimilar"]

    def counts(self) -> dict[str, int]:
        return {v: sum(f.value == v for f in self.features) for v in VALUES}

    def summary(self) -> str:
        """E.g. '14 similar, 1 dissimilar, 3 not visible (18 of 18 components)'."""
        c = self.counts()
        return (f"{c['similar']} similar, {c['dissimilar']} dissimilar, "
                f"{c['not_visible']} not visible ({len(self.features)} of {len(COMPONENTS)} "
                "components)")

    def grouped(self) -> list[tuple[str, list[str]]]:
        """(value in words, ['Nose (note)', ...]) for each value with components, then
        'Not judged' with those left: the checklist in a few lines."""
        out = [(VALUES[v], [f.label + (f" ({f.note})" if f.note else "")
                            for f in self.features if f.value == v]) for v in VALUES]
        out.append(("Not judged", [COMPONENTS[c] for c in self.missing]))
        return [(label, names) for label, names in out if names]

    def as_dict(self) -> dict[str, dict[str, str]]:
        """{component: {"value", "note"}} in COMPONENTS' order: the stored and logged
        form."""
        return {f.component: f.as_dict() for f in self.features}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False)

    def rows(self) -> list[tuple[str, str, str]]:
        """(component, value, note) in words, every component ('not judged' when not)."""
        out = []
        for c, label in COMPONENTS.items():
            f = self.feature(c)
            out.append((label, "not judged" if f is None else VALUES[f.value],
                        "" if f is None else f.note))
        return out


def checklist_problem(checklist: Checklist | None, decision: str, *,
                      required: bool) -> str | None:
    """What is wrong with a decision's checklist (None: nothing). The one place of the
    checklist's rules (see the module docstring): a dissimilarity needs a note; on a
    possible lead that note is its explanation (an unexplained dissimilarity excludes);
    with `required` (the administrator's setting), a possible lead needs every
    component judged."""
    lead = decision == "possible_lead"
    unnoted = [f for f in (checklist.dissimilar() if checklist else []) if not f.note]
    if unnoted:
        names = ", ".join(f.label for f in unnoted)
        if lead:
            return (f"explain the dissimilarity of {names} in its note (e.g. ageing, pose, "
                    f"lighting, image quality, an alteration): {UNEXPLAINED_EXCLUDES}")
        return f"a dissimilar component needs a note saying what differs: {names}"
    if lead and required:
        missing = COMPONENTS if checklist is None else checklist.missing
        if missing:
            left = ", ".join(COMPONENTS[c] for c in missing)
            return ("the administrator requires the feature-by-feature checklist for a "
                    f"possible lead: judge every component ({len(missing)} left: {left})")
    return None
