"""Training under tf.distribute strategies: mirrored over logical CPUs, and two multi-worker processes on 127.0.0.1.

The distributed runs are separate processes (the CLI): a strategy, logical
CPUs and collective ops are fixed when TensorFlow starts, and this process
has started it already.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from musegen.distribute import DeviceOptions, place, read_tf_config
from musegen.errors import UsageError

WORKER_TIMEOUT = 240  # seconds a training process may take before it is killed (each takes 10-30 s here)
# Two workers each take half of every global batch and sum their gradients: the same gradient as one device on the
# whole batch, added in another order, so only float32 rounding differs (measured here: 5e-7 nats after 2 epochs of
# the tiny model).  1e-3 nats leaves room for other machines' BLAS and thread counts, while any real difference
# (a batch skipped, repeated or seen by one worker only; other windows) moves the loss by 2e-2 or more.
LOSS_TOLERANCE = 1e-3


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = WORKER_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "musegen", *args], capture_output=True, text=True, timeout=timeout,
                          env=env or _env())


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**env, **extra}


def _free_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 now (bound to port 0, then let go); skip where local sockets cannot open."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    except OSError as exc:
        pytest.skip(f"this platform cannot open local sockets ({exc})")
    finally:
        for s in sockets:
            s.close()


def _history(bundle: Path) -> dict:
    return json.loads((bundle / "history.json").read_text())


def _even_batches(corpus: Path) -> tuple[int, int]:
    """A (seq_len, batch_size) whose windows per epoch fill whole batches, of an even size.

    Then a single device and two workers see exactly the same batches (a distributed run makes its last batch
    whole; a single device would train on a short one), each worker half of each.
    """
    from musegen.pipeline import prepare, resolve_config
    from musegen.windows import token_windows

    config, _ = resolve_config("abc", preset="tiny", overrides={})
    arrays = prepare("abc", corpus, config=config).train_arrays
    for seq_len in range(16, 48):
        windows = token_windows(arrays, seq_len=seq_len, offset=seq_len - 1)[0].shape[0]
        for batch in range(6, 33, 2):
            if windows % batch == 0:
                return seq_len, batch
    pytest.fail("no window length between 16 and 47 fills whole batches of this corpus")


# -- options and TF_CONFIG (no TensorFlow run) ------------------------------------------------------------


def test_tf_config_chief_is_worker_0_or_the_named_chief():
    workers = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    assert read_tf_config({}) is None
    first = read_tf_config({"TF_CONFIG": json.dumps({"cluster": workers, "task": {"type": "worker", "index": 0}})})
    second = read_tf_config({"TF_CONFIG": json.dumps({"cluster": workers, "task": {"type": "worker", "index": 1}})})
    assert (first.chief, second.chief, first.workers) == (True, False, 2)
    named = {"TF_CONFIG": json.dumps({"cluster": {"chief": ["h:1"], **workers}, "task": {"type": "worker",
                                                                                      "index": 0}})}
    assert read_tf_config(named).chief is False and read_tf_config(named).workers == 3


@pytest.mark.parametrize("text, message", [
    ("{not json", "not a valid cluster"),
    (json.dumps({"cluster": {"worker": ["h:1"]}, "task": {"type": "ps", "index": 0}}), "task type 'ps'"),
    (json.dumps({"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 3}}), "not in its cluster"),
    (json.dumps({"cluster": {"worker": ["h:1"], "ps": ["h:2"]}, "task": {"type": "worker", "index": 0}}),
     "ps tasks"),
])
def test_bad_tf_config_is_refused_in_one_line(text, message):
    with pytest.raises(UsageError, match=message):
        read_tf_config({"TF_CONFIG": text})


def test_device_options_are_validated():
    with pytest.raises(UsageError, match="unknown strategy"):
        DeviceOptions(strategy="ring")
    with pytest.raises(UsageError, match="--cpu-replicas"):
        DeviceOptions(cpu_replicas=-1)


def test_mixed_precision_is_refused_without_a_gpu():
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    with pytest.raises(UsageError, match="needs a GPU"):
        place(DeviceOptions(strategy="single", mixed_precision=True), environ={})


def test_multi_worker_needs_tf_config_and_cpu_replicas_need_mirrored():
    with pytest.raises(UsageError, match="needs TF_CONFIG"):
        place(DeviceOptions(strategy="multi-worker"), environ={})
    with pytest.raises(UsageError, match="for --strategy mirrored"):
        place(DeviceOptions(strategy="multi-worker", cpu_replicas=2), environ={})


# -- runs -------------------------------------------------------------------------------------------------------


def test_mirrored_over_two_cpu_replicas_trains_resumes_and_samples(tmp_path, small_corpus):
    out = tmp_path / "mirrored"
    common = ["train", "abc", str(small_corpus), "--out", str(out), "--strategy", "mirrored", "--cpu-replicas", "2",
              "--json"]
    first = _cli(*common, "--preset", "tiny", "--epochs", "1")
    assert first.returncode == 0, first.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["devices"] == {"strategy": "mirrored", "replicas": 2, "workers": 1, "mixed_precision": False}
    resumed = _cli(*common, "--epochs", "2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert len(_history(out)["loss"]) == 2
    sampled = _cli("sample", "abc", "--model", str(out), "--num", "1", "--out", str(tmp_path / "tunes"))
    assert sampled.returncode == 0, sampled.stderr
    assert list((tmp_path / "tunes").glob("*.abc"))


def test_two_workers_write_one_bundle_that_matches_single_device(tmp_path, small_corpus):
    seq_len, batch = _even_batches(small_corpus)
    # --clipnorm 0: Keras clips each replica's gradient before they are summed, which differs from clipping the
    # sum while clipping acts (see the README); without clipping the two runs compute the same updates
    sizes = ["--preset", "tiny", "--epochs", "2", "--seq-len", str(seq_len), "--batch-size", str(batch),
             "--clipnorm", "0", "--json"]
    single = _cli("train", "abc", str(small_corpus), "--out", str(tmp_path / "single"), "--strategy", "single",
                  *sizes)  # also fills the prepared-corpus cache both workers read
    assert single.returncode == 0, single.stderr

    runs = tmp_path / "runs"
    runs.mkdir()
    hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        tf_config = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "musegen", "train", "abc", str(small_corpus), "--out", str(runs / "model"),
             "--strategy", "multi-worker", *sizes],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(TF_CONFIG=tf_config, TMPDIR=str(scratch))))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=WORKER_TIMEOUT))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
            proc.communicate()
        pytest.fail(f"a worker ran past {WORKER_TIMEOUT} s")
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr[-2000:]
    chief, other = (json.loads(stdout) for stdout, _ in outputs)
    assert chief["chief"] is True and other["chief"] is False
    assert [p.name for p in runs.iterdir()] == ["model"]  # one bundle, the chief's
    assert not any((tmp_path / "tmp1").iterdir())  # the other worker deleted what it wrote
    config = json.loads((runs / "model" / "config.json").read_text())
    assert config["devices"]["strategy"] == "multi-worker" and config["devices"]["replicas"] == 2

    want, got = _history(tmp_path / "single"), _history(runs / "model")
    assert len(got["loss"]) == 2
    for key in ("loss", "val_loss"):
        assert got[key] == pytest.approx(want[key], abs=LOSS_TOLERANCE), key

    sampled = _cli("sample", "abc", "--model", str(runs / "model"), "--num", "1", "--out", str(tmp_path / "tunes"))
    assert sampled.returncode == 0, sampled.stderr
    assert list((tmp_path / "tunes").glob("*.abc"))
