"""MirroredStrategy on two logical CPU devices trains the same Recipe as the default strategy; two local
worker processes train one multi-worker run.

Each run is its own process: the CPU must be split before TensorFlow starts.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from rnnstudio.data.load import sample_defaults
    from rnnstudio.recipe import default_recipe
    from rnnstudio.train.runner import train
    recipe = default_recipe(source="sample:airline", **sample_defaults("sample:airline")).with_overrides(
        {"train.epochs": 8, "train.early_stopping": False, "model.units": 8, "model.dropout": 0.0,
         "train.strategy": sys.argv[1], "train.batch_size": 16})
    result = train(recipe)
    env = json.loads((result.folder / "environment.json").read_text())
    # A second, different model in the same process (a notebook, the service) must train under the strategy too.
    second = train(recipe.with_overrides({"model.units": 12, "train.epochs": 2}))
    print(json.dumps({"losses": [h["loss"] for h in result.history], "replicas": env["replicas"],
                      "strategy": env["strategy"], "mape": result.metrics["test"]["mape"],
                      "second_losses": [h["loss"] for h in second.history]}))
""")


def run(strategy: str, home: Path) -> dict:
    env = {**os.environ, "RNNSTUDIO_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", SCRIPT, strategy], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_mirrored_strategy_trains_like_the_default(tmp_path):
    mirrored = run("mirrored", tmp_path / "a")
    default = run("default", tmp_path / "b")
    assert mirrored["strategy"] == "MirroredStrategy" and mirrored["replicas"] == 2
    assert default["replicas"] == 1
    assert mirrored["losses"][-1] < mirrored["losses"][0]  # it learns
    assert len(mirrored["second_losses"]) == 2 and all(0 < loss < 10 for loss in mirrored["second_losses"])
    # Same data, seed and global batch: the curves agree up to reduction order.
    for a, b in zip(mirrored["losses"], default["losses"]):
        assert a == pytest.approx(b, rel=0.05)


def test_two_workers_on_one_machine_train_as_one_multi_worker_run(tmp_path):
    """`train.strategy=multi_worker`: the same CLI command on every worker, each told its place by TF_CONFIG."""
    import socket

    sockets = [socket.socket() for _ in range(2)]
    for sock in sockets:  # both held open at once, so the two ports differ
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    command = [sys.executable, "-m", "rnnstudio", "train", "--data", "sample:airline", "--quiet", "--json",
               "--set", "train.strategy=multi_worker", "--set", "train.epochs=4", "--set", "train.early_stopping=false",
               "--set", "model.units=8", "--set", "model.dropout=0.0", "--set", "train.batch_size=16"]
    workers = []
    for index in range(2):
        env = {**os.environ, "RNNSTUDIO_HOME": str(tmp_path / f"worker{index}"), "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": str(Path(__file__).parents[2]),
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    environments = [json.loads((Path(r["folder"]) / "environment.json").read_text()) for r in results]
    assert [e["strategy"] for e in environments] == ["CollectiveAllReduceStrategy"] * 2  # MultiWorkerMirrored's class
    assert [e["replicas"] for e in environments] == [2, 2]
    from rnnstudio.runs import RunRegistry

    losses = [[row["loss"] for row in RunRegistry(tmp_path / f"worker{i}").metrics(r["run_id"], kind="epoch")]
              for i, r in enumerate(results)]
    assert len(losses[0]) == 4 and losses[0][-1] < losses[0][0]  # it learns
    # Every step all-reduces the gradients: both workers hold the same weights, so the same curve and score.
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert results[0]["metrics"]["test"]["mape"] == pytest.approx(results[1]["metrics"]["test"]["mape"], rel=1e-6)
