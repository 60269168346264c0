"""What a network does inside, measured on a fixed probe batch: the signals behind the "inside" charts.

Gradients through time (‖∂loss/∂x_t‖, w.r.t. the embedding output for token
inputs), weight and gradient histograms per layer, gate activations of
LSTM/GRU/SimpleRNN layers recomputed from the layer's own weights (Keras gate
order i,f,c,o for LSTM and z,r,h for GRU, GRU ``reset_after`` honoured),
hidden-state trajectories with a 2-D PCA, and attention weights. Every
function works on any built functional model; ``Probe`` bundles them into one
record per epoch (the format of ``rnnstudio.runs.probe_files``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import keras
import tensorflow as tf

__all__ = ["time_gradient_norms", "gate_activations", "hidden_states", "attention_weights", "hidden_pca",
           "recurrent_layers", "recurrent_forward", "histogram", "saturation", "Probe", "layer_variables"]

BINS = 20
SATURATION = 0.95  # |tanh| above it, sigmoid outside [0.05, 0.95]
GATES = {"lstm": ("input", "forget", "cell", "output"), "gru": ("update", "reset", "candidate"), "simple_rnn": ("tanh",)}
CELL_KINDS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}
# Budget of floats for hidden states in one record (a record stays well under 300 kB).
HIDDEN_FLOATS = 24_000
TRAJECTORY_POINTS = 6_000


# ---------------------------------------------------------------- finding layers
def _inner_rnn(layer):
    """The (forward) recurrent layer of ``layer``: itself, or a Bidirectional's forward layer."""
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.forward_layer
    return layer


def recurrent_layers(model) -> list:
    """Top-level LSTM/GRU/SimpleRNN layers of ``model`` (Bidirectional wrappers included), in forward order."""
    return [layer for layer in model.layers if type(_inner_rnn(layer)).__name__ in CELL_KINDS]


def cell_kind(layer) -> str:
    """"lstm", "gru" or "simple_rnn" for a recurrent (or Bidirectional recurrent) layer."""
    return CELL_KINDS[type(_inner_rnn(layer)).__name__]


def _attention_layer(model):
    from rnnstudio.zoo.layers import AttentionPooling

    return next((layer for layer in model.layers if isinstance(layer, AttentionPooling)), None)


def _token_embedding(model):
    """The Embedding layer fed straight from an integer input, if the model reads token ids."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            return layer
    return None


def layer_variables(model) -> dict[str, list]:
    """Trainable variables grouped by the top-level layer that owns them (Bidirectional = one layer)."""
    groups: dict[str, list] = {}
    for layer in model.layers:
        if layer.trainable_variables:
            groups[layer.name] = list(layer.trainable_variables)
    return groups


_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _compiled(model, key, build):
    """A tf.function built once per model and key: eager recurrent loops are ~10x slower, and probes run every epoch."""
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        cache[key] = tf.function(build(), reduce_retracing=True)
    return cache[key]


def _split_mask(out):
    if isinstance(out, (list, tuple)):
        tensors = list(out)
        mask = next((t for t in tensors[1:] if t is not None and t.dtype == tf.bool), None)
        return tf.cast(tensors[0], tf.float32), mask
    return tf.cast(out, tf.float32), getattr(out, "_keras_mask", None)


def layer_inputs(model, layer, x) -> tuple[np.ndarray, np.ndarray | None]:
    """What ``layer`` receives on ``x``: its input sequence [B, T, D] as float32 and its mask [B, T] (or None)."""
    def build():
        sub = keras.Model(model.inputs, layer.input)
        return lambda batch: _split_mask(sub(batch, training=False))

    values, mask = _compiled(model, ("inputs", layer.name), build)(tf.convert_to_tensor(x))
    return values.numpy(), None if mask is None else np.asarray(mask, dtype=bool)


# ---------------------------------------------------------------- manual recurrent forward pass
def _activation(fn):
    """A numpy version of a Keras activation (exact for tanh/sigmoid; others go through Keras)."""
    name = getattr(fn, "__name__", "")
    if name == "tanh":
        return np.tanh
    if name == "sigmoid":
        return lambda a: 0.5 * (1.0 + np.tanh(0.5 * a))  # the logistic function, without exp overflow
    return lambda a: np.asarray(fn(a), dtype="float32")


def _is_sigmoid(fn) -> bool:
    return getattr(fn, "__name__", "") in ("sigmoid", "hard_sigmoid")


@dataclass
class Forward:
    """A recurrent layer recomputed step by step: hidden states, gates and which steps were real."""

    kind: str
    states: np.ndarray  # [B, T, U], the layer's sequence output
    gates: dict  # gate name → [B, T, U]
    sigmoid: dict  # gate name → True for sigmoid-like gates (range 0..1)
    mask: np.ndarray  # [B, T] bool, True = real step


def recurrent_forward(layer, inputs: np.ndarray, mask: np.ndarray | None = None) -> Forward:
    """Runs ``layer``'s cell by hand over ``inputs`` [B, T, D] with its own kernel, recurrent kernel and bias.

    Follows Keras: LSTM kernel columns i, f, c, o; GRU z, r, h with
    ``reset_after`` (two bias rows, reset gate applied after the recurrent
    matmul) or not; masked steps keep the previous state. For a
    Bidirectional layer the forward direction is used.
    """
    rnn = _inner_rnn(layer)
    cell, kind = rnn.cell, CELL_KINDS[type(rnn).__name__]
    x = np.asarray(inputs, dtype="float32")
    batch, steps = x.shape[:2]
    mask = np.ones((batch, steps), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if rnn.go_backwards:
        x, mask = x[:, ::-1], mask[:, ::-1]
    kernel = np.asarray(tf.cast(cell.kernel, tf.float32))
    recurrent = np.asarray(tf.cast(cell.recurrent_kernel, tf.float32))
    bias = None if cell.bias is None else np.asarray(tf.cast(cell.bias, tf.float32))
    act, rec_act = _activation(cell.activation), _activation(getattr(cell, "recurrent_activation", cell.activation))
    units = recurrent.shape[0]
    h = np.zeros((batch, units), "float32")
    c = np.zeros((batch, units), "float32")
    names = GATES[kind]
    states = np.zeros((batch, steps, units), "float32")
    gates = {name: np.zeros((batch, steps, units), "float32") for name in names}
    if kind == "gru" and bias is not None and bias.ndim == 2:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, None
    projected = x @ kernel + (input_bias if input_bias is not None else 0.0)  # [B, T, k·U]
    zero_masked = bool(getattr(rnn, "zero_output_for_mask", False))
    for t in range(steps):
        xt = projected[:, t]
        if kind == "lstm":
            z = xt + h @ recurrent
            i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
            i, f, g, o = rec_act(i), rec_act(f), act(g), rec_act(o)
            c_new = f * c + i * g
            h_new = o * act(c_new)
            step_gates = (i, f, g, o)
        elif kind == "gru":
            x_z, x_r, x_h = (xt[:, k * units:(k + 1) * units] for k in range(3))
            if cell.reset_after:
                inner = h @ recurrent + (recurrent_bias if recurrent_bias is not None else 0.0)
                r_z, r_r, r_h = (inner[:, k * units:(k + 1) * units] for k in range(3))
                z, r = rec_act(x_z + r_z), rec_act(x_r + r_r)
                candidate = act(x_h + r * r_h)
            else:
                z = rec_act(x_z + h @ recurrent[:, :units])
                r = rec_act(x_r + h @ recurrent[:, units:2 * units])
                candidate = act(x_h + (r * h) @ recurrent[:, 2 * units:])
            h_new = z * h + (1.0 - z) * candidate
            c_new = c
            step_gates = (z, r, candidate)
        else:
            h_new = act(xt + h @ recurrent)
            c_new = c
            step_gates = (h_new,)
        keep = mask[:, t:t + 1]
        h = np.where(keep, h_new, h)
        c = np.where(keep, c_new, c)
        states[:, t] = np.where(keep, h_new, 0.0 if zero_masked else h)
        for name, value in zip(names, step_gates):
            gates[name][:, t] = value
    sigmoid = {"lstm": {"input": True, "forget": True, "cell": False, "output": True},
               "gru": {"update": True, "reset": True, "candidate": False},
               "simple_rnn": {"tanh": False}}[kind]
    if kind != "simple_rnn":
        sigmoid = {k: (_is_sigmoid(cell.recurrent_activation) if v else _is_sigmoid(cell.activation))
                   for k, v in sigmoid.items()}
    return Forward(kind, states, gates, sigmoid, mask)


# ---------------------------------------------------------------- the public signals
def _gradients(model, x, y, loss_fn) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One backward pass on the probe batch: per-step input gradient norms [T] (see time_gradient_norms) and
    each layer's flattened gradient of the mean loss (for histograms)."""
    embedding = _token_embedding(model)
    groups = layer_variables(model)
    variables = [v for vs in groups.values() for v in vs]

    def build():
        def gradient(x, y):
            with tf.GradientTape() as tape:
                if embedding is None:
                    tape.watch(x)
                pred = model(x, training=False)
                # Summed, so each example's input gradient is that of its own loss.
                loss = tf.reduce_sum(tf.cast(loss_fn(y, tf.cast(pred, tf.float32)), tf.float32))
            sources = variables if embedding is not None else [x, *variables]
            grads = tape.gradient(loss, sources)
            if embedding is None:
                step_grad, grads = grads[0], grads[1:]
            else:
                # The embedding lookup's gradient lists one row per (example, step), in order.
                step_grad = grads[variables.index(embedding.embeddings)]
                step_grad = step_grad.values if isinstance(step_grad, tf.IndexedSlices) else None
            step_grad = tf.zeros([0]) if step_grad is None else tf.cast(step_grad, tf.float32)
            count = tf.cast(tf.shape(x)[0], tf.float32)
            flat = [tf.zeros([0]) if g is None else tf.reshape(tf.cast(tf.convert_to_tensor(g), tf.float32), [-1]) / count
                    for g in grads]
            return step_grad, flat
        return gradient

    inputs = tf.convert_to_tensor(np.asarray(x, dtype="int32" if embedding is not None else "float32"))
    step_grad, flat = _compiled(model, ("gradients", id(loss_fn)), build)(inputs, tf.convert_to_tensor(y))
    batch, steps = np.shape(x)[:2]
    if int(tf.size(step_grad)) == 0:
        norms = np.zeros(steps, dtype="float32")
    else:
        values = step_grad.numpy().reshape(batch, steps, -1)
        per_example = np.sqrt(np.sum(np.square(values, dtype="float64"), axis=-1))
        real = (np.asarray(x) != 0) if embedding is not None else np.ones((batch, steps), dtype=bool)
        norms = (np.where(real, per_example, 0.0).sum(axis=0) / np.maximum(real.sum(axis=0), 1)).astype("float32")
    by_layer, i = {}, 0
    for name, vs in groups.items():
        by_layer[name] = np.concatenate([g.numpy() for g in flat[i:i + len(vs)]])
        i += len(vs)
    return norms, by_layer


def time_gradient_norms(model, x, y, loss_fn) -> np.ndarray:
    """Mean over the batch of ‖∂loss_i/∂x_t‖ for each time step t: shape [T].

    ``loss_i`` is example i's own loss; x_t is the input at step t, or the
    embedding output for token inputs (ids have no gradient). Padded steps are
    left out of the mean; a step padded in every example reads 0.
    """
    return _gradients(model, x, y, loss_fn)[0]


def gate_activations(model, x) -> dict[str, dict[str, np.ndarray]]:
    """Per recurrent layer, per gate: activations at the real (unpadded) steps of ``x``, shape [steps, units]."""
    out = {}
    for layer in recurrent_layers(model):
        inputs, mask = layer_inputs(model, layer, x)
        fwd = recurrent_forward(layer, inputs, mask)
        out[layer.name] = {name: values[fwd.mask] for name, values in fwd.gates.items()}
    return out


def hidden_states(model, x, layer=None) -> np.ndarray:
    """Full hidden-state sequence [B, T, units] of ``layer`` (default: the first recurrent layer), recomputed
    from its weights so it exists even when the layer only returns its last state."""
    layers = recurrent_layers(model)
    if layer is None:
        if not layers:
            raise ValueError("the model has no recurrent layer")
        layer = layers[0]
    elif isinstance(layer, str):
        layer = model.get_layer(layer)
    inputs, mask = layer_inputs(model, layer, x)
    return recurrent_forward(layer, inputs, mask).states


def attention_weights(model, x) -> np.ndarray | None:
    """Attention weights [B, T] of the model's attention-pooling layer on ``x`` (None without one)."""
    layer = _attention_layer(model)
    if layer is None:
        return None
    inputs, mask = layer_inputs(model, layer, x)
    weights = layer.attention_scores(tf.convert_to_tensor(inputs, dtype=layer.compute_dtype),
                                     None if mask is None else tf.convert_to_tensor(mask))
    return np.asarray(tf.cast(weights, tf.float32))


def hidden_pca(states: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """2-D PCA of hidden states [B, T, U] over the real steps: explained variance shares and one
    trajectory ([[x, y] per real step]) per example."""
    states = np.asarray(states, dtype="float64")
    batch, steps, units = states.shape
    mask = np.ones((batch, steps), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    points = states[mask]
    if len(points) == 0:
        return {"explained": [0.0, 0.0], "trajectories": [[] for _ in range(batch)]}
    centre = points.mean(axis=0)
    centred = points - centre
    # Eigenvectors of the units×units scatter matrix: the same axes as an SVD of the points, far cheaper.
    variance, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(variance)[::-1]
    variance, components = np.clip(variance[order], 0, None), vectors[:, order].T
    total = variance.sum()
    explained = (variance / total if total > 0 else np.zeros_like(variance))[:2].tolist()
    components = components[:2]
    if len(components) < 2:  # a single unit: the second axis is flat
        components = np.vstack([components, np.zeros((2 - len(components), units))])
        explained += [0.0] * (2 - len(explained))
    projected = (states - centre) @ components.T  # [B, T, 2]
    return {"explained": explained, "trajectories": [projected[i][mask[i]].tolist() for i in range(batch)]}


# ---------------------------------------------------------------- summaries
def histogram(values, *, bins: int = BINS, value_range: tuple[float, float] | None = None) -> dict:
    """``{"edges": [bins+1], "counts": [bins]}`` of the finite ``values``."""
    values = np.asarray(values, dtype="float32").ravel()
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=bins, range=value_range)
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


def saturation(values, *, sigmoid: bool) -> float:
    """Share of activations near their limits: outside [0.05, 0.95] for sigmoid gates, |a| > 0.95 for tanh."""
    values = np.asarray(values, dtype="float32").ravel()
    if values.size == 0:
        return 0.0
    if sigmoid:
        return float(np.mean((values < 1 - SATURATION) | (values > SATURATION)))
    return float(np.mean(np.abs(values) > SATURATION))


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _thin(values: np.ndarray, most: int = 20_000) -> np.ndarray:
    """Every k-th value so at most ``most`` remain: enough for a TensorBoard histogram, cheap to write."""
    values = np.asarray(values).ravel()
    return values[::max(1, -(-values.size // most))]


class Probe:
    """Builds one probe record per call on a fixed batch (the same examples every epoch).

    Args:
        model: The functional model being trained.
        x, y: Up to 32 probe examples and their targets.
        loss_fn: Per-example loss (``reduction=None``), as in training.
        labels: A display label per example (class names), or None.
        vocabulary: Tokens by id for token inputs (id 0 = padding), else None.
        max_examples: Examples shown in "hidden" and "attention".
    """

    def __init__(self, model, x, y, *, loss_fn, labels=None, vocabulary=None, max_examples: int = 8):
        self.model, self.x, self.y, self.loss_fn = model, np.asarray(x), np.asarray(y), loss_fn
        self.labels = None if labels is None else [None if v is None else str(v) for v in labels]
        self.vocabulary = vocabulary
        self.max_examples = max_examples

    def _label(self, i: int):
        return None if self.labels is None else self.labels[i]

    def _tokens(self, i: int, real: np.ndarray | None = None):
        if self.vocabulary is None:
            return None
        ids = self.x[i] if real is None else self.x[i][real]
        return [self.vocabulary[int(t)] if 0 <= int(t) < len(self.vocabulary) else "<oov>" for t in ids]

    def record(self, epoch: int, step: int, *, clipped_share: float | None = None) -> dict:
        """The probe record of ``epoch`` (see ``rnnstudio.runs.probe_files``)."""
        return self.measure(epoch, step, clipped_share=clipped_share)[0]

    def measure(self, epoch: int, step: int, *, clipped_share: float | None = None) -> tuple[dict, dict]:
        """The probe record of ``epoch`` and the raw arrays behind its histograms (for TensorBoard):
        ``{"weights/<layer>", "gradients/<layer>", "gates/<layer>/<gate>": np.ndarray}``."""
        # Small matrices: one BLAS thread is faster than several fighting TensorFlow's threads (measured 10x).
        with _one_blas_thread():
            return self._measure(epoch, step, clipped_share)

    def _measure(self, epoch: int, step: int, clipped_share: float | None) -> tuple[dict, dict]:
        model, x, y = self.model, self.x, self.y
        steps = x.shape[1]
        labels = self._tokens(0) if self.vocabulary is not None else [f"t={t}" for t in range(steps)]
        time_norms, gradients = _gradients(model, x, y, self.loss_fn)
        record: dict = {
            "epoch": int(epoch), "step": int(step),
            "time_gradient": {"wrt": "embedding" if _token_embedding(model) is not None else "inputs",
                              "norms": time_norms.tolist(), "steps": labels},
        }
        arrays: dict[str, np.ndarray] = {}
        record["histograms"] = {}
        for name, variables in layer_variables(model).items():
            weights = np.concatenate([np.asarray(tf.cast(v, tf.float32)).ravel() for v in variables])
            arrays[f"weights/{name}"], arrays[f"gradients/{name}"] = _thin(weights), _thin(gradients[name])
            record["histograms"][name] = {"weights": histogram(weights), "gradients": histogram(gradients[name])}
        if clipped_share is not None:
            record["clipped_share"] = float(clipped_share)
        layers = recurrent_layers(model)
        if layers:
            record["gates"] = {}
            for index, layer in enumerate(layers):
                inputs, mask = layer_inputs(model, layer, x)
                fwd = recurrent_forward(layer, inputs, mask)
                gates = {}
                for name, values in fwd.gates.items():
                    real = values[fwd.mask]
                    arrays[f"gates/{layer.name}/{name}"] = _thin(real)
                    gates[name] = {**histogram(real, value_range=(0.0, 1.0) if fwd.sigmoid[name] else (-1.0, 1.0)),
                                   "saturated": saturation(real, sigmoid=fwd.sigmoid[name])}
                record["gates"][layer.name] = {"cell": fwd.kind, "gates": gates}
                if index == 0:
                    record["hidden"] = self._hidden(layer.name, fwd)
        attention = attention_weights(model, x)
        if attention is not None:
            shown = range(min(self.max_examples, len(x)))
            record["attention"] = {"layer": _attention_layer(model).name, "examples": [
                {"label": self._label(i), "tokens": self._tokens(i), "weights": attention[i].tolist()} for i in shown]}
        return record, arrays

    def _hidden(self, name: str, fwd: Forward) -> dict:
        batch, steps, units = fwd.states.shape
        # Fewer examples (and, for very long sequences, fewer units) keep the record small.
        n_examples = max(1, min(self.max_examples, batch, HIDDEN_FLOATS // max(steps * units, 1)))
        kept_units = max(1, min(units, HIDDEN_FLOATS // max(steps, 1)))
        examples = [{"label": self._label(i), "tokens": self._tokens(i, fwd.mask[i]),
                     "states": fwd.states[i][fwd.mask[i]][:, :kept_units].tolist()} for i in range(n_examples)]
        n_paths = max(min(self.max_examples, batch), min(batch, TRAJECTORY_POINTS // max(steps, 1)))
        pca = hidden_pca(fwd.states, fwd.mask)
        pca["trajectories"] = pca["trajectories"][:n_paths]
        pca["labels"] = [self._label(i) for i in range(n_paths)]
        return {"layer": name, "units": kept_units, "examples": examples, "pca": pca}
