"""Draft a profile from example articles (`monitor profile learn`): a starting point to edit.

    examples --> sentences --> folded words and 1-3 word phrases ---+--> event / topic groups
             +--> capitalised names + context (gazetteer, cue words) +--> place / target / actor
    background word counts (what ordinary news says) ---------------/
                                                      --> rules, thresholds --> commented YAML

A word counts when it is in many of the examples (document frequency counts most) and much
more frequent there than in the background table (log-odds of the two rates). Phrases are kept
when their words stick together and are distinctive. Capitalised names ("Kataib Hezbollah",
"Ain al-Asad") are sorted by a small generic gazetteer of countries and by the words around
them: "in/near/from X" is a place, "X base/embassy/airport" a target, "X militia/group/brigades"
an actor. Nothing here knows about any particular incident type.

The background table (`monitor/data/background.tsv`, built by scripts/build_background.py) is
word<TAB>count of folded words from general news; `--background` takes a table of the same
format or a corpus (JSON Lines items with title/text, or plain text) to count.
"""

from .corpus import (
           DEFAULT_BACKGROUND,
           DraftInputError,
           count_words,
           iter_jsonl,
           read_background,
           read_examples,
           write_background,
)
from .render import draft_profile

__all__ = ["DEFAULT_BACKGROUND", "DraftInputError", "count_words", "draft_profile", "iter_jsonl",
           "read_background", "read_examples", "write_background"]
