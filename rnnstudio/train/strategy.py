"""Choosing the tf.distribute strategy for a run."""

from __future__ import annotations

import tensorflow as tf

from rnnstudio.errors import StudioError


# One strategy per kind and device set for the whole process: a second MirroredStrategy would restart its
# collective instance keys, and the runtime, which remembers the first one's shapes, aborts the next all-reduce.
_CREATED: dict[tuple, tf.distribute.Strategy] = {}


def _once(key: tuple, make) -> tf.distribute.Strategy:
    if key not in _CREATED:
        _CREATED[key] = make()
    return _CREATED[key]


def select_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy ``name`` names; "auto" picks from the visible devices.

    auto: MirroredStrategy on several GPUs, OneDeviceStrategy on one GPU, the
    default strategy on CPU. "mirrored" without GPUs mirrors over the logical
    CPU devices (how tests exercise it on a CPU-only machine).
    """
    if name == "multi_worker":
        return _multi_worker()  # before anything lists devices: that starts TensorFlow's runtime too early
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device" if gpus else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        device = gpus[0].name if gpus else "/cpu:0"
        return _once((name, device), lambda: tf.distribute.OneDeviceStrategy(device))
    if name == "mirrored":
        devices = tuple(d.name for d in gpus) or tuple(d.name for d in tf.config.list_logical_devices("CPU"))
        return _once((name, devices), lambda: tf.distribute.MirroredStrategy(devices=list(devices)))
    raise StudioError(f"unknown strategy {name!r}.", fix="Use auto, default, one_device, mirrored or multi_worker.",
                      field="train.strategy")


def _multi_worker() -> tf.distribute.Strategy:
    import os

    if "TF_CONFIG" not in os.environ:
        raise StudioError("multi_worker needs the TF_CONFIG environment variable describing the cluster.",
                          fix="Set TF_CONFIG on every worker, or use train.strategy=auto.", field="train.strategy")
    return _once(("multi_worker", os.environ["TF_CONFIG"]), tf.distribute.MultiWorkerMirroredStrategy)


def describe(strategy: tf.distribute.Strategy) -> dict:
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy does not list devices
        devices = [d.name for d in tf.config.list_logical_devices() if d.device_type in ("CPU", "GPU")][:1]
    return {"strategy": type(strategy).__name__, "replicas": strategy.num_replicas_in_sync, "devices": devices}
