"""Where training runs: one device, every local GPU (mirrored), or several machines (multi-worker).

:func:`place` turns the ``--strategy``, ``--cpu-replicas`` and
``--mixed-precision`` options into a :class:`Placement`: the
``tf.distribute`` strategy to build the model under, how many replicas share
each global batch, and whether this process is the chief (the one that
writes the bundle).  Multi-worker runs are described by the standard
``TF_CONFIG`` environment variable, read by :func:`read_tf_config`.

TensorFlow is imported only inside the functions; the strategy must be made
before TensorFlow runs anything (logical devices and collective ops are fixed
when its runtime starts), so :func:`place` comes first in a training run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from musegen.errors import MusegenError, UsageError

STRATEGIES = ("auto", "single", "mirrored", "multi-worker")
MAX_CPU_REPLICAS = 64  # logical CPU devices --cpu-replicas may make: more is a typo
TASK_KINDS = ("chief", "worker")  # the TF_CONFIG task types a musegen process may be


@dataclass(frozen=True)
class DeviceOptions:
    """How a training run uses the machine(s): the options ``--strategy``, ``--cpu-replicas``, ``--mixed-precision``.

    ``strategy`` is one of :data:`STRATEGIES`; ``cpu_replicas`` (0: off)
    splits the CPU into that many logical devices, which a ``mirrored`` run
    then replicates over; ``mixed_precision`` computes in float16 on GPUs
    (variables and the output head stay float32).
    """

    strategy: str = "auto"
    cpu_replicas: int = 0
    mixed_precision: bool = False

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UsageError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if not 0 <= self.cpu_replicas <= MAX_CPU_REPLICAS:
            raise UsageError(f"--cpu-replicas must be between 0 (off) and {MAX_CPU_REPLICAS}, got {self.cpu_replicas}")


@dataclass(frozen=True)
class Task:
    """This process's place in a ``TF_CONFIG`` cluster."""

    kind: str  # "chief" or "worker"
    index: int
    workers: int  # tasks in the cluster, the chief included
    has_chief: bool = False  # the cluster names a "chief" task

    @property
    def chief(self) -> bool:
        """The task that writes: ``chief``, else ``worker`` 0 of a cluster that names no chief."""
        return self.kind == "chief" or (self.index == 0 and not self.has_chief)


def read_tf_config(environ: Mapping[str, str] | None = None) -> Task | None:
    """The task ``TF_CONFIG`` gives this process, or None where it names no cluster.

    ``TF_CONFIG`` is JSON such as ``{"cluster": {"worker": ["host1:12345",
    "host2:12345"]}, "task": {"type": "worker", "index": 0}}``; a malformed
    one is refused with one line.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        cluster = config.get("cluster") or {}
        task = config.get("task") or {}
        if not isinstance(cluster, dict) or not isinstance(task, dict):
            raise TypeError("cluster and task must be objects")
        if not cluster:
            return None
        kind, index = task.get("type"), task.get("index", 0)
        hosts = {k: list(v) for k, v in cluster.items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"TF_CONFIG is not a valid cluster description ({exc})") from None
    if kind not in TASK_KINDS:
        raise UsageError(f"TF_CONFIG task type {kind!r}: musegen runs as one of {', '.join(TASK_KINDS)}")
    if not isinstance(index, int) or not 0 <= index < len(hosts.get(kind, [])):
        raise UsageError(f"TF_CONFIG task {kind} {index!r} is not in its cluster ({len(hosts.get(kind, []))} "
                         f"{kind} address(es))")
    unknown = sorted(set(hosts) - set(TASK_KINDS))
    if unknown:
        raise UsageError(f"TF_CONFIG names {', '.join(unknown)} tasks: musegen trains with {' and '.join(TASK_KINDS)} "
                         "tasks only")
    chiefs = len(hosts.get("chief", []))
    return Task(kind, index, chiefs + len(hosts.get("worker", [])), has_chief=chiefs > 0)


@dataclass
class Placement:
    """The strategy a run trains under, and this process's part in it."""

    kind: str  # "single", "mirrored" or "multi-worker"
    strategy: Any  # a tf.distribute.Strategy (the default one for "single")
    replicas: int  # replicas that share each global batch, over all workers
    chief: bool = True  # False: a worker that trains but writes nothing of its own
    task: Task | None = None
    mixed_precision: bool = False

    @property
    def distributed(self) -> bool:
        return self.kind != "single"

    def scope(self):
        """The strategy's scope: build, load and compile the model inside it."""
        return self.strategy.scope()

    def describe(self) -> dict[str, Any]:
        """What a bundle records of where it was trained."""
        return {"strategy": self.kind, "replicas": self.replicas, "workers": self.task.workers if self.task else 1,
                "mixed_precision": self.mixed_precision}


def split_cpu(replicas: int) -> None:
    """Split the CPU into ``replicas`` logical devices; refused once TensorFlow has started with another split."""
    from musegen import backend

    tf = backend.tf()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        found = len(tf.config.list_logical_devices("CPU"))
        if found != replicas:
            raise MusegenError(f"--cpu-replicas {replicas}: TensorFlow has started already with {found} CPU "
                               "device(s) in this process; start a fresh one") from None


def place(options: DeviceOptions, *, environ: Mapping[str, str] | None = None) -> Placement:
    """The :class:`Placement` of a run; call it before TensorFlow runs anything else.

    ``auto`` picks ``multi-worker`` where ``TF_CONFIG`` names a cluster,
    ``mirrored`` where there are several GPUs (or ``cpu_replicas`` > 1),
    ``single`` otherwise.  ``mirrored`` replicates over the logical CPUs
    where ``cpu_replicas`` is given, else over every local GPU.
    ``mixed_precision`` is refused on a run without a GPU.
    """
    from musegen import backend

    tf = backend.tf()
    task = read_tf_config(environ)
    gpus = tf.config.list_physical_devices("GPU")
    kind = options.strategy
    if kind == "auto":
        kind = "multi-worker" if task else "mirrored" if len(gpus) > 1 or options.cpu_replicas > 1 else "single"
    if options.mixed_precision and not gpus:
        raise UsageError("--mixed-precision needs a GPU (float16 on a CPU is slower and less exact): leave it out")
    if options.cpu_replicas and not (kind == "mirrored" or kind == "single" and options.cpu_replicas == 1):
        raise UsageError(f"--cpu-replicas is for --strategy mirrored (this run is {kind})")
    if options.cpu_replicas:
        split_cpu(options.cpu_replicas)
    if kind == "single":
        return Placement(kind, tf.distribute.get_strategy(), 1, mixed_precision=options.mixed_precision)
    if kind == "mirrored":
        if options.cpu_replicas:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices=devices,
                                                      cross_device_ops=tf.distribute.ReductionToOneDevice())
        else:
            strategy = tf.distribute.MirroredStrategy()
        return Placement(kind, strategy, strategy.num_replicas_in_sync, mixed_precision=options.mixed_precision)
    if task is None:
        raise UsageError("--strategy multi-worker needs TF_CONFIG naming the cluster and this worker's task "
                         "(see the README, 'Training on several GPUs or machines')")
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as exc:
        raise MusegenError(f"cannot start the multi-worker strategy ({str(exc).splitlines()[0][:160]})") from None
    return Placement(kind, strategy, strategy.num_replicas_in_sync, chief=task.chief, task=task,
                     mixed_precision=options.mixed_precision)


@contextlib.contextmanager
def precision(mixed: bool) -> Iterator[None]:
    """Build layers under the ``mixed_float16`` policy (``mixed``), then put the previous policy back."""
    if not mixed:
        yield
        return
    from musegen import backend

    keras = backend.keras()
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def fit(placement: Placement, model, data, **kwargs: Any):
    """``model.fit(data, **kwargs)`` under ``placement``'s strategy; a multi-worker run steps by :func:`fit_steps`.

    Keras 3 (3.15 at least) cannot ``fit`` under ``MultiWorkerMirroredStrategy``:
    it averages the first ``(x, y)`` batch across workers to build the model
    ("Attempt to convert a value (PerReplica...)"), and reduces each step's
    scalar logs along an axis they lack ("Invalid reduction dimension 0").
    """
    if placement.kind == "multi-worker":
        return fit_steps(placement, model, data, **kwargs)
    return model.fit(data, **kwargs)


def fit_steps(placement: Placement, model, data: Callable[..., Any], *, steps_per_epoch: int, validation_data: tuple[Any, Any],
              batch_size: int, epochs: int, initial_epoch: int = 0, callbacks: list[Any] = (), **_: Any) -> None:
    """The loop of ``fit`` written out with public Keras calls: each replica runs ``model.train_step`` (the
    optimizer sums the gradients of every replica), and the logs are the model's metrics read across replicas
    (their variables sum over every worker on reading), so every worker sees the same losses and takes the same
    decisions (saving, stopping, learning-rate decay) at the same steps.

    ``data(replicas=..., of=...)`` makes the endless ``tf.data`` dataset of this worker's part of the global
    batches (one element per local replica in turn; see :func:`musegen.windows.stream_dataset`), every worker
    cutting the same batches, ``steps_per_epoch`` of them an epoch;
    ``validation_data`` is ``(x, y)`` arrays, which every worker evaluates whole, on its own (in batches of
    ``batch_size``, weighted by their size, as ``evaluate`` does): split among replicas, a short last batch
    would leave one empty, which the LSTM refuses.
    """
    from musegen import backend

    tf, keras = backend.tf(), backend.keras()
    strategy = placement.strategy
    x_val, y_val = validation_data
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
        model.compute_loss(x=x_val[:1], y=y_val[:1], y_pred=model(x_val[:1]), training=False)  # built here
    total = strategy.num_replicas_in_sync

    def worker_input(context):
        local = total // context.num_input_pipelines
        first = context.input_pipeline_id * local
        return data(replicas=range(first, first + local), of=total)

    batches = iter(strategy.distribute_datasets_from_function(worker_input))

    @tf.function
    def train_step(iterator):
        strategy.run(model.train_step, args=(next(iterator),))

    @tf.function(reduce_retracing=True)
    def loss_of(x, y):
        return model.compute_loss(x=x, y=y, y_pred=model(x, training=False), training=False)

    def results() -> dict[str, float]:
        return {k: float(v) for k, v in model.get_metrics_result().items()}

    def validation_loss() -> float:
        total = sum(float(loss_of(x_val[s:s + batch_size], y_val[s:s + batch_size])) * len(x_val[s:s + batch_size])
                    for s in range(0, len(x_val), batch_size))
        return total / len(x_val)

    hooks = keras.callbacks.CallbackList(list(callbacks), model=model)
    model.stop_training = False
    hooks.on_train_begin()
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        hooks.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            hooks.on_train_batch_begin(step)
            train_step(batches)
            hooks.on_train_batch_end(step, results())
        logs = {**results(), "val_loss": validation_loss()}
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end(logs)
