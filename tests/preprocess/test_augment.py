import warnings
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from rnnstudio.errors import StudioError
from rnnstudio.preprocess import augment
from rnnstudio.preprocess.augment import (
    SERIES_AUGMENTERS,
    TEXT_AUGMENTERS,
    augment_series,
    augment_texts,
    replace_synonyms,
    synonyms,
    wordnet_available,
)
from rnnstudio.preprocess.text import OOV, PAD
from rnnstudio.recipe import AugmentSpec

TEXTS = [["the", "cat", "sat", "on", "the", "warm", "mat"], ["a", "happy", "dog", "runs"], ["ok"]]
LABELS = [0, 1, 1]
VOCABULARY = [PAD, OOV, "zebra", "blue"]


def spec(name, strength=0.3, multiplier=1):
    return AugmentSpec(name=name, strength=strength, multiplier=multiplier)


def fake_synsets(table):
    def lookup(word):
        return [SimpleNamespace(lemma_names=lambda names=names: names) for names in table.get(word, [])]

    return lookup


@pytest.fixture
def no_wordnet(monkeypatch):
    monkeypatch.setattr(augment, "wordnet_available", lambda: False)


@pytest.fixture
def fake_wordnet(monkeypatch):
    monkeypatch.setattr(augment, "wordnet_available", lambda: True)
    monkeypatch.setattr(augment, "_synsets", fake_synsets({
        "happy": [["happy", "felicitous", "glad"], ["glad", "well-chosen", "Happy"]],
        "dog": [["dog", "domestic_dog", "Canis_familiaris"], ["frump", "dog"]],
        "cat": [["cat", "true_cat"]],
    }))


# ------------------------------------------------------------------- texts


@pytest.mark.parametrize("name", ["swap", "delete", "insert"])
def test_text_augmenters_change_copies_reproducibly_and_keep_labels(name):
    texts, labels = augment_texts(TEXTS, LABELS, [spec(name, multiplier=2)], 7, VOCABULARY)
    again, _ = augment_texts(TEXTS, LABELS, [spec(name, multiplier=2)], 7, VOCABULARY)
    assert texts == again
    assert len(texts) == 9
    assert texts[:3] == TEXTS
    assert labels.tolist() == LABELS * 3
    assert texts[3] != TEXTS[0] and texts[6] != TEXTS[0]
    assert texts[3] != texts[6]  # each copy is drawn anew


def test_swap_keeps_the_words():
    texts, _ = augment_texts(TEXTS, LABELS, [spec("swap", 0.5)], 0)
    assert [Counter(t) for t in texts[3:]] == [Counter(t) for t in TEXTS]
    assert texts[5] == ["ok"]  # a single word cannot be swapped


def test_delete_removes_the_share_but_keeps_a_word():
    texts, _ = augment_texts(TEXTS, LABELS, [spec("delete", 0.3)], 0)
    assert [len(t) for t in texts[3:]] == [5, 3, 1]  # round(0.3 × 7) = 2, max(1, round(1.2)) = 1
    assert all(word in TEXTS[0] for word in texts[3])
    assert TEXT_AUGMENTERS["delete"](["a", "b"], 1.0, np.random.default_rng(0), []) in (["a"], ["b"])


def test_insert_draws_real_vocabulary_words_only():
    texts, _ = augment_texts(TEXTS, LABELS, [spec("insert", 0.5)], 0, VOCABULARY)
    added = Counter(texts[3]) - Counter(TEXTS[0])
    assert sum(added.values()) == 4  # round(0.5 × 7)
    assert set(added) <= {"zebra", "blue"}
    # Without a vocabulary the text's own words are reused.
    own = TEXT_AUGMENTERS["insert"](["x", "y"], 1.0, np.random.default_rng(0), [])
    assert len(own) == 4 and set(own) == {"x", "y"}


def test_specs_add_copies_in_order():
    texts, labels = augment_texts(TEXTS, np.array(LABELS), [spec("swap"), spec("delete", multiplier=3)], 1)
    assert len(texts) == 3 * (1 + 1 + 3)
    assert labels.tolist() == LABELS * 5
    assert augment_texts(TEXTS, LABELS, [], 1) == (TEXTS, pytest.approx(np.array(LABELS)))


def test_text_augmentation_rejects_series_names_and_label_mismatch():
    with pytest.raises(StudioError, match="swap, delete, insert, synonym"):
        augment_texts(TEXTS, LABELS, [spec("jitter")], 0)
    with pytest.raises(ValueError, match="labels"):
        augment_texts(TEXTS, [0], [spec("swap")], 0)


# ----------------------------------------------------------------- WordNet


def test_synonym_without_wordnet_warns_and_inserts_instead(no_wordnet):
    with pytest.warns(UserWarning, match="WordNet") as record:
        texts, labels = augment_texts(TEXTS, LABELS, [spec("synonym")], 5, VOCABULARY)
    message = str(record[0].message)
    assert "not installed" in message
    assert "python -m nltk.downloader wordnet" in message
    assert "random insertion" in message
    inserted, _ = augment_texts(TEXTS, LABELS, [spec("insert")], 5, VOCABULARY)
    assert texts == inserted
    assert labels.tolist() == LABELS * 2


def test_synonym_with_wordnet_replaces_words(fake_wordnet):
    assert synonyms("happy") == ["felicitous", "glad", "well-chosen"]  # lower-cased, deduplicated, not itself
    assert synonyms("dog") == ["frump"]  # multi-word lemmas left out
    assert synonyms("mat") == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning when WordNet is there
        texts, _ = augment_texts(TEXTS, LABELS, [spec("synonym", 0.5)], 3)
    assert texts[4] != TEXTS[1]
    changed = [(old, new) for old, new in zip(TEXTS[1], texts[4]) if old != new]
    assert changed == [("happy", changed[0][1]), ("dog", "frump")]
    assert changed[0][1] in {"felicitous", "glad", "well-chosen"}
    assert texts[5] == ["ok"]  # nothing to replace


def test_replace_synonyms_stops_after_the_share(fake_wordnet):
    out = replace_synonyms(["happy", "dog", "cat", "x"], 0.25, np.random.default_rng(0), [])
    assert sum(a != b for a, b in zip(out, ["happy", "dog", "cat", "x"])) == 1


def test_synonyms_without_the_corpus_is_empty(monkeypatch):
    def missing(word):
        raise LookupError("Resource wordnet not found.")

    monkeypatch.setattr(augment, "_synsets", missing)
    assert synonyms("happy") == []
    assert replace_synonyms(["happy"], 1.0, np.random.default_rng(0), []) == ["happy"]


def test_wordnet_available_looks_for_folder_or_zip(monkeypatch):
    def find_only(found):
        def find(resource):
            if resource != found:
                raise LookupError(resource)
            return f"/nltk_data/{resource}"

        return find

    monkeypatch.setattr("nltk.data.find", find_only("corpora/wordnet.zip"))
    assert wordnet_available() is True
    monkeypatch.setattr("nltk.data.find", find_only("corpora/other"))
    assert wordnet_available() is False


# ------------------------------------------------------------------ series


@pytest.fixture
def series():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 20, 2)).astype(np.float32), np.array([0, 1, 2])


@pytest.mark.parametrize("name", list(SERIES_AUGMENTERS))
def test_series_augmenters_change_copies_reproducibly_and_keep_shapes(series, name):
    x, y = series
    out_x, out_y = augment_series(x, y, [spec(name, 0.3, multiplier=2)], 11)
    again_x, _ = augment_series(x, y, [spec(name, 0.3, multiplier=2)], 11)
    np.testing.assert_array_equal(out_x, again_x)
    assert out_x.shape == (9, 20, 2) and out_x.dtype == np.float32
    assert out_y.tolist() == [0, 1, 2] * 3
    np.testing.assert_array_equal(out_x[:3], x)
    assert not np.allclose(out_x[3:6], x)
    assert not np.allclose(out_x[3:6], out_x[6:9])
    assert np.isfinite(out_x).all()


@pytest.mark.parametrize("name", list(SERIES_AUGMENTERS))
def test_series_augmenters_leave_padding_alone(series, name):
    x, y = series
    x[0, 15:] = 0.0
    x[2, 1:] = 0.0
    out_x, _ = augment_series(x, y, [spec(name, 0.5)], 2, lengths=[15, 20, 1])
    assert (out_x[3, 15:] == 0).all() and (out_x[5, 1:] == 0).all()
    assert not np.allclose(out_x[3, :15], x[0, :15])


def test_pre_padding_and_truncated_lengths(series):
    x, y = series
    x[0, :5] = 0.0
    out_x, _ = augment_series(x, y, [spec("jitter")], 2, lengths=[15, 20, 40], padding="pre")
    assert (out_x[3, :5] == 0).all()
    assert (out_x[3:, 5:] != x[:, 5:]).all()


def test_jitter_noise_has_the_strength_as_std():
    x = np.zeros((50, 100, 1), dtype=np.float32)
    out, _ = augment_series(x, np.zeros(50), [spec("jitter", 0.2)], 0)
    assert out[50:].std() == pytest.approx(0.2, rel=0.05)


def test_scale_multiplies_each_feature_by_one_factor():
    x = np.ones((1, 10, 2))
    out, _ = augment_series(x, [0], [spec("scale", 0.5)], 0)
    factors = out[1]
    assert np.allclose(factors, factors[0]) and factors[0, 0] != factors[0, 1]


def test_magnitude_warp_is_smooth_around_one():
    x = np.ones((1, 200, 1))
    curve = augment_series(x, [0], [spec("magnitude_warp", 0.2)], 0)[0][1, :, 0]
    assert np.abs(np.diff(curve)).max() < 0.05  # smooth: no jumps between steps
    assert curve.std() > 0.01


def test_window_slice_stretches_a_crop():
    x = np.arange(10.0).reshape(1, 10, 1)
    out = augment_series(x, [0], [spec("window_slice", 0.5)], 0)[0][1, :, 0]
    assert np.all(np.diff(out) > 0)  # still increasing
    assert out[-1] - out[0] == pytest.approx(4.0)  # a 5-step crop spread over 10 steps
    assert np.diff(out) == pytest.approx(np.full(9, 4 / 9))


def test_series_2d_input_and_unknown_name():
    x = np.arange(12.0).reshape(2, 6)
    out, y = augment_series(x, np.array([[1.0], [2.0]]), [spec("jitter")], 0)
    assert out.shape == (4, 6) and y.tolist() == [[1.0], [2.0], [1.0], [2.0]]
    with pytest.raises(StudioError, match="jitter, scale, magnitude_warp, window_slice"):
        augment_series(x, [0, 1], [spec("swap")], 0)
