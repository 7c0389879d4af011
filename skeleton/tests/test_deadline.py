"""Request deadlines sharing one timer per slot."""

import asyncio
import time

import pytest

from ${{ values.packageName }}.core.middleware.deadline import Deadlines, current_task

TIMEOUT = 0.2
SLOT = TIMEOUT / 10


async def run_with_deadline(deadlines: Deadlines, seconds: float) -> tuple[bool, bool, float]:
    """Sleep ``seconds`` under a deadline: (cancelled, timed out, elapsed seconds)."""
    task = current_task()
    started = time.monotonic()
    slot = deadlines.start(task)
    cancelled = False
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        cancelled = True
    finally:
        timed_out = deadlines.finish(task, slot)
    assert task.cancelling() == 0
    return cancelled, timed_out, time.monotonic() - started


def test_a_request_past_its_deadline_is_cancelled_within_one_slot() -> None:
    cancelled, timed_out, elapsed = asyncio.run(run_with_deadline(Deadlines(TIMEOUT), 5))

    assert cancelled
    assert timed_out
    assert TIMEOUT <= elapsed < TIMEOUT + SLOT + 0.1


def test_a_request_that_finishes_in_time_is_left_alone() -> None:
    deadlines = Deadlines(TIMEOUT)

    async def finish_then_wait() -> tuple[bool, bool, float]:
        outcome = await run_with_deadline(deadlines, 0.01)
        await asyncio.sleep(TIMEOUT + 2 * SLOT)  # past the slot's timer: nothing to cancel
        return outcome

    cancelled, timed_out, _ = asyncio.run(finish_then_wait())

    assert not cancelled
    assert not timed_out


def test_concurrent_requests_share_slots_and_time_out_independently() -> None:
    deadlines = Deadlines(TIMEOUT)

    async def both() -> tuple[tuple[bool, bool, float], tuple[bool, bool, float]]:
        return await asyncio.gather(
            run_with_deadline(deadlines, 0.01), run_with_deadline(deadlines, 5)
        )

    fast, slow = asyncio.run(both())
    fast_cancelled, fast_timed_out, _ = fast
    slow_cancelled, slow_timed_out, _ = slow

    assert (fast_cancelled, fast_timed_out) == (False, False)
    assert (slow_cancelled, slow_timed_out) == (True, True)


def test_each_event_loop_gets_its_own_timers() -> None:
    """Test clients run one app on several loops; a slot of a closed loop must not swallow
    the deadline of a request on the next one."""
    deadlines = Deadlines(TIMEOUT)

    for _ in range(3):
        # Leaves its slot's timer pending on a loop that is then closed...
        asyncio.run(run_with_deadline(deadlines, 0))
        # ...and the next request, on a new loop, falls in the same slot of time.
        _, timed_out, elapsed = asyncio.run(run_with_deadline(deadlines, 5))
        assert timed_out
        assert elapsed < TIMEOUT + SLOT + 0.1


def test_a_cancellation_that_is_not_the_deadline_is_not_claimed() -> None:
    deadlines = Deadlines(TIMEOUT)

    async def cancelled_from_outside() -> bool:
        task = asyncio.create_task(asyncio.sleep(5))
        slot = deadlines.start(task)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return deadlines.finish(task, slot)

    assert asyncio.run(cancelled_from_outside()) is False
