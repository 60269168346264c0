import json
import math

import numpy as np
import pytest

from rnnstudio.errors import StudioError
from rnnstudio.preprocess.text import (
    OOV,
    PAD,
    TOKENIZERS,
    TextEncoder,
    as_text,
    load_word_vectors,
    pad_sequences,
    suggest_max_length,
)
from rnnstudio.recipe import PreprocessSpec

SENTENCE = "Don't stop — it's 3.5°C in Zürich! 😀 #fun @bob :-) naïve café"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("wordpunct", ["Don", "'", "t", "stop", "—", "it", "'", "s", "3", ".", "5", "°", "C", "in", "Zürich", "!",
                       "😀", "#", "fun", "@", "bob", ":-)", "naïve", "café"]),
        ("treebank", ["Do", "n't", "stop", "—", "it", "'s", "3.5°C", "in", "Zürich", "!", "😀", "#", "fun", "@",
                      "bob", ":", "-", ")", "naïve", "café"]),
        ("tweet", ["Don't", "stop", "—", "it's", "3.5", "°", "C", "in", "Zürich", "!", "😀", "#fun", "@bob", ":-)",
                   "naïve", "café"]),
        ("regexp", ["Don", "'", "t", "stop", "—", "it", "'", "s", "3", ".", "5", "°", "C", "in", "Zürich", "!",
                    "😀", "#", "fun", "@", "bob", ":-)", "naïve", "café"]),
    ],
)
def test_word_tokenizers_give_exact_tokens(name, expected):
    assert TOKENIZERS[name](SENTENCE, r"\w+|[^\w\s]+") == expected


def test_regexp_tokenizer_uses_the_pattern():
    assert TOKENIZERS["regexp"]("It's 3.5 km, naïve!", r"[^\W\d]+") == ["It", "s", "km", "naïve"]


def test_char_tokenizer_collapses_whitespace_runs():
    assert TOKENIZERS["char"]("  Hé,\t\n 😀  x ", "") == ["H", "é", ",", " ", "😀", " ", "x"]


def test_tokenize_lowercases_and_stringifies_non_text():
    encoder = TextEncoder(tokenizer="wordpunct")
    assert encoder.tokenize(["Hello World!", float("nan"), None, 42, 2.5]) == [
        ["hello", "world", "!"], [], [], ["42"], ["2", ".", "5"]]
    assert TextEncoder(lowercase=False).tokenize(["Hello"]) == [["Hello"]]


def test_as_text_treats_missing_values_as_empty():
    assert [as_text(v) for v in (None, float("nan"), np.float32("nan"), np.nan, "x", 7, b"caf\xc3\xa9")] == [
        "", "", "", "", "x", "7", "café"]


@pytest.mark.parametrize("pattern, message", [(r"(\w+", "not a valid"), (r"(\w)+", "capturing groups")])
def test_bad_token_pattern_is_a_studio_error(pattern, message):
    with pytest.raises(StudioError, match=message) as info:
        TextEncoder(tokenizer="regexp", token_pattern=pattern).tokenize(["a b"])
    assert info.value.field == "preprocess.token_pattern"


def test_unknown_tokenizer_lists_choices():
    with pytest.raises(StudioError, match="wordpunct, treebank, tweet, regexp, char"):
        TextEncoder(tokenizer="spacy").tokenize(["a"])


def test_vocabulary_min_freq_and_first_appearance_ties():
    # counts: b 2, a 2, c 2, d 1, e 2 — first seen in the order b, a, c, d, e
    texts = ["b a c", "a b d", "c e", "e"]
    encoder = TextEncoder(min_freq=2).fit(texts)
    assert encoder.vocabulary_ == [PAD, OOV, "b", "a", "c", "e"]
    assert encoder.vocab_size_ == 6
    assert TextEncoder(min_freq=1).fit(texts).vocabulary_ == [PAD, OOV, "b", "a", "c", "e", "d"]


def test_vocabulary_is_ranked_by_count_and_capped_by_max_vocab():
    texts = ["x y y z z z w w w w"]
    assert TextEncoder(min_freq=1).fit(texts).vocabulary_ == [PAD, OOV, "w", "z", "y", "x"]
    assert TextEncoder(min_freq=1, max_vocab=4).fit(texts).vocabulary_ == [PAD, OOV, "w", "z"]
    assert TextEncoder(min_freq=1, max_vocab=2).fit(texts).vocabulary_ == [PAD, OOV]


@pytest.mark.parametrize(
    "padding, truncating, expected",
    [
        ("post", "post", [[2, 3, 4], [3, 1, 0], [1, 0, 0]]),
        ("pre", "post", [[2, 3, 4], [0, 3, 1], [0, 0, 1]]),
        ("post", "pre", [[4, 5, 2], [3, 1, 0], [1, 0, 0]]),
        ("pre", "pre", [[4, 5, 2], [0, 3, 1], [0, 0, 1]]),
    ],
)
def test_transform_exact_ids_padding_and_truncation(padding, truncating, expected):
    encoder = TextEncoder(min_freq=1, max_length=3, padding=padding, truncating=truncating).fit(["a b c d", "a b c"])
    assert encoder.vocabulary_ == [PAD, OOV, "a", "b", "c", "d"]
    out = encoder.transform(["a b c d a", "b unknown", ""])
    assert out.dtype == np.int32
    assert out.tolist() == expected


def test_empty_texts_get_one_oov_step_so_masks_are_never_all_false():
    encoder = TextEncoder(min_freq=1, max_length=4).fit(["hello there"])
    assert encoder.transform(["", None, float("nan"), "  ", "hello"]).tolist() == [
        [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0]]
    assert encoder.encode([[], ["there", "zzz"]]) == [[1], [3, 1]]


def test_max_length_is_the_percentile_of_training_lengths():
    texts = [" ".join(["w"] * n) for n in range(1, 101)]  # lengths 1..100
    encoder = TextEncoder(min_freq=1).fit(texts)
    assert encoder.max_length_ == 96  # ceil(95.05)
    assert encoder.coverage_ == pytest.approx(0.96)
    assert encoder.lengths_ == {"min": 1, "median": 50.5, "p95": pytest.approx(95.05), "max": 100, "mean": 50.5}
    assert TextEncoder(min_freq=1, length_percentile=50).fit(texts).max_length_ == 51
    assert TextEncoder(min_freq=1, max_length=10).fit(texts).max_length_ == 10
    assert suggest_max_length(range(1, 101), 95) == math.ceil(np.percentile(np.arange(1, 101), 95)) == 96
    assert suggest_max_length([0, 0, 0], 95) == 1
    assert suggest_max_length([], 95) == 1


def test_to_dict_json_round_trip_gives_identical_tensors():
    encoder = TextEncoder(tokenizer="tweet", min_freq=1, padding="pre", truncating="pre").fit(
        ["Great movie :-) #love", "Awful. Just awful...", "great, GREAT acting"])
    restored = TextEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    texts = ["GREAT :-) unseen words", "", "awful acting #love #love #love #love"]
    np.testing.assert_array_equal(restored.transform(texts), encoder.transform(texts))
    assert restored.vocabulary_ == encoder.vocabulary_
    assert restored.vocab_size_ == encoder.vocab_size_
    assert restored.to_dict() == encoder.to_dict()


def test_from_spec_copies_the_settings():
    spec = PreprocessSpec(tokenizer="char", lowercase=False, max_vocab=50, min_freq=3, max_length=7, padding="pre")
    encoder = TextEncoder.from_spec(spec)
    assert (encoder.tokenizer, encoder.lowercase, encoder.max_vocab, encoder.min_freq, encoder.max_length,
            encoder.padding) == ("char", False, 50, 3, 7, "pre")
    assert not hasattr(encoder, "vocabulary_")


def test_transform_before_fit_is_an_error():
    with pytest.raises(RuntimeError, match="not fitted"):
        TextEncoder().transform(["a"])


def test_pad_sequences_float_steps():
    seqs = [np.array([[1.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])]
    post = pad_sequences(seqs, 2, dtype="float32")
    assert post.shape == (2, 2, 2) and post.dtype == np.float32
    assert post.tolist() == [[[1, 2], [0, 0]], [[1, 1], [2, 2]]]
    pre = pad_sequences(seqs, 2, padding="pre", truncating="pre", value=-1.0, dtype="float32")
    assert pre.tolist() == [[[-1, -1], [1, 2]], [[2, 2], [3, 3]]]
    assert pad_sequences([], 3).shape == (0, 3)


def test_pad_sequences_rejects_bad_settings():
    with pytest.raises(StudioError, match="post, pre"):
        pad_sequences([[1]], 2, padding="middle")
    with pytest.raises(StudioError, match="at least 1"):
        pad_sequences([[1]], 0)


# ------------------------------------------------------------ word vectors


def write(tmp_path, text):
    path = tmp_path / "vectors.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_word_vectors_fills_known_rows_and_zero_padding(tmp_path):
    path = write(tmp_path, "4 2\nthe 1.0 2.0\ncat -1 0.5\nnew york 3 4\nzebra 0 0\n")
    vocabulary = [PAD, OOV, "the", "cat", "dog", "new york"]
    matrix, found = load_word_vectors(path, vocabulary)
    assert matrix.shape == (6, 2) and matrix.dtype == np.float32
    assert matrix[0].tolist() == [0.0, 0.0]
    assert matrix[2].tolist() == [1.0, 2.0]
    assert matrix[3].tolist() == [-1.0, 0.5]
    assert matrix[5].tolist() == [3.0, 4.0]
    assert found == pytest.approx(3 / 4)
    again, _ = load_word_vectors(path, vocabulary, 2)
    np.testing.assert_array_equal(again, matrix)  # the random rows are seeded
    assert not np.allclose(matrix[4], 0)


def test_load_word_vectors_without_header(tmp_path):
    matrix, found = load_word_vectors(write(tmp_path, "a 1 2 3\nb 4 5 6\n"), [PAD, OOV, "b"])
    assert matrix[2].tolist() == [4, 5, 6] and found == 1.0


@pytest.mark.parametrize(
    "text, dim, row, message",
    [
        ("a 1 2\nb 3\n", None, 2, "1 numbers"),
        ("a 1 2\nb 3 x\n", None, 2, "not a number"),
        ("a 1 2\n", 3, 1, "not the expected 3"),
        ("10 3\na 1 2 3\n", 2, 1, "not the expected 2"),
    ],
)
def test_load_word_vectors_reports_file_and_line(tmp_path, text, dim, row, message):
    path = write(tmp_path, text)
    with pytest.raises(StudioError, match=message) as info:
        load_word_vectors(path, [PAD, OOV, "a"], dim)
    assert info.value.file == str(path)
    assert info.value.row == row


def test_load_word_vectors_missing_or_empty_file(tmp_path):
    with pytest.raises(StudioError, match="cannot open"):
        load_word_vectors(tmp_path / "nope.txt", [PAD])
    with pytest.raises(StudioError, match="no vectors"):
        load_word_vectors(write(tmp_path, "\n"), [PAD])
