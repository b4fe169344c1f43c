"""The scoring entry point: a profile's rules plus, when a model file sits beside the
profile, its learned layer."""

from pathlib import Path

from ..model import Label, Score
from ..settings.profile import Profile
from .learned import MODEL_SUFFIX, LearnedModel, load_learned
from .rules import Classifier


def model_path(profiles_dir: Path, profile_name: str) -> Path:
    return profiles_dir / f"{profile_name}{MODEL_SUFFIX}"


class ProfileScorer:
    """A profile's rules plus, when a model file sits beside the profile, its learned layer."""

    def __init__(self, profile: Profile, model: LearnedModel | None = None):
        self.profile, self.model = profile, model
        self.rules = Classifier(profile)

    def score(self, title: str, text: str = "") -> Score:
        verdict = self.rules.score(title, text)
        return self.model.combine(self.profile, title, text, verdict) if self.model else verdict

    def label(self, title: str, text: str = "") -> Score | None:
        """The verdict when its label is not `none`, else None. Without a learned layer (which may
        page what no rule fires on) an item whose terms cannot make a rule fire is not scored."""
        if self.model is None and not self.rules.may_fire(self.rules.groups_anywhere(title, text)):
            return None
        verdict = self.score(title, text)
        return verdict if verdict.label != Label.NONE else None


def load_scorers(profiles: dict[str, Profile], profiles_dir: Path | None) -> dict[str, ProfileScorer]:
    return {name: ProfileScorer(profile, load_learned(model_path(profiles_dir, name))
                                if profiles_dir else None)
            for name, profile in profiles.items()}
