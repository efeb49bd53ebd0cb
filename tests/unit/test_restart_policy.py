"""The restart policy of `previewd up`, on a fake clock: backoff doubles to a ceiling, resets after a
child stayed up, and a crash loop (5 exits within 2 minutes) gives up."""

from __future__ import annotations

from runtime.restart_policy import Backoff, RestartPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_up_to_the_ceiling() -> None:
    clock = Clock()
    # No crash loop here: only the delays are looked at.
    backoff = Backoff(RestartPolicy(crash_loop_exits=100), clock)
    delays = []
    for _ in range(8):
        backoff.started()
        clock.now += 1
        delays.append(backoff.exited())
        clock.now += 60  # the wait itself: long, so no crash loop window fills
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_child_that_stayed_up_starts_from_the_first_delay_again() -> None:
    clock = Clock()
    backoff = Backoff(RestartPolicy(), clock)
    for expected in (1, 2, 4):
        backoff.started()
        clock.now += 5
        assert backoff.exited() == expected
    backoff.started()
    clock.now += 61
    assert backoff.exited() == 1


def test_five_exits_within_two_minutes_are_a_crash_loop() -> None:
    clock = Clock()
    backoff = Backoff(RestartPolicy(), clock)
    results = []
    for _ in range(5):
        backoff.started()
        clock.now += 10
        results.append(backoff.exited())
    assert results[:4] == [1, 2, 4, 8]
    assert results[4] is None


def test_exits_spread_over_more_than_the_window_are_not_a_crash_loop() -> None:
    clock = Clock()
    backoff = Backoff(RestartPolicy(stable_after=1000), clock)
    for _ in range(10):
        backoff.started()
        clock.now += 31
        assert backoff.exited() is not None
