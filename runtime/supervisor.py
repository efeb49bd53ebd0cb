"""`previewd up`'s supervision: a child that exits unexpectedly is started again, with backoff.

One line per event, in the terminal and in {data_dir}/logs/up.log: what died and how, when it
starts again. Only the operator (Ctrl-C, SIGTERM) or a crash loop (RestartPolicy) stops everything.
A child may have a `health` hook: after `health_grace` seconds of running, a reason returned by it
means the child is stuck, so its process group is killed (SIGKILL) and it is started again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from runtime.orphans import end_orphans
from runtime.restart_policy import Backoff, RestartPolicy


class Process(Protocol):
    """One run of a child, as the supervisor watches it."""

    @property
    def pid(self) -> int: ...

    def exit_status(self) -> str | None:
        """None while it runs; how it ended once it did ("killed by SIGKILL", "exit status 1")."""
        ...

    def kill(self) -> None:
        """Kill it at once (it is stuck)."""
        ...

    def stop(self) -> None:
        """Stop it in order (shutdown)."""
        ...


@dataclass
class ChildSpec:
    name: str
    # Starts one run (the first and every restart); an exception counts as an exit.
    start: Callable[[], Process]
    # Named in every event about the child: where the operator looks next.
    log_file: Path
    # A reason the running child (given its pid) is stuck, or None. Called from `up`'s loop: it must
    # be quick.
    health: Callable[[int], str | None] | None = None
    # No verdict before a fresh start had this long to come up, then one every `health_interval`.
    health_grace: float = 30.0
    health_interval: float = 5.0


class CrashLoop(Exception):
    """A child kept dying: the message names it and its log."""


@dataclass
class _Supervised:
    spec: ChildSpec
    backoff: Backoff
    process: Process | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    next_health_at: float = 0.0


@dataclass
class Supervisor:
    events_file: Path
    say: Callable[[str], None]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    clock: Callable[[], float] = time.monotonic
    # With `up` a subreaper (runtime/orphans.py): end what a dead child left; `keep` are other
    # children of ours that are not supervised (a guard).
    end_orphans: bool = False
    keep: set[int] = field(default_factory=set)
    _children: list[_Supervised] = field(default_factory=list)

    def start(self, spec: ChildSpec) -> Process:
        """Start a child for the first time; a failure here is the caller's (nothing ran yet)."""
        child = _Supervised(spec, Backoff(self.policy, self.clock))
        self._children.append(child)
        self._launch(child)
        assert child.process is not None
        return child.process

    def alive(self, name: str) -> bool:
        child = next(c for c in self._children if c.spec.name == name)
        return child.process is not None and child.process.exit_status() is None

    def tick(self) -> None:
        """One round: notice exits and stuck children, start again those whose delay is over."""
        for child in self._children:
            now = self.clock()
            if child.process is None:
                if child.restart_at is not None and now >= child.restart_at:
                    self._restart(child)
                continue
            status = child.process.exit_status()
            if status is not None:
                self._exited(child, f"{child.spec.name} exited ({status})")
                continue
            self._stuck(child, now)
        if self.end_orphans:
            self._end_orphans()

    def _end_orphans(self) -> None:
        running = {child.process.pid for child in self._children if child.process is not None}
        ended = end_orphans(running | self.keep)
        if ended:
            left = ", ".join(ended)
            self.event(f"ended what a dead child left running (with their process groups): {left}")

    def _stuck(self, child: _Supervised, now: float) -> None:
        health = child.spec.health
        if health is None or child.process is None:
            return
        if now < child.started_at + child.spec.health_grace or now < child.next_health_at:
            return
        child.next_health_at = now + child.spec.health_interval
        reason = health(child.process.pid)
        if reason is not None:
            child.process.kill()
            self._exited(child, f"{child.spec.name} is stuck ({reason}); killed it (SIGKILL)")

    def _exited(self, child: _Supervised, what: str) -> None:
        child.process = None
        delay = child.backoff.exited()
        if delay is None:
            window = self.policy.crash_loop_window
            message = (
                f"{child.spec.name} exited {self.policy.crash_loop_exits} times within {window:.0f}s; "
                f"stopping everything. See {child.spec.log_file}"
            )
            self.event(f"{what}; {message}")
            raise CrashLoop(message)
        child.restart_at = self.clock() + delay
        self.event(f"{what}; restarting it in {delay:g}s (log: {child.spec.log_file})")

    def _restart(self, child: _Supervised) -> None:
        child.restart_at = None
        try:
            self._launch(child)
        except (Exception, SystemExit) as error:
            self._exited(child, f"{child.spec.name} did not start ({_reason(error)})")
            return
        assert child.process is not None
        self.event(f"{child.spec.name} restarted (pid {child.process.pid})")

    def _launch(self, child: _Supervised) -> None:
        child.process = child.spec.start()
        child.started_at = self.clock()
        child.next_health_at = 0.0
        child.backoff.started()

    def stop_all(self) -> None:
        """In reverse order of their first start: the last started depends on the ones before."""
        for child in reversed(self._children):
            if child.process is not None:
                child.process.stop()
            child.restart_at = None

    def event(self, line: str) -> None:
        self.say(line)
        self.events_file.parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with open(self.events_file, "a", encoding="utf-8") as events:
            events.write(f"{stamp} {line}\n")


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
