"""Text classification: a text column and a label column (CSV, TSV, or TXT with text<TAB>label)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudio.errors import DataError
from rnnstudio.limits import MAX_PREDICT_TEXT_CHARS
from rnnstudio.preprocess.augment import augment_texts
from rnnstudio.preprocess.text import TextEncoder, pad_sequences
from rnnstudio.tasks import classification as cls
from rnnstudio.tasks.base import Prepared, Split, Task, frame_overview, length_stats, register_task, require_column
from rnnstudio.zoo.registry import InputSpec


def infer_text_column(frame: pd.DataFrame, target: str | None) -> str | None:
    """The column with the longest strings on average (the issue's rule), or None."""
    best, best_len = None, 0.0
    for column in frame.columns:
        if column == target or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        mean_len = frame[column].dropna().astype(str).str.len().mean()
        if mean_len and mean_len > best_len:
            best, best_len = column, float(mean_len)
    return best


class TextPipeline:
    """Raw text → padded token ids; labels ↔ class indices. Fitted on the training split."""

    def __init__(self, *, text_column: str, target: str, encoder: TextEncoder, classes: list[str]):
        self.text_column = text_column
        self.target = target
        self.encoder = encoder
        self.classes = classes

    def texts(self, frame: pd.DataFrame, *, file: str | None = None) -> list[str]:
        if self.text_column not in frame.columns:
            raise DataError(f"there is no text column '{self.text_column}'.", file=file,
                            fix=f"Give a file with a '{self.text_column}' column (the model was trained on it); "
                            f"its columns are: {', '.join(map(str, frame.columns))}.")
        return frame[self.text_column].fillna("").astype(str).tolist()

    def transform_x(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.transform(self.texts(frame))

    def transform_tokens(self, token_lists: list[list[str]]) -> np.ndarray:
        ids = [np.asarray(s or [1], dtype="int32") for s in self.encoder.encode(token_lists)]
        return pad_sequences(ids, self.encoder.max_length_, padding=self.encoder.padding,
                             truncating=self.encoder.truncating, dtype="int32")

    def transform_y(self, frame: pd.DataFrame, *, file: str = "data") -> np.ndarray:
        return cls.encode_labels(frame[self.target], self.classes, file=file, column=self.target)

    def decode(self, proba: np.ndarray) -> list[str]:
        return [self.classes[i] for i in proba.argmax(axis=1)]

    def to_dict(self) -> dict:
        return {"kind": "text", "text_column": self.text_column, "target": self.target,
                "encoder": self.encoder.to_dict(), "classes": self.classes}

    @classmethod
    def from_dict(cls_, data: dict) -> "TextPipeline":
        return cls_(text_column=data["text_column"], target=data["target"],
                    encoder=TextEncoder.from_dict(data["encoder"]), classes=list(data["classes"]))


def check_text_lengths(texts: list[str], *, file: str | None = None, limit: int = MAX_PREDICT_TEXT_CHARS) -> None:
    """Refuses texts to predict that are longer than ``limit`` characters, naming the first (1-based)."""
    for number, text in enumerate(texts, start=1):
        if len(text) > limit:
            raise DataError(f"text {number} is {len(text):,} characters long, more than the limit of {limit:,} "
                            "for a prediction.", file=file, row=number,
                            fix="Shorten it or split it into several texts; the model reads only its first "
                            "max_length tokens anyway.")


@register_task
class TextClassification(Task):
    name = "text-classification"
    title = "Text classification"
    input_kind = "tokens"
    loss = "sparse_categorical_crossentropy"
    activation = "softmax"
    monitor_metric = "accuracy"
    pipeline_class = TextPipeline
    data_fields = ("target", "text_column", "test_size", "val_size", "seed")
    preprocess_fields = ("tokenizer", "token_pattern", "lowercase", "max_vocab", "min_freq", "max_length",
                         "length_percentile", "padding", "truncating")
    augmentations = ("swap", "delete", "insert", "synonym")
    hidden_model_fields = ("linear_skip",)

    def named_columns(self, data):
        return [(data.text_column, "text", "data.text_column")]

    def check_roles(self, recipe, frame, *, name):
        super().check_roles(recipe, frame, name=name)
        data, target = recipe.data, recipe.data.target
        if data.text_column == target:
            raise DataError(f"the text column '{target}' is also the label column.", file=name, column=target,
                            field="data.text_column", fix="Pick the column holding the texts as the text column.")
        if data.text_column and pd.api.types.is_numeric_dtype(frame[data.text_column]):
            raise DataError(f"the text column '{data.text_column}' holds numbers, not text.", file=name,
                            column=data.text_column, field="data.text_column",
                            fix="Pick the column holding the texts, or use sequence-classification for numeric series.")
        cls.check_label_column(frame, target, file=name)

    def prepare_data(self, recipe, frame, test_frame, *, name):
        data, pre = recipe.data, recipe.preprocess
        report = frame_overview(frame, name=name)
        target = require_column(frame, data.target, role="label", file=name, option="--target")
        text_column = data.text_column or infer_text_column(frame, target)
        if text_column is None:
            raise DataError("no text column found (every column other than the label holds numbers).", file=name,
                            fix="Name the text column with --set data.text_column=NAME, or use sequence-classification for numbers.")
        require_column(frame, text_column, role="text", file=name, option="--set data.text_column=NAME")
        report["roles"] = {"text": text_column, "label": target}
        frame = cls.drop_missing_labels(frame, target, report, file=name)
        labels = cls.label_strings(frame[target])
        if test_frame is None:
            classes = cls.fit_classes(labels, file=name, column=target)
            y_all = labels.map({c: i for i, c in enumerate(classes)}).to_numpy("int32")
            rest, held = cls.stratified_split(len(frame), y_all, data.test_size, data.seed, what="test")
            train_frame, test_frame = frame.iloc[rest], frame.iloc[held]
        else:
            train_frame = frame
            classes = cls.fit_classes(labels, file=name, column=target)
        pipeline = TextPipeline(text_column=text_column, target=target,
                                encoder=TextEncoder.from_spec(pre), classes=classes)
        y_train_all = pipeline.transform_y(train_frame, file=name)
        val_frame = None
        if data.val_size > 0:
            rest, held = cls.stratified_split(len(train_frame), y_train_all, data.val_size, data.seed + 1, what="validation")
            train_frame, val_frame = train_frame.iloc[rest], train_frame.iloc[held]
        texts = pipeline.texts(train_frame)
        pipeline.encoder.fit(texts)
        tokens = pipeline.encoder.tokenize(texts)
        _check_vocabulary(pipeline.encoder, tokens, file=name, column=text_column)
        y_train = y_train_raw = pipeline.transform_y(train_frame, file=name)
        if pre.augment:
            rng = np.random.default_rng(recipe.train.seed)
            tokens, y_train = augment_texts(tokens, y_train, pre.augment, rng, pipeline.encoder.vocabulary_[2:])
            y_train = np.asarray(y_train, dtype="int32")
        train = Split(pipeline.transform_tokens(tokens), y_train, {"texts": texts})
        val = None if val_frame is None else Split(pipeline.transform_x(val_frame), pipeline.transform_y(val_frame, file=name))
        test = Split(pipeline.transform_x(test_frame), pipeline.transform_y(test_frame, file=data.test_source or name),
                     {"texts": pipeline.texts(test_frame), "train_texts": texts, "train_y": y_train_raw})
        cls.check_split_classes(classes, {"train": y_train_raw, "validation": None if val is None else val.y,
                                          "test": test.y}, report, file=name, column=target)
        lengths = np.array([len(t) for t in pipeline.encoder.tokenize(pipeline.texts(frame))])
        report.update({
            "class_balance": cls.balance(pipeline.transform_y(frame, file=name), classes) if data.test_source is None else
            cls.balance(y_train_all, classes),
            "lengths": length_stats(lengths),
            "max_length": pipeline.encoder.max_length_,
            "coverage": float(np.mean(lengths <= pipeline.encoder.max_length_)),
            "vocab_size": pipeline.encoder.vocab_size_,
            "splits": {"train": len(train), "val": 0 if val is None else len(val), "test": len(test)},
        })
        report["warnings"] += _text_warnings(report, lengths)
        return Prepared(train=train, val=val, test=test, pipeline=pipeline,
                        input_spec=InputSpec("tokens", pipeline.encoder.max_length_, 1, pipeline.encoder.vocab_size_),
                        n_outputs=len(classes), report=report,
                        sample_weight=cls.class_weights(train.y, len(classes), recipe.train.class_weights))

    def split_for(self, pipeline, frame, *, file):
        require_column(frame, pipeline.target, role="label", file=file, option="a label column")
        return Split(pipeline.transform_x(frame), pipeline.transform_y(frame, file=file))

    def evaluate(self, pipeline, predict, split):
        proba = predict(split.x)
        result = {"test": cls.scores(split.y, proba, pipeline.classes)}
        train_y = split.extra.get("train_y")
        baselines = {}
        if train_y is not None:
            baselines["majority_class"] = cls.majority_baseline(train_y, split.y, pipeline.classes)
            if "train_texts" in split.extra and "texts" in split.extra:
                baselines["bag_of_words_logistic"] = bag_of_words_baseline(
                    pipeline, split.extra["train_texts"], train_y, split.extra["texts"], split.y)
        result["baseline"] = baselines
        return result


def bag_of_words_baseline(pipeline: TextPipeline, train_texts, train_y, test_texts, test_y) -> dict:
    """Scores of a logistic regression on word and word-pair counts with the same tokenizer."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = CountVectorizer(tokenizer=lambda t: pipeline.encoder.tokenize([t])[0], lowercase=False,
                                 token_pattern=None, ngram_range=(1, 2), min_df=1, binary=True)
    features = vectorizer.fit_transform(train_texts)
    model = LogisticRegression(max_iter=2000, C=1.0).fit(features, train_y)
    proba = np.zeros((len(test_texts), len(pipeline.classes)))
    proba[:, model.classes_] = model.predict_proba(vectorizer.transform(test_texts))
    return cls.scores(test_y, proba, pipeline.classes)


def _check_vocabulary(encoder: TextEncoder, tokens: list[list[str]], *, file: str, column: str) -> None:
    """Refuses a vocabulary without a single real token: every text would read as unknown words."""
    if encoder.vocab_size_ > 2:
        return
    if not any(tokens):
        raise DataError("the training texts contain no words at all (only spaces or punctuation the tokenizer drops).",
                        file=file, column=column, field="preprocess.tokenizer",
                        fix="Check that this is the text column, or choose preprocess.tokenizer=char.")
    raise DataError(f"no word occurs at least {encoder.min_freq} times in the training texts, so the vocabulary is empty.",
                    file=file, column=column, field="preprocess.min_freq",
                    fix="Lower preprocess.min_freq to 1, give more texts, or use preprocess.tokenizer=char.")


def _text_warnings(report: dict, lengths: np.ndarray) -> list[str]:
    warnings = []
    counts = list(report["class_balance"].values())
    if counts and max(counts) >= 3 * max(min(counts), 1):
        warnings.append("classes are imbalanced (largest ≥ 3× smallest): macro-F1 says more than accuracy; class weights are on (train.class_weights=auto).")
    if len(lengths) and (lengths == 0).mean() > 0.05:
        warnings.append(f"{int((lengths == 0).sum())} texts are empty.")
    if report["splits"]["train"] < 200:
        warnings.append("fewer than 200 training examples: expect a weak model; the baselines show what is reachable.")
    return warnings
