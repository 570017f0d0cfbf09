"""``--profile_steps``: a TensorBoard profile (``.xplane.pb``) of a window of training steps.

TensorFlow's own profiler writes the trace (``tf.profiler.experimental``); nothing else is
needed to record it. Viewing it needs the profile plugin: ``pip install
tensorboard-plugin-profile``, then TensorBoard's Profile tab. Steps count the updates from 1
(the first step also traces the tf.function, so a window that starts later shows the steady
state). The window is cut at the end of its epoch so validation never shows up in it.
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator, Optional, Tuple

import tensorflow as tf

log = logging.getLogger("tfreport.train")

DEFAULT_WINDOW = 5  # steps profiled by --profile_steps N


def parse_profile_steps(text: str) -> Tuple[int, int]:
    """``"START,END"`` (inclusive, steps counted from 1) or ``"N"`` (steps N to
    N + DEFAULT_WINDOW - 1) -> (first, last)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values.append(values[0] + DEFAULT_WINDOW - 1)
    if len(values) != 2 or values[0] < 1 or values[1] < values[0]:
        raise ValueError(f"--profile_steps expects START,END (1 <= START <= END, steps counted "
                         f"from 1) or N (steps N to N+{DEFAULT_WINDOW - 1}); got {text!r}")
    return values[0], values[1]


class StepProfiler:
    """Starts TensorFlow's profiler at step ``first`` and stops it after ``last`` (or at the
    end of that epoch), writing ``logdir/plugins/profile/<time>/<host>.xplane.pb``."""

    def __init__(self, logdir: str, steps: Optional[Tuple[int, int]],
                 total_steps: Optional[int] = None):
        self.logdir = logdir
        self.first, self.last = steps if steps else (0, -1)
        self.active = False
        self.done = steps is None
        self.profiled: list = []
        if steps and total_steps is not None and self.first > total_steps:
            print(f"--profile_steps {self.first},{self.last}: this run has {total_steps} "
                  "training steps, so nothing will be profiled")
            self.done = True

    @contextlib.contextmanager
    def step(self, number: int) -> Iterator[None]:
        """Wraps training step ``number`` (counted from 1): the profiler starts before the
        window's first step and stops after its last; each profiled step is marked as one
        step for the profile's step-time view."""
        if not self.done and not self.active and self.first <= number <= self.last:
            self._start()
        if not self.active:
            yield
            return
        with tf.profiler.experimental.Trace("train", step_num=number, _r=1):
            yield
        self.profiled.append(number)
        if number >= self.last:
            self.stop()

    def _start(self) -> None:
        try:
            tf.profiler.experimental.start(self.logdir)
        except (tf.errors.AlreadyExistsError, tf.errors.UnavailableError) as e:
            log.warning("--profile_steps: the profiler did not start (%s); training goes on",
                        str(e).splitlines()[0])
            self.done = True
            return
        self.active = True

    def stop(self) -> None:
        """Ends the profile (at the window's end, the epoch's end or an error) and says
        where it went; does nothing when no profile is running."""
        if not self.active:
            return
        self.active, self.done = False, True
        tf.profiler.experimental.stop()
        where = os.path.join(self.logdir, "plugins", "profile")
        steps = f"{self.profiled[0]}-{self.profiled[-1]}" if self.profiled else "none"
        cut = "" if self.profiled and self.profiled[-1] >= self.last else (
            f" (cut short of {self.last} at the end of the epoch)")
        print(f"Profiled training steps {steps} into {where}{cut}; view it with: pip install "
              f"tensorboard-plugin-profile; tensorboard --logdir {self.logdir} (Profile tab)")
