"""`monitor profile fit`: train the learned layer on labelled items (needs scikit-learn).

Only items that pass the cheap concept pre-filter are used (the daemon runs the model on no
others). Thresholds are chosen on out-of-fold predictions from cross-validation grouped by
`event`, so reports of one event never sit on both sides of a split; the final model is then
fitted on all of them. The report compares rules alone, the learned layer alone and the
combination, all from out-of-fold predictions.
"""

from dataclasses import dataclass, replace

from ..classify.learned import LearnedModel, concept_groups, features
from ..classify.rules import Classifier
from ..model import Score
from ..settings.profile import Profile
from .evaluate import Evaluation, LabelledItem

MAX_FEATURES = 6000
MIN_ALERT_PRECISION = 0.97


@dataclass(frozen=True)
class FitResult:
    model: LearnedModel
    report: dict  # {"rules": ..., "learned": ..., "combined": ...} out-of-fold evaluation reports


def fit_model(items: list[LabelledItem], profile: Profile, folds: int = 5, min_groups: int = 2,
              regularisation: float = 0.5) -> FitResult:
    try:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold
    except ImportError:
        raise SystemExit("monitor profile fit needs scikit-learn: pip install 'news-incident-monitor[learn]'")
    classifier = Classifier(profile)
    verdicts = [classifier.score(item.title, item.text) for item in items]
    chosen = [k for k, verdict in enumerate(verdicts) if len(concept_groups(verdict)) >= min_groups]
    vectorizer = DictVectorizer(dtype=float)
    matrix = vectorizer.fit_transform(
        [dict.fromkeys(features(items[k].title, items[k].text, verdicts[k]), 1.0) for k in chosen])
    truth = [items[k].label == "incident" for k in chosen]
    groups = [items[k].event or f"id:{items[k].id}" for k in chosen]

    def new_model():
        return LogisticRegression(C=regularisation, class_weight="balanced", max_iter=3000)

    out_of_fold = [0.0] * len(chosen)
    for train, test in GroupKFold(n_splits=folds).split(matrix, truth, groups):
        fitted = new_model().fit(matrix[train], [truth[i] for i in train])
        for index, p in zip(test, fitted.predict_proba(matrix[test])[:, 1]):
            out_of_fold[index] = float(p)

    final = new_model().fit(matrix, truth)
    ranked = sorted(zip(vectorizer.feature_names_, final.coef_[0]), key=lambda pair: -abs(pair[1]))
    weights = {name: round(float(w), 6) for name, w in ranked[:MAX_FEATURES] if abs(w) > 1e-6}
    probabilities = dict(zip(chosen, out_of_fold))
    draft = LearnedModel(profile.name, round(float(final.intercept_[0]), 6), weights, 1.0, 1.0,
                         min_groups, frozenset(items[k].id for k in chosen))
    related_t, incident_t = _choose_thresholds(items, verdicts, probabilities, draft, profile)
    model = replace(draft, related_threshold=related_t, incident_threshold=incident_t)
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
