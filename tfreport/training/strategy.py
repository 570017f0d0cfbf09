"""Choosing a tf.distribute strategy, and the batch arithmetic that follows from it.

``--batch_size`` is the batch of one replica (one GPU), as in the legacy project; the global
batch is that times the number of replicas, so adding GPUs adds examples per step.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import tensorflow as tf

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


@dataclass(frozen=True)
class BatchPlan:
    """How one global batch is split over workers and replicas."""
    per_replica: int
    replicas: int  # replicas in sync, over all workers
    workers: int = 1

    @property
    def global_batch(self) -> int:
        return self.per_replica * self.replicas

    @property
    def per_worker(self) -> int:
        return self.global_batch // self.workers

    def steps_per_epoch(self, examples: int) -> int:
        """Full global batches in one pass over ``examples`` (at least 1)."""
        return max(1, examples // self.global_batch)


def batch_plan(strategy: tf.distribute.Strategy, per_replica: int) -> BatchPlan:
    if per_replica < 1:
        raise ValueError(f"--batch_size must be at least 1, got {per_replica}")
    return BatchPlan(per_replica, strategy.num_replicas_in_sync, num_workers(strategy))


def num_workers(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, logs and the progress bar."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or isinstance(strategy, tf.distribute.TPUStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None or task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_index(strategy: tf.distribute.Strategy) -> int:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_id is None:
        return 0
    return int(resolver.task_id)


def _tf_config_error() -> str:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return ("--strategy multi_worker needs TF_CONFIG, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                '"task": {"type": "worker", "index": 0}}')
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        return f"TF_CONFIG is not valid JSON ({e})"
    if "cluster" not in cfg or "task" not in cfg:
        return "TF_CONFIG needs both 'cluster' and 'task'"
    return ""


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy for ``--strategy``; errors name what is missing."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown --strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if name == "multi_worker":  # before anything initialises TF's devices
        problem = _tf_config_error()
        if problem:
            raise ValueError(problem)
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name != "tpu":
        gpus = tf.config.list_logical_devices("GPU")
        if name == "auto":
            name = "mirrored" if len(gpus) > 1 else "one_device"
        if name == "one_device":
            return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
        # Without GPUs, mirror over the logical CPUs (one unless configured otherwise).
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise RuntimeError(f"--strategy tpu: no TPU found ({str(e).splitlines()[0][:200]}). "
                           "Run on a TPU VM or Colab TPU runtime, or use --strategy auto") from None
    return tf.distribute.TPUStrategy(resolver)


def split_logical_cpus(count: int) -> None:
    """Makes ``count`` logical CPU devices (for testing MirroredStrategy without GPUs).

    Must run before TensorFlow initialises its devices."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
