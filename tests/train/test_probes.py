"""Probes measure the network's inside: numbers checked against Keras itself and against known behaviour."""

import json

import keras
import numpy as np
import pytest

from rnnstudio.runs.probe_files import probe_records, write_probe
from rnnstudio.train.probes import (
    Probe,
    attention_weights,
    gate_activations,
    hidden_pca,
    hidden_states,
    layer_inputs,
    recurrent_forward,
    time_gradient_norms,
)
from rnnstudio.zoo.layers import AttentionPooling

MSE = keras.losses.MeanSquaredError(reduction=None)
XENT = keras.losses.SparseCategoricalCrossentropy(reduction=None)


def adding_problem(n: int, steps: int, seed: int):
    """The adding problem (Hochreiter & Schmidhuber 1997): a value and a marker channel; the target is
    the sum of the two marked values, one marked in each half."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, steps, 2), "float32")
    x[:, :, 0] = rng.uniform(size=(n, steps))
    rows = np.arange(n)
    x[rows, rng.integers(0, steps // 2, n), 1] = 1.0
    x[rows, rng.integers(steps // 2, steps, n), 1] = 1.0
    return x, (x[:, :, 0] * x[:, :, 1]).sum(axis=1, keepdims=True)


def decay(model, x, y) -> float:
    """‖∂loss/∂x_0‖ / ‖∂loss/∂x_T‖: how much gradient reaches the first step compared with the last."""
    norms = time_gradient_norms(model, x, y, MSE)
    return float(norms[0] / norms[-1])


@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_through_time_vanishes_far_faster_in_a_trained_simple_rnn_than_in_an_lstm(seed):
    steps = 50
    x, y = adding_problem(512, steps, seed=0)
    ratios = {}
    for cell in (keras.layers.SimpleRNN, keras.layers.LSTM):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((steps, 2))
        # glorot recurrent weights (a zoo option): with Keras' orthogonal default an *untrained* SimpleRNN
        # keeps its gradient (tanh is near-linear there) while the LSTM's forget gates (≈σ(1)) shrink it.
        model = keras.Model(inputs, keras.layers.Dense(1)(cell(16, recurrent_initializer="glorot_uniform")(inputs)))
        untrained = decay(model, x[:32], y[:32])
        model.compile(keras.optimizers.Adam(0.01), "mse")
        model.fit(x, y, epochs=3, batch_size=32, verbose=0)
        ratios[cell.__name__] = (untrained, decay(model, x[:32], y[:32]))
    for untrained, trained in ratios.values():
        assert 0 < trained < 1 and 0 < untrained < 10  # gradient fades with distance from the loss
    # Briefly trained, the SimpleRNN lets at least 10x less gradient reach the first step than the LSTM
    # (measured: 1e-13..1e-6 against 3e-5..2e-4).
    assert ratios["SimpleRNN"][1] < ratios["LSTM"][1] / 10


def recurrent_model(cell, **kwargs):
    inputs = keras.Input((7, 3))
    masked = keras.layers.Masking(0.0)(inputs)
    sequence = cell(5, return_sequences=True, name="recurrent", **kwargs)(masked)
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(sequence))
    return keras.Model(inputs, outputs), keras.Model(inputs, sequence)


def padded_batch():
    x = np.random.default_rng(3).normal(size=(6, 7, 3)).astype("float32")
    x[0, 4:] = 0.0  # two padded examples: masked steps keep the previous state
    x[1, 6:] = 0.0
    return x


@pytest.mark.parametrize("cell,kwargs", [(keras.layers.LSTM, {}), (keras.layers.GRU, {}),
                                         (keras.layers.GRU, {"reset_after": False}), (keras.layers.SimpleRNN, {})],
                         ids=["lstm", "gru", "gru_reset_before", "simple_rnn"])
def test_hidden_states_recomputed_from_the_weights_equal_the_layers_own_output(cell, kwargs):
    keras.utils.set_random_seed(1)
    model, sequence = recurrent_model(cell, **kwargs)
    x = padded_batch()
    np.testing.assert_allclose(hidden_states(model, x), sequence(x).numpy(), atol=1e-5)


def test_gates_are_consistent_with_the_states_they_produce():
    keras.utils.set_random_seed(2)
    model, sequence = recurrent_model(keras.layers.LSTM)
    x = padded_batch()[2:]  # unpadded rows
    layer = model.get_layer("recurrent")
    fwd = recurrent_forward(layer, *layer_inputs(model, layer, x))
    g = fwd.gates
    c = np.zeros((len(x), 5))
    for t in range(x.shape[1]):  # LSTM: c_t = f·c_{t-1} + i·g, h_t = o·tanh(c_t)
        c = g["forget"][:, t] * c + g["input"][:, t] * g["cell"][:, t]
        np.testing.assert_allclose(g["output"][:, t] * np.tanh(c), sequence(x).numpy()[:, t], atol=1e-5)

    keras.utils.set_random_seed(2)
    model, sequence = recurrent_model(keras.layers.GRU)
    layer = model.get_layer("recurrent")
    fwd = recurrent_forward(layer, *layer_inputs(model, layer, x))
    h, out = np.zeros((len(x), 5)), sequence(x).numpy()
    for t in range(x.shape[1]):  # GRU: h_t = z·h_{t-1} + (1 - z)·candidate
        h = fwd.gates["update"][:, t] * h + (1 - fwd.gates["update"][:, t]) * fwd.gates["candidate"][:, t]
        np.testing.assert_allclose(h, out[:, t], atol=1e-5)


def test_gate_activations_stay_in_range_and_saturation_is_a_share():
    keras.utils.set_random_seed(4)
    model, _ = recurrent_model(keras.layers.LSTM)
    x = padded_batch()
    gates = gate_activations(model, x)["recurrent"]
    assert set(gates) == {"input", "forget", "cell", "output"}
    assert gates["forget"].shape == (6 * 7 - 3 - 1, 5)  # only the real steps
    for name in ("input", "forget", "output"):
        assert 0.0 <= gates[name].min() and gates[name].max() <= 1.0
    record = Probe(model, x, np.zeros((6, 2), "float32"), loss_fn=MSE).record(0, 0)
    saturated = {k: v["saturated"] for k, v in record["gates"]["recurrent"]["gates"].items()}
    assert all(0.0 <= s <= 1.0 for s in saturated.values())
    # Huge input weights drive every gate to its limits: saturation reads (almost) 1.
    layer = model.get_layer("recurrent")
    layer.cell.kernel.assign(layer.cell.kernel.numpy() * 1000)
    record = Probe(model, x[2:], np.zeros((4, 2), "float32"), loss_fn=MSE).record(1, 1)
    assert all(v["saturated"] > 0.9 for v in record["gates"]["recurrent"]["gates"].values())


def text_model(seq_len=9, vocab=30):
    inputs = keras.Input((seq_len,), dtype="int32")
    x = keras.layers.Embedding(vocab, 4, mask_zero=True, name="embedding")(inputs)
    x = keras.layers.Bidirectional(keras.layers.GRU(6, return_sequences=True), name="bigru")(x)
    x = AttentionPooling("additive", units=8, name="attention_pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="output")(x))


def token_batch(n=12, seq_len=9, vocab=30):
    x = np.random.default_rng(5).integers(2, vocab, size=(n, seq_len)).astype("int32")
    x[:4, 6:] = 0  # post-padding
    return x, np.arange(n) % 3


def test_attention_weights_sum_to_one_and_skip_padding():
    keras.utils.set_random_seed(6)
    x, _ = token_batch()
    weights = attention_weights(text_model(), x)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(weights[:4, 6:] < 1e-6) and np.all(weights[4:] > 0)
    inputs = keras.Input((5, 2))
    assert attention_weights(keras.Model(inputs, keras.layers.Dense(1)(keras.layers.LSTM(3)(inputs))),
                             np.zeros((2, 5, 2), "float32")) is None


def test_token_gradients_are_taken_at_the_embedding_and_padding_gets_none():
    keras.utils.set_random_seed(7)
    x, y = token_batch()
    model = text_model()
    norms = time_gradient_norms(model, x, y, XENT)
    assert norms.shape == (9,) and np.all(norms > 0)
    only_padded = time_gradient_norms(model, x[:4], y[:4], XENT)
    assert np.all(only_padded[6:] == 0) and np.all(only_padded[:6] > 0)


def test_hidden_pca_projects_real_steps_and_explains_a_share_of_variance():
    rng = np.random.default_rng(8)
    states = rng.normal(size=(4, 6, 5)) * np.array([5.0, 1, 0.1, 0.1, 0.1])  # one dominant direction
    mask = np.ones((4, 6), bool)
    mask[0, 3:] = False
    pca = hidden_pca(states, mask)
    assert [len(t) for t in pca["trajectories"]] == [3, 6, 6, 6]
    assert pca["explained"][0] > 0.8 and 0 <= pca["explained"][1] <= 1 - pca["explained"][0] + 1e-9


def test_a_probe_record_of_a_text_model_has_every_part_and_stays_small(tmp_path):
    keras.utils.set_random_seed(9)
    x, y = token_batch(32)
    vocabulary = ["<pad>", "<oov>"] + [f"w{i}" for i in range(28)]
    probe = Probe(text_model(), x, y, loss_fn=XENT, labels=[["neg", "neu", "pos"][v] for v in y],
                  vocabulary=vocabulary)
    record = probe.record(2, 40, clipped_share=0.25)
    write_probe(tmp_path, record)
    (back,) = probe_records(tmp_path)
    assert (tmp_path / "probes" / "epoch-0002.json").stat().st_size < 300_000
    assert back["epoch"] == 2 and back["step"] == 40 and back["clipped_share"] == 0.25
    assert back["time_gradient"]["wrt"] == "embedding" and len(back["time_gradient"]["norms"]) == 9
    assert back["time_gradient"]["steps"][:2] == [vocabulary[x[0, 0]], vocabulary[x[0, 1]]]
    assert set(back["histograms"]) == {"embedding", "bigru", "attention_pool", "output"}
    hist = back["histograms"]["bigru"]["weights"]
    assert len(hist["edges"]) == 21 and sum(hist["counts"]) == sum(int(np.prod(v.shape)) for v in
                                                                   probe.model.get_layer("bigru").trainable_weights)
    assert back["gates"]["bigru"]["cell"] == "gru" and set(back["gates"]["bigru"]["gates"]) == {"update", "reset", "candidate"}
    hidden = back["hidden"]
    assert hidden["layer"] == "bigru" and len(hidden["examples"]) == 8
    first = hidden["examples"][0]
    assert first["label"] == "neg" and first["tokens"] == [vocabulary[i] for i in x[0, :6]]  # padding left out
    assert len(first["states"]) == 6 and len(first["states"][0]) == hidden["units"] == 6
    assert len(hidden["pca"]["trajectories"]) == len(hidden["pca"]["labels"]) == 32
    attention = back["attention"]
    assert attention["layer"] == "attention_pool" and len(attention["examples"]) == 8
    assert abs(sum(attention["examples"][0]["weights"]) - 1) < 1e-3
    json.dumps(back)  # plain JSON types only


def test_probe_records_of_a_missing_folder_are_empty(tmp_path):
    assert probe_records(tmp_path / "nowhere") == []
