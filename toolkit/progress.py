"""One progress protocol for every long job: render, fit, index and the evaluations.

A long-running library function takes ``progress``, a callable that receives
:class:`Step` reports, and reports through a :class:`Reporter`.  The command
line turns them into one rich progress display (``ast_toolkit.cli._common``);
a script can print them, log them, or raise ``KeyboardInterrupt`` from the
callback to stop the job (jobs stop resumably: what is finished is kept).

Examples
--------
>>> steps = []
>>> job = Reporter(steps.append, "index", total=3, unit="pieces")
>>> job.advance()
>>> job.advance(failed=True)
>>> job.say("one piece could not be read")
>>> [(s.done, s.failed, s.total) for s in steps if s.message is None]
[(0, 0, 3), (1, 0, 3), (2, 1, 3)]
>>> steps[-1].message
'one piece could not be read'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Step", "Progress", "Reporter"]


@dataclass(frozen=True)
class Step:
    """One report of a long job.

    Attributes
    ----------
    task : str
        Which bar this report moves (stable within a job: ``"render"``, ``"train"``).
    description : str
        What is being done now, for people (``"epoch 3"``, ``"sdtw a2s"``).
    done : int
        Units finished (including failed ones).
    total : int or None
        Units in all; None when not known.
    failed : int
        Units that failed so far.
    unit : str
        What a unit is (``"pieces"``, ``"pairs"``, ``"queries"``).
    info : dict
        Numbers worth showing beside the bar (``{"loss": 0.41}``).
    message : str or None
        A line to print (an epoch's summary, a refinement round); a report
        with a message moves no bar.

    Examples
    --------
    >>> step = Step("train", "epoch 3", done=120, total=400, unit="batches", info={"loss": 0.41})
    >>> f"{step.description}: {step.done}/{step.total} {step.unit}, loss {step.info['loss']}"
    'epoch 3: 120/400 batches, loss 0.41'
    >>> step.message is None  # a bar update, not a line to print
    True
    """

    task: str
    description: str
    done: int = 0
    total: int | None = None
    failed: int = 0
    unit: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    message: str | None = None


#: What a long-running function accepts as ``progress``.
Progress = Callable[[Step], None]


class Reporter:
    """Reports the progress of one task to a :data:`Progress` callback (or nowhere).

    Parameters
    ----------
    callback : Progress or None
        Receives every :class:`Step`; None reports nothing.
    task : str
        The task's name.
    description : str or None
        What is being done, for people; None: the task's name.
    total : int or None
        Units in all.
    unit : str
        What a unit is.
    done : int
        Units already finished (a resumed job).
    announce : bool
        Send the first step (nothing done yet) at once, so a bar shows before
        the first unit is finished.

    Examples
    --------
    >>> def show(step):
    ...     print(step.message or f"{step.description}: {step.done}/{step.total} {step.info}")
    >>> job = Reporter(show, "render", total=2, unit="pieces")
    render: 0/2 {}
    >>> job.advance(seconds=1.5)
    render: 1/2 {'seconds': 1.5}
    >>> job.say("altdeu10: the engraver failed")
    altdeu10: the engraver failed
    """

    def __init__(self, callback: Progress | None, task: str, *, description: str | None = None,
                 total: int | None = None, unit: str = "", done: int = 0,
                 announce: bool = True) -> None:
        self.callback = callback
        self.step = Step(task, description or task, done=done, total=total, unit=unit)
        if announce:
            self._send(self.step)

    def _send(self, step: Step) -> None:
        if self.callback is not None:
            self.callback(step)

    def advance(self, n: int = 1, *, failed: bool = False, description: str | None = None,
                **info: Any) -> None:
        """``n`` more units finished (``failed``: they failed); ``info`` is shown beside the bar."""
        self.update(done=self.step.done + n, failed=self.step.failed + (n if failed else 0),
                    description=description, **info)

    def update(self, *, done: int | None = None, total: int | None = None,
               failed: int | None = None, description: str | None = None, **info: Any) -> None:
        """Set any of the counts, the description or the shown numbers, and report."""
        changes: dict[str, Any] = {k: v for k, v in (("done", done), ("total", total),
                                                     ("failed", failed),
                                                     ("description", description))
                                   if v is not None}
        if info:
            changes["info"] = {**self.step.info, **info}
        self.step = replace(self.step, message=None, **changes)
        self._send(self.step)

    def say(self, message: str, **info: Any) -> None:
        """A line for people (printed above the bar); ``info`` carries its numbers for programs."""
        self._send(replace(self.step, message=message, info=info))
