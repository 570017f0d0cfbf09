"""Floating-point operations of one training step, counted on the traced TF graph.

TensorFlow's registered per-op statistics (the ones ``tf.compat.v1.profiler`` uses: MatMul,
BatchMatMul, Conv2D and its two backprops, element-wise arithmetic) are summed over the step's
graph, *including* the bodies of while loops (Keras' LSTM, ``tf.scan``) weighted by their
trip counts and the bodies of nested function calls. The profiler itself counts a loop body
once, which undercounts every recurrent decoder by its sequence length.

A loop's trip count is the leading dimension of the sequence it unstacks (the TensorList
made by ``TensorListFromTensor``); a gradient loop runs as often as its forward loop.
Only live operations count: those the function's outputs depend on (TensorFlow prunes the
rest before running). Operations without a registered statistic (BatchNorm, gathers, activations) count zero, so
the figure is a slight lower bound dominated by the matrix products.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Dict, Optional

import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

log = logging.getLogger("tfreport.experiments.flops")

_LOOPS = ("While", "StatelessWhile")
_CALLS = ("PartitionedCall", "StatefulPartitionedCall")
_BRANCHES = ("If", "StatelessIf")


@dataclass
class FlopCount:
    total: float = 0.0
    by_type: Dict[str, float] = field(default_factory=dict)
    unknown_loops: int = 0  # loops whose trip count could not be found (counted once)

    def add(self, op_type: str, value: float) -> None:
        self.total += value
        self.by_type[op_type] = self.by_type.get(op_type, 0.0) + value


def _function_graph(graph, name: str):
    g = graph
    while g is not None:
        fn = g._get_function(name) if hasattr(g, "_get_function") else None
        if fn is not None:
            return fn.graph
        g = getattr(g, "outer_graph", None)
    raise LookupError(f"function {name} is not defined in the traced graph")


def _trip_count(op, memo: Dict[str, Optional[int]]) -> Optional[int]:
    if op.name in memo:
        return memo[op.name]
    trips = None
    for t in op.inputs:
        src = t.op
        if src.type == "TensorListFromTensor":
            n = src.inputs[0].shape[0] if src.inputs[0].shape.rank else None
            if n is not None:
                trips = int(n)
                break
        if src.type in _LOOPS and src is not op:  # a gradient loop mirrors its forward loop
            trips = _trip_count(src, memo)
            if trips:
                break
    if trips is None:
        static = tf.get_static_value(op.inputs[1]) if len(op.inputs) > 1 else None
        if static is not None and int(static) > 0:
            trips = int(static)
    memo[op.name] = trips
    return trips


def _live_ops(graph):
    """The ops the graph's outputs depend on: what TensorFlow actually runs (dead code, such
    as a value traced but never used, is pruned before execution)."""
    roots = [t.op for t in getattr(graph, "outputs", [])] + list(
        getattr(graph, "control_outputs", []))
    if not roots:
        return graph.get_operations()
    seen, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op.name in seen]


def _count(graph, weight: float, out: FlopCount, memo: Dict[str, Optional[int]]) -> None:
    for op in _live_ops(graph):
        if op.type in _LOOPS:
            trips = _trip_count(op, memo)
            if trips is None:
                out.unknown_loops += 1
                trips = 1
            _count(_function_graph(graph, op.get_attr("body").name), weight * trips, out, memo)
        elif op.type in _CALLS:
            _count(_function_graph(graph, op.get_attr("f").name), weight, out, memo)
        elif op.type in _BRANCHES:  # the costlier branch
            branches = []
            for attr in ("then_branch", "else_branch"):
                sub = FlopCount()
                _count(_function_graph(graph, op.get_attr(attr).name), weight, sub, memo)
                branches.append(sub)
            best = max(branches, key=lambda b: b.total)
            for k, v in best.by_type.items():
                out.add(k, v)
            out.unknown_loops += best.unknown_loops
        else:
            try:
                value = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value
            except (ValueError, TypeError):  # no statistic registered, or unknown shapes
                value = None
            if value:
                out.add(op.type, weight * value)


def function_flops(concrete_function) -> FlopCount:
    """FLOPs of one call of a traced function (static shapes needed)."""
    out = FlopCount()
    _count(concrete_function.graph, 1.0, out, {})
    if out.unknown_loops:
        log.warning("%d loop(s) without a known trip count were counted once",
                    out.unknown_loops)
    return out


def training_step_flops(model, batch) -> FlopCount:
    """FLOPs of the forward pass, the loss and the gradients of every trainable weight for
    ``batch`` (the optimizer update, a few FLOPs per weight, is left out)."""
    @tf.function
    def step(b):
        with tf.GradientTape() as tape:
            loss = model.combine(model.loss_terms(b, model(b, training=True)))
        return tape.gradient(loss, model.trainable_variables)
    return function_flops(step.get_concrete_function(batch))


def per_example(model_name: str, preset: str, vocab_size: int, *, cached: bool = False,
                batch_size: int = 2, **overrides) -> float:
    """Training FLOPs per example of a model built from a preset: with the backbone trained
    on the images (``cached=False``, the preset's own extractor), or the head alone on
    feature-cache grids (``cached=True``, the backbone frozen and not run)."""
    from tfreport.models import build_model, make_config
    from tfreport.training.throughput import synthetic_batch
    if cached:
        overrides = {**overrides, "trainable_backbone": False}
    cfg = make_config(model_name, preset, vocab_size=vocab_size, backbone_weights="none",
                      **overrides)
    model = build_model(model_name, cfg)
    enc = model.visual_encoder
    cells = 1
    for d in enc.frontal_net.output.shape[1:-1]:
        cells *= int(d)
    batch = synthetic_batch(batch_size, cells, enc.channels, cfg.max_sentences, cfg.max_words,
                            vocab_size)
    if not cached:
        size = cfg.image_size
        batch = {k: v for k, v in batch.items() if k not in ("grids", "view_mask")}
        batch["frontal"] = tf.zeros((batch_size, size, size, 1))
        batch["lateral"] = tf.zeros((batch_size, size, size, 1))
    return training_step_flops(model, batch).total / batch_size
