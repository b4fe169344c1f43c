"""`monitor profile fit`: train the learned layer on labelled items (needs scikit-learn).

Only items that pass the cheap concept pre-filter are used (the daemon runs the model on no
others). Thresholds are chosen on out-of-fold predictions from cross-validation grouped by
`event`, so reports of one event never sit on both sides of a split; the final model is then
fitted on all of them. The report compares rules alone, the learned layer alone and the
combination, all from out-of-fold predictions.

Training takes a minute or more on a large file (75 s for 88,000 items), so each phase reports
itself through `progress`, one line each and every tenth of the items while scoring: scoring with
the rules, the features, each fold, the final model, the thresholds, the report.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from ..classify.learned import LearnedModel, concept_groups, features
from ..classify.rules import Classifier
from ..model import Score
from ..settings.profile import Profile
from .evaluate import Evaluation, LabelledItem

MAX_FEATURES = 6000
MIN_ALERT_PRECISION = 0.97
READ_STEP = 10_000  # items read between two progress lines

Progress = Callable[[str], None]


def _silent(message: str) -> None:
    pass


def counted(items: Iterable, progress: Progress, label: str, total: int | None = None) -> Iterator:
    """`items`, with a progress line every tenth of `total` (every READ_STEP items without one)
    and one at the end: "reading labelled items... 20,000"."""
    step = -(-total // 10) if total else READ_STEP  # a tenth, rounded up
    count = 0
    for count, item in enumerate(items, start=1):
        yield item
        if count % step == 0 and count != total:
            progress(f"{label}... {count:,}" + (f"/{total:,}" if total else ""))
    progress(f"{label}... {count:,}" + (f"/{total:,}" if total else "") + " done")


@dataclass(frozen=True)
class FitResult:
    model: LearnedModel
    report: dict  # {"rules": ..., "learned": ..., "combined": ...} out-of-fold evaluation reports


def fit_model(items: list[LabelledItem], profile: Profile, folds: int = 5, min_groups: int = 2,
              regularisation: float = 0.5, progress: Progress = _silent) -> FitResult:
    try:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold
    except ImportError:
        raise SystemExit("monitor profile fit needs scikit-learn: pip install 'news-incident-monitor[learn]'")
    classifier = Classifier(profile)
    verdicts = [classifier.score(item.title, item.text)
                for item in counted(items, progress, "scoring with the rules", len(items))]
    chosen = [k for k, verdict in enumerate(verdicts) if len(concept_groups(verdict)) >= min_groups]
    progress(f"reading the features of the {len(chosen):,} items past the concept pre-filter")
    vectorizer = DictVectorizer(dtype=float)
    matrix = vectorizer.fit_transform(
        [dict.fromkeys(features(items[k].title, items[k].text, verdicts[k]), 1.0) for k in chosen])
    truth = [items[k].label == "incident" for k in chosen]
    groups = [items[k].event or f"id:{items[k].id}" for k in chosen]

    def new_model():
        return LogisticRegression(C=regularisation, class_weight="balanced", max_iter=3000)

    out_of_fold = [0.0] * len(chosen)
    splits = GroupKFold(n_splits=folds).split(matrix, truth, groups)
    for fold, (train, test) in enumerate(splits, start=1):
        progress(f"training: fold {fold}/{folds}")
        fitted = new_model().fit(matrix[train], [truth[i] for i in train])
        for index, p in zip(test, fitted.predict_proba(matrix[test])[:, 1]):
            out_of_fold[index] = float(p)

    progress(f"training the final model on all {len(chosen):,} items")
    final = new_model().fit(matrix, truth)
    ranked = sorted(zip(vectorizer.feature_names_, final.coef_[0]), key=lambda pair: -abs(pair[1]))
    weights = {name: round(float(w), 6) for name, w in ranked[:MAX_FEATURES] if abs(w) > 1e-6}
    probabilities = dict(zip(chosen, out_of_fold))
    draft = LearnedModel(profile.name, round(float(final.intercept_[0]), 6), weights, 1.0, 1.0,
                         min_groups, frozenset(items[k].id for k in chosen))
    progress("choosing the thresholds")
    related_t, incident_t = _choose_thresholds(items, verdicts, probabilities, draft, profile)
    model = replace(draft, related_threshold=related_t, incident_threshold=incident_t)
    progress("measuring rules, learned layer and both, out of fold")
    report = {
        "rules": _evaluate(items, verdicts).report(),
        "learned": _evaluate(items, _learned_alone(items, verdicts, probabilities, model)).report(),
        "combined": _evaluate(items, _combined(items, verdicts, probabilities, model, profile)).report(),
        "candidates": len(chosen),
    }
    return FitResult(model, report)


def _combined(items, verdicts, probabilities, model: LearnedModel, profile) -> list[Score]:
    """Verdicts as the daemon would give them, with out-of-fold probabilities."""
    combined = list(verdicts)
    for k, p in probabilities.items():
        if verdicts[k].label != "incident":
            combined[k] = model.decide(profile, verdicts[k], p)
    return combined


def _learned_alone(items, verdicts, probabilities, model: LearnedModel) -> list[Score]:
    alone = [replace(v, label="none") for v in verdicts]
    for k, p in probabilities.items():
        label = "incident" if p >= model.incident_threshold else (
            "related" if p >= model.related_threshold else "none")
        alone[k] = replace(verdicts[k], label=label, layer="learned", probability=p)
    return alone


def _choose_thresholds(items, verdicts, probabilities, model, profile) -> tuple[float, float]:
    """Incident threshold: best incident F1 keeping alert precision; then related: best alertable F1."""
    grid = sorted({round(p, 2) for p in probabilities.values() if p >= 0.3} | {0.5, 0.99})
    best_incident, best_score = 1.01, -1.0
    for t in grid:
        report = _evaluate(items, _combined(items, verdicts, probabilities,
                                            replace(model, related_threshold=1.01, incident_threshold=t),
                                            profile)).report()
        if report["alerts"]["precision"] >= MIN_ALERT_PRECISION and report["incident"]["f1"] > best_score:
            best_incident, best_score = t, report["incident"]["f1"]
    best_related, best_score = best_incident, -1.0
    for t in [g for g in grid if g <= best_incident]:
        report = _evaluate(items, _combined(items, verdicts, probabilities,
                                            replace(model, related_threshold=t,
                                                    incident_threshold=best_incident),
                                            profile)).report()
        if report["alertable"]["f1"] > best_score:
            best_related, best_score = t, report["alertable"]["f1"]
    return best_related, best_incident


def _evaluate(items, verdicts) -> Evaluation:
    evaluation = Evaluation()
    for item, verdict in zip(items, verdicts):
        evaluation.add(item, verdict)
    return evaluation
