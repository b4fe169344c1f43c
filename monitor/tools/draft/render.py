"""The draft profile as commented YAML: weights, thresholds and rules from the built groups."""

import json
import re

from .candidates import _build, _weight
from .corpus import DEFAULT_BACKGROUND, DraftInputError, read_background

# --- the YAML --------------------------------------------------------------------------------

ROLE_WEIGHT = {"event": 0.25, "topic": 0.2, "target": 0.25, "place": 0.15, "actor": 0.15}
ROLE_NOTE = {
    "event": "what happens: distinctive verbs and event nouns of the examples",
    "topic": "what it involves: distinctive things and means named in the examples",
    "target": "whom or what it hits: facilities and people attacked or affected",
    "place": "where: countries, regions and named places (gazetteer or 'in/near/from X')",
    "actor": "who does it: named groups ('X militia', 'X-backed', 'claimed by X')",
}


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def draft_profile(examples: list[tuple[str, str]], background: dict[str, int] | None = None,
                  name: str = "draft") -> str:
    """A commented YAML profile drafted from (title, text) examples; load_profile accepts it
    when saved as NAME.yaml. `background` maps folded words to counts (None = the shipped table)."""
    if not examples:
        raise DraftInputError("no example articles to learn from")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
        raise DraftInputError(f"profile name {name!r}: use lower-case letters, digits, - and _")
    if background is None:
        background = read_background(DEFAULT_BACKGROUND)
    groups = _build(examples, background)
    if not groups:
        raise DraftInputError("the examples have no words or names in common to build a profile "
                              "from; give more (or longer) examples")

    salience = {role: sum(c.df for c in cs[:5]) for role, cs in groups.items()}
    what = [r for r in ("event", "topic") if r in groups]
    others = sorted((r for r in ("target", "place", "actor") if r in groups),
                    key=lambda r: (-salience[r], r))
    total = sum(ROLE_WEIGHT[r] for r in groups)
    weights = {r: round(ROLE_WEIGHT[r] / total, 2) for r in groups}
    head = [what] if what else [others.pop(0)] if others else []
    incident_groups = head + others[:2]
    related_groups = head + others[:1] if len(head + others) >= 2 else incident_groups

    def requirement_weight(req):
        return min(weights[g] for g in req) if isinstance(req, list) else weights[req]

    def threshold(reqs, strength):
        return round(min(0.9, 0.2 + 0.75 * strength * sum(map(requirement_weight, reqs))), 2)

    incident = threshold(incident_groups, 0.6)
    related = min(incident - 0.05, threshold(related_groups, 0.5))

    out = [f"# DRAFT profile learned from {len(examples)} example article(s) by "
           f"`monitor profile learn`.",
           "# It is a starting point, not a finished profile: read every group, delete terms that",
           "# are page junk or belong to one story only, add spellings and negatives, then check",
           "#   monitor check        (validates the file)",
           "#   monitor score FILE   (shows how a text scores and why)",
           "#   monitor eval FILE    (precision and recall on labelled items)",
           "# Terms are folded before matching (case, accents, apostrophes, hyphens and 'al-' do not",
           "# matter); 'word*' matches any word starting so; a word in capitals ('US') matches only",
           "# in capitals. Comments after a term say in how many examples it was seen.",
           f"name: {name}",
           f"description: {_q('Draft learned from ' + str(len(examples)) + ' examples; describe the incident type here.')}",
           "", "thresholds:", f"  incident: {incident}", f"  related: {related}",
           "body_weight: 0.75", "cooccurrence_bonus: 0.2", "", "groups:"]
    for role, candidates in groups.items():
        out.append(f"  # {role}: {ROLE_NOTE[role]}")
        out += [f"  {role}:", f"    weight: {weights[role]}", "    terms:"]
        best = max(c.score for c in candidates)
        for c in candidates:
            parts = [f"name: {_q(c.name)}"]
            aliases = [a for a in c.aliases if a != c.name]
            if aliases:
                parts.append(f"aliases: [{', '.join(map(_q, aliases))}]")
            weight = _weight(c.score, best)
            if weight != 1.0:
                parts.append(f"weight: {weight}")
            out.append(f"      - {{{', '.join(parts)}}}  # in {c.df}/{len(examples)} examples")
    out += ["", "rules:",
            "  # An incident: the strongest groups together within two sentences.",
            "  - name: draft-incident", "    class: incident",
            f"    groups: {_flow(incident_groups)}", "    within: 2",
            "  # Related news: the two strongest groups anywhere in the item.",
            "  - name: draft-related", "    class: related",
            f"    groups: {_flow(related_groups)}", "    within: 0", "",
            "# Terms that mark look-alike news to push down (other places, sports, ...), e.g.",
            "#   - {name: football, aliases: [soccer, league], weight: 0.5}",
            "negatives: []", ""]
    return "\n".join(out)


def _flow(requirements) -> str:
    return "[" + ", ".join(f"[{', '.join(r)}]" if isinstance(r, list) else r
                           for r in requirements) + "]"
