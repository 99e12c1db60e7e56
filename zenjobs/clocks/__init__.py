"""The clock seam: :class:`~zenjobs.clocks.protocol.Clock` and the real clock.

The other clocks live where they are used: ``ScaledClock`` in :mod:`zenjobs.dev`,
``VirtualClock`` in :mod:`zenjobs.testing`.
"""
