"""Conformance of every model-zoo family: builds, trains, saves, masks.

Real Keras models at tiny sizes; no mocks. Every registered family is checked
against every input kind it declares, so a new family is covered as soon as it
is registered.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import rnnstudio.zoo.layers  # noqa: E402,F401 - registers the custom layers before any load
from rnnstudio.zoo import registry  # noqa: E402
from rnnstudio.zoo.layers import AttentionPooling, LastStep, MaskedGlobalMaxPooling1D  # noqa: E402
from rnnstudio.zoo.registry import InputSpec, ModelSpec, build_model, get_model, list_models, register_model  # noqa: E402
from rnnstudio.zoo.rnn import RNNSpec, cudnn_blockers  # noqa: E402

SEQ_LEN = 12
VOCAB = 50
N_OUT = 3
INPUT_SPECS = {
    "tokens": InputSpec("tokens", seq_len=SEQ_LEN, n_features=1, vocab_size=VOCAB),
    "numeric": InputSpec("numeric", seq_len=SEQ_LEN, n_features=3),
}
# Small widths for whichever of these a family's spec has; dropout off so
# every path carries gradient in the training-step check.
SMALL = {
    "units": 4, "embedding_dim": 8, "filters": [4, 4], "kernel_sizes": [3, 3],
    "d_model": 8, "ff_dim": 8, "heads": 2, "dropout": 0.0, "embedding_dropout": 0.0,
}

# Non-default options that add layers (and weights) of their own.
VARIANTS = {
    "rnn": {"deep": {"layers": 2, "bidirectional": True, "residual": True, "layer_norm": True,
                     "self_attention_heads": 2, "pooling": "attention_additive"},
            "simple": {"cell": "simple_rnn", "pooling": "max_mean"}},
    "conv_rnn": {"stacked": {"arrangement": "stacked", "cell": "gru", "bidirectional": True}},
    "transformer": {"attn": {"blocks": 1, "pooling": "attention_dot"}},
}
CASES = [(name, kind, variant, extra)
         for name in list_models()
         for kind in get_model(name).inputs
         for variant, extra in {"default": {}, **VARIANTS.get(name, {})}.items()]


def small_spec(name: str, **extra) -> ModelSpec:
    spec_cls = get_model(name).spec
    values = {k: v for k, v in {**SMALL, **extra}.items() if k in spec_cls.model_fields}
    return spec_cls(name=name, **values)


def batch(kind: str, n: int = 6, seed: int = 0) -> np.ndarray:
    """A random batch; token rows have 1..4 trailing pads and never are all padding."""
    rng = np.random.default_rng(seed)
    if kind == "tokens":
        x = rng.integers(1, VOCAB, size=(n, SEQ_LEN)).astype("int32")
        for i in range(n):
            x[i, SEQ_LEN - 1 - i % 4:] = 0
        assert (x[:, 0] >= 1).all() and (x == 0).any()
        return x
    return rng.normal(size=(n, SEQ_LEN, 3)).astype("float32")


@pytest.fixture(params=CASES, ids=[f"{n}-{k}-{v}" for n, k, v, _ in CASES])
def case(request):
    name, kind, _, extra = request.param
    keras.utils.set_random_seed(1)
    model = build_model(small_spec(name, **extra), input_spec=INPUT_SPECS[kind], n_outputs=N_OUT, activation="softmax")
    return name, kind, model


def test_every_family_is_covered():
    assert {"rnn", "conv_rnn", "transformer"} <= set(list_models())
    for name in list_models():
        entry = get_model(name)
        assert entry.inputs and set(entry.inputs) <= {"tokens", "numeric"}
        assert "Use when" in entry.doc and entry.title


def test_builds_and_predicts_a_distribution(case):
    name, kind, model = case
    assert isinstance(model, keras.Model)
    assert model.name == name
    assert tuple(model.output.shape) == (None, N_OUT)
    pred = np.asarray(model.predict(batch(kind), verbose=0))
    assert pred.shape == (6, N_OUT)
    assert np.isfinite(pred).all()
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-5)


def test_one_step_changes_every_trainable_weight(case):
    name, kind, model = case
    x = batch(kind, seed=1)
    y = keras.utils.to_categorical(np.arange(len(x)) % N_OUT, N_OUT)
    optimizer = keras.optimizers.Adam(1e-2)
    before = [np.array(v.numpy()) for v in model.trainable_variables]
    assert before, "a model with no trainable weights"
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = keras.losses.categorical_crossentropy(y, pred)
        loss = tf.reduce_mean(loss) + sum(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing, f"no gradient reaches {missing}"
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    unchanged = [v.path for v, b in zip(model.trainable_variables, before) if not np.any(b != v.numpy())]
    assert not unchanged, f"weights not updated by one step: {unchanged}"


def test_save_load_round_trip_gives_same_predictions(case, tmp_path):
    name, kind, model = case
    x = batch(kind, seed=2)
    expected = np.asarray(model.predict(x, verbose=0))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.name == name
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), expected, atol=1e-6)


# ------------------------------------------------------------------ masking

POOLINGS = ["last", "mean", "max", "max_mean", "attention_additive", "attention_dot"]


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_rnn_output_ignores_the_length_of_padding(pooling, bidirectional):
    """Variable-length token input: 2 or 7 trailing pads must give the same output."""
    keras.utils.set_random_seed(2)
    spec = small_spec("rnn", pooling=pooling, bidirectional=bidirectional, cell="gru" if bidirectional else "lstm")
    model = build_model(spec, input_spec=InputSpec("tokens", seq_len=None, vocab_size=VOCAB),
                        n_outputs=N_OUT, activation="softmax")
    row = np.array([5, 17, 3, 42, 8], dtype="int32")
    short = np.concatenate([row, np.zeros(2, "int32")])[None]
    long = np.concatenate([row, np.zeros(7, "int32")])[None]
    unpadded = row[None]
    out_short = np.asarray(model(short, training=False))
    np.testing.assert_allclose(np.asarray(model(long, training=False)), out_short, atol=1e-6)
    np.testing.assert_allclose(np.asarray(model(unpadded, training=False)), out_short, atol=1e-6)
    # ...while a real token in the tail does change it (the check can fail).
    changed = np.concatenate([row, [9, 0]]).astype("int32")[None]
    assert not np.allclose(np.asarray(model(changed, training=False)), out_short, atol=1e-6)


def test_rnn_masking_with_fixed_lengths_shares_weights():
    """The same weights built at max_length 8 and 12 agree on a post-padded row."""
    keras.utils.set_random_seed(3)
    spec = small_spec("rnn", pooling="attention_additive")
    m8 = build_model(spec, input_spec=InputSpec("tokens", seq_len=8, vocab_size=VOCAB), n_outputs=N_OUT, activation="softmax")
    m12 = build_model(spec, input_spec=InputSpec("tokens", seq_len=12, vocab_size=VOCAB), n_outputs=N_OUT, activation="softmax")
    m12.set_weights(m8.get_weights())
    row = np.array([4, 9, 33, 2, 11, 6], dtype="int32")
    x8 = np.pad(row, (0, 2))[None]
    x12 = np.pad(row, (0, 6))[None]
    np.testing.assert_allclose(np.asarray(m12(x12)), np.asarray(m8(x8)), atol=1e-6)


# ----------------------------------------------------------------- registry


def _throwaway_builder(spec, *, input_spec, n_outputs, activation):
    """A test family.

    Use when: testing the registry.

    Alternatives: none.
    """
    raise AssertionError("never built")


def test_registry_refuses_duplicates_and_undocumented_builders():
    name = "zz_conformance_throwaway"
    assert name not in list_models()
    try:
        register_model(name, spec=RNNSpec, title="Throwaway")(_throwaway_builder)
        assert name in list_models()
        assert get_model(name).doc.startswith("A test family.")
        with pytest.raises(ValueError, match="already registered"):
            register_model(name, spec=RNNSpec, title="Again")(_throwaway_builder)
        with pytest.raises(ValueError, match="already registered"):
            register_model("rnn", spec=RNNSpec, title="Again")(_throwaway_builder)
    finally:
        registry._REGISTRY.pop(name, None)
    assert name not in list_models()

    def undocumented(spec, *, input_spec, n_outputs, activation):
        """Builds something, but never says when to use it."""

    other = "zz_conformance_undocumented"
    try:
        with pytest.raises(TypeError, match="Use when"):
            register_model(other, spec=RNNSpec, title="Undocumented")(undocumented)
        assert other not in registry._REGISTRY
    finally:
        registry._REGISTRY.pop(other, None)


def test_registry_refuses_bad_signatures_and_specs():
    name = "zz_conformance_badsig"
    try:
        def positional(spec, input_spec, n_outputs):
            """Use when: never."""

        with pytest.raises(TypeError, match="input_spec, n_outputs, activation"):
            register_model(name, spec=RNNSpec, title="Bad")(positional)
        with pytest.raises(TypeError, match="ModelSpec"):
            register_model(name, spec=dict, title="Bad")(_throwaway_builder)
        assert name not in registry._REGISTRY
    finally:
        registry._REGISTRY.pop(name, None)


def test_get_model_unknown_lists_families():
    with pytest.raises(KeyError) as info:
        get_model("nope")
    for name in list_models():
        assert name in str(info.value)


def test_cudnn_blockers():
    assert cudnn_blockers(RNNSpec(cell="lstm")) == []
    assert cudnn_blockers(RNNSpec(cell="gru")) == []
    assert cudnn_blockers(RNNSpec(cell="gru", bidirectional=True, layers=3)) == []
    reasons = cudnn_blockers(RNNSpec(cell="lstm", recurrent_dropout=0.2))
    assert len(reasons) == 1 and "recurrent_dropout" in reasons[0]
    reasons = cudnn_blockers(RNNSpec(cell="simple_rnn"))
    assert reasons and "SimpleRNN" in reasons[0]


# ------------------------------------------------- custom layers, pinned maths


X = np.array([[[1.0, 2.0], [3.0, -4.0], [100.0, 50.0], [7.0, 9.0]]], dtype="float32")
MASK = np.array([[True, True, False, False]])


def test_dot_attention_with_zero_query_is_the_masked_mean():
    layer = AttentionPooling("dot")
    layer.build(X.shape)
    layer.query.assign(np.zeros(2, "float32"))
    out = np.asarray(layer(X, mask=MASK))
    np.testing.assert_array_equal(out, [[2.0, -1.0]])
    weights = np.asarray(layer.attention_scores(X, MASK))
    np.testing.assert_array_equal(weights, [[0.5, 0.5, 0.0, 0.0]])
    # Without a mask, the mean of all four steps.
    np.testing.assert_allclose(np.asarray(layer(X)), [[27.75, 14.25]], rtol=1e-6)


def test_attention_pooling_fully_masked_row_stays_finite_and_config_round_trips():
    layer = AttentionPooling("additive", units=5)
    out = np.asarray(layer(X, mask=np.zeros((1, 4), bool)))
    assert np.isfinite(out).all()
    clone = AttentionPooling.from_config(layer.get_config())
    assert (clone.score, clone.units) == ("additive", 5)
    with pytest.raises(ValueError, match="score"):
        AttentionPooling("cosine")


def test_masked_global_max_ignores_masked_steps():
    layer = MaskedGlobalMaxPooling1D()
    np.testing.assert_array_equal(np.asarray(layer(X, mask=MASK)), [[3.0, 2.0]])
    np.testing.assert_array_equal(np.asarray(layer(X)), [[100.0, 50.0]])
    # Negative values under the mask: still the max of the real steps.
    neg = -np.abs(X)
    np.testing.assert_array_equal(np.asarray(layer(neg, mask=np.array([[False, True, True, False]]))), [[-3.0, -4.0]])


def test_last_step_returns_last_unmasked_step():
    layer = LastStep()
    two = np.concatenate([X, X[:, ::-1]], axis=0)
    mask = np.array([[True, True, False, False], [True, True, True, False]])
    np.testing.assert_array_equal(np.asarray(layer(two, mask=mask)), [[3.0, -4.0], [3.0, -4.0]])
    np.testing.assert_array_equal(np.asarray(layer(X)), [[7.0, 9.0]])
    np.testing.assert_array_equal(np.asarray(layer(X, mask=np.array([[True, True, True, True]]))), [[7.0, 9.0]])


def test_transformer_needs_a_fixed_length():
    with pytest.raises(ValueError, match="max_length"):
        build_model(small_spec("transformer"), input_spec=InputSpec("tokens", seq_len=None, vocab_size=VOCAB),
                    n_outputs=N_OUT, activation="softmax")
