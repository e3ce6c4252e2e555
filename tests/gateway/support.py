"""Helpers shared by the gateway tests."""


class SteppingClock:
    """A cache timer that moves on by `step` seconds every time it is read: an entry can be alive at one read
    and expired at the next, as under load."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now
