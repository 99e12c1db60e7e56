"""``zenjobs dev``: the service on 127.0.0.1 with an embedded store and a simulated queue.

:mod:`.server` runs it (the ticking master and the queue's delivery loop, over
real HTTP), :mod:`.recovery` resumes unfinished runs after a restart,
:mod:`.stopping` makes Ctrl-C clean and :mod:`.scaled_clock` runs simulated time
faster. Nothing outside the dev command imports this package.
"""
