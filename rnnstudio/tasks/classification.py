"""Shared parts of the classification tasks: labels, stratified splits, weights and scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.model_selection import train_test_split

from rnnstudio.errors import DataError


def _label_key(label: str):
    # Numeric labels sort as numbers ("2" before "10"), others alphabetically.
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)


def label_strings(values: pd.Series) -> pd.Series:
    """Labels as strings; whole floats from pandas (1.0) become "1"."""
    def text(v):
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v).strip()

    return values.map(text)


def encode_labels(labels: pd.Series, classes: list[str], *, file: str, column: str) -> np.ndarray:
    """Class indices of ``labels``; a label unseen in training is an error naming it."""
    labels = label_strings(labels)
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted(set(labels) - set(index))
    if unseen:
        raise DataError(f"label(s) {', '.join(map(repr, unseen[:5]))} were not seen in training.", file=file,
                        column=column, fix=f"The model knows: {', '.join(classes)}.")
    return labels.map(index).to_numpy(dtype="int32")


def fit_classes(labels: pd.Series, *, file: str, column: str) -> list[str]:
    """The sorted class names; needs at least two classes with two examples each."""
    counts = labels.value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "nothing"
        raise DataError(f"the label column has only one class ({only!r}); a classifier needs at least two.",
                        file=file, column=column, fix="Check that this is the label column, or add examples of the other classes.")
    rare = counts[counts < 2]
    if len(rare):
        raise DataError(f"class(es) {', '.join(map(repr, rare.index[:5]))} have a single example, too few to split into train and test.",
                        file=file, column=column, fix="Add examples of those classes or remove their rows.")
    return sorted(counts.index, key=_label_key)


def check_label_column(frame: pd.DataFrame, column: str, *, file: str) -> None:
    """Refuses a label column that looks like measurements or text: more distinct values than half its rows."""
    labels = frame[column].dropna()
    distinct = labels.nunique()
    if len(labels) >= 20 and distinct > 0.5 * len(labels):
        raise DataError(f"the label column '{column}' has {distinct} different values in {len(labels)} rows; "
                        "it looks like a measurement or text, not a class.", file=file, column=column,
                        field="data.target", fix="Pick the column that names each example's class.")


def check_split_classes(classes: list[str], splits: dict[str, np.ndarray | None], report: dict, *, file: str,
                        column: str) -> None:
    """Every class must be in the training split; one missing from validation or test is a warning."""
    for split, y in splits.items():
        if y is None:
            continue
        missing = [classes[i] for i in sorted(set(range(len(classes))) - set(np.asarray(y).tolist()))]
        if not missing:
            continue
        shown = ", ".join(map(repr, missing[:5]))
        if split == "train":
            raise DataError(f"class(es) {shown} have no example left in the training split after holding out "
                            "the validation and test examples.", file=file, column=column,
                            fix="Add examples of those classes (at least 3 each), or lower data.val_size "
                            "(0 turns validation off).")
        report["warnings"].append(f"class(es) {shown} have no example in the {split} split; "
                                  "their scores there are undefined.")


def drop_missing_labels(frame: pd.DataFrame, column: str, report: dict, *, file: str) -> pd.DataFrame:
    missing = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
    if missing.all():
        raise DataError("every label is missing.", file=file, column=column,
                        fix="Fill in the labels, or pick the label column with --target.")
    if missing.any():
        report["warnings"].append(f"{int(missing.sum())} row(s) without a label in '{column}' were left out.")
    return frame.loc[~missing]


def stratified_split(n: int, labels: np.ndarray, size: float, seed: int, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled, stratified indices (rest, held-out); files are often sorted by class."""
    index = np.arange(n)
    counts = np.bincount(labels)
    n_out = max(int(round(size * n)), len(counts))
    stratify = labels if counts[counts > 0].min() >= 2 and n_out < n - len(counts) + 1 else None
    if n_out >= n:
        setting = "data.test_size" if what == "test" else "data.val_size"
        raise DataError(f"{n} examples are too few for a {what} split with one example of each of the "
                        f"{len(counts)} classes.", field=setting,
                        fix=f"Add examples, or lower {setting}" + (" (0 turns validation off)." if what != "test" else
                                                                 ", or give a separate test file."))
    rest, held = train_test_split(index, test_size=n_out, random_state=seed, shuffle=True, stratify=stratify)
    return np.sort(rest), np.sort(held)


def class_weights(y: np.ndarray, n_classes: int, mode: str) -> np.ndarray | None:
    """Per-example weights that balance classes ('balanced', or 'auto' when imbalance ≥ 3×)."""
    counts = np.bincount(y, minlength=n_classes).astype(float)
    present = counts[counts > 0]
    if mode == "none" or (mode == "auto" and present.max() < 3 * present.min()):
        return None
    weights = len(y) / (len(present) * np.maximum(counts, 1))
    return weights[y].astype("float32")


def balance(y: np.ndarray, classes: list[str]) -> dict:
    counts = np.bincount(y, minlength=len(classes))
    return {c: int(n) for c, n in zip(classes, counts)}


def scores(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall, confusion matrix and (binary) ROC-AUC."""
    y_pred = proba.argmax(axis=1)
    labels = list(range(len(classes)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    result = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_f1": float(np.mean(f1)),
        "per_class": {c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for c, p, r, f, s in zip(classes, precision, recall, f1, support)},
        "confusion": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
    }
    if len(classes) == 2 and len(np.unique(y_true)) == 2:
        result["roc_auc"] = float(skm.roc_auc_score(y_true, proba[:, 1]))
        fpr, tpr, _ = skm.roc_curve(y_true, proba[:, 1])
        result["roc_curve"] = {"fpr": fpr.round(5).tolist(), "tpr": tpr.round(5).tolist()}
    return result


def majority_baseline(y_train: np.ndarray, y_test: np.ndarray, classes: list[str]) -> dict:
    """Scores of always predicting the most frequent training class."""
    proba = np.zeros((len(y_test), len(classes)))
    proba[:, np.bincount(y_train, minlength=len(classes)).argmax()] = 1.0
    return scores(y_test, proba, classes)


def headline(result: dict) -> dict:
    """The compact numbers of a classification score (for tables and --json)."""
    return {k: result[k] for k in ("accuracy", "macro_f1", "roc_auc") if k in result}
