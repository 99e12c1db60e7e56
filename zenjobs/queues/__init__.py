"""The task-queue seam: how a run reaches the service as an HTTP task.

:mod:`.protocol` is the seam (:class:`~zenjobs.queues.protocol.TaskQueue`). The
implementations sit side by side:

* :mod:`.simulated` (with :mod:`.simulated_state` and :mod:`.pushers`): Cloud Tasks'
  dispatch, rate limits and retries in process, for tests and ``zenjobs dev``;
* :mod:`.cloud_tasks`: Google Cloud Tasks, in production.

Both refuse the same tasks for the same reasons (:mod:`.limits`).
"""
