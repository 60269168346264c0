"""The SavedModel: the task's preprocessing (rebuilt in graph ops), the trained model and the decoding, one graph."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf


def _without_cudnn(model) -> None:
    # A graph traced with cuDNN kernels runs only on a GPU (keras#18504); the exported one must run anywhere.
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if hasattr(layer, "use_cudnn"):
            layer.use_cudnn = False


def write_savedmodel(predictor, path: Path) -> dict:
    """Writes ``predictor``'s model with a ``serving_default`` signature on raw inputs; returns the signature."""
    import keras

    from rnnstudio.export import serving

    model, pipeline, task = predictor.model, predictor.pipeline, predictor.task.name
    _without_cudnn(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if task == "forecasting":
        needed = pipeline.lookback + (1 if pipeline.diff else 0)

        def forecast(history, features=None):
            x, last_level = serving.forecast_inputs(pipeline, tf.cast(history, tf.float64),
                                                    None if features is None else tf.cast(features, tf.float64))
            return {"forecast": serving.forecast_outputs(pipeline, model(x, training=False), last_level)}

        spec = [tf.TensorSpec([None, needed], tf.float64, name="history")]
        inputs = {"history": f"float64 [batch, {needed}]: the last {needed} values, oldest first, in original units"}
        if pipeline.features:
            spec.append(tf.TensorSpec([None, needed, len(pipeline.features)], tf.float64, name="features"))
            inputs["features"] = (f"float64 [batch, {needed}, {len(pipeline.features)}]: the same steps of "
                                  f"{', '.join(pipeline.features)}")
            serve = forecast
        else:
            def serve(history):
                return forecast(history)
        signature = {"inputs": inputs,
                     "outputs": {"forecast": f"float64 [batch, {pipeline.horizon}]: the next values, original units"}}
    else:
        classes = tf.constant([str(c) for c in pipeline.classes])
        if task == "text-classification":
            try:
                preprocess = serving.TextPreprocessor(pipeline.encoder)
                archive.track(preprocess.table)
                spec = [tf.TensorSpec([None], tf.string, name="text")]
                inputs = {"text": "string [batch]: raw texts"}
            except serving.UnsupportedTokenizer as exc:
                # Token ids in; the tokenizer and vocabulary travel as JSON (pipeline.json) beside the model.
                def preprocess(ids):
                    return ids

                length = int(pipeline.encoder.max_length_)
                spec = [tf.TensorSpec([None, length], tf.int32, name="ids")]
                inputs = {"ids": f"int32 [batch, {length}]: token ids made with the tokenizer and vocabulary in "
                                 f"pipeline.json (0 = padding, 1 = unknown)", "why": exc.message}
        else:
            def preprocess(sequences):
                return serving.sequence_inputs(pipeline, tf.cast(sequences, tf.float64))

            spec = [tf.TensorSpec([None, None, len(pipeline.features)], tf.float64, name="sequences")]
            inputs = {"sequences": f"float64 [batch, steps, {len(pipeline.features)}]: raw values; NaN after a "
                                   "shorter sequence ends"}

        def serve(raw):
            probabilities = model(preprocess(raw), training=False)
            return {"probabilities": probabilities, "label": tf.gather(classes, tf.argmax(probabilities, axis=-1))}

        signature = {"inputs": inputs, "outputs": {
            "probabilities": f"float32 [batch, {len(pipeline.classes)}] in the order of 'classes'",
            "label": "string [batch]: the most likely class"}, "classes": [str(c) for c in pipeline.classes]}
    archive.add_endpoint("serve", serve, input_signature=spec)
    archive.write_out(str(path), verbose=False)
    return signature
