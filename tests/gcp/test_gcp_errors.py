"""The one mapping of Google API failures to zenjobs errors shared by the GCP backends."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc

from zenjobs.errors import BackendUnavailableError, ConfigurationError, ZenjobsError
from zenjobs.gcp import errors
from zenjobs.stores.firestore.store import CONFLICTS
from zenjobs.stores.firestore.store import TRANSIENT as FIRESTORE_TRANSIENT

HINTS = {"NOT_FOUND": "run terraform apply"}


@pytest.mark.parametrize("exc", [
    gexc.ServiceUnavailable("down"), gexc.DeadlineExceeded("slow"),
    gexc.ResourceExhausted("quota"), gexc.InternalServerError("oops"),
    ConnectionRefusedError(111, "refused"),
])
def test_transient_failures_are_backend_unavailable(exc: Exception) -> None:
    error = errors.translate(exc, "Cloud Tasks refused task 't'", HINTS)
    assert type(error) is BackendUnavailableError
    assert str(error).startswith(f"Cloud Tasks refused task 't': {errors.status_code(exc)} ")
    assert str(error).endswith("(a transient failure: try again)")


def test_a_hinted_code_is_a_configuration_error_with_code_message_and_hint() -> None:
    error = errors.translate(gexc.NotFound("Queue does not exist."), "enqueue into q", HINTS)
    assert type(error) is ConfigurationError
    assert str(error) == "enqueue into q: NOT_FOUND Queue does not exist. (run terraform apply)"


def test_an_unhinted_code_is_a_plain_zenjobs_error() -> None:
    error = errors.translate(gexc.InvalidArgument("bad url"), "enqueue into q", HINTS)
    assert type(error) is ZenjobsError
    assert str(error) == "enqueue into q: INVALID_ARGUMENT bad url"


def test_firestore_also_retries_aborted_and_exhausted_retries() -> None:
    retry = gexc.RetryError("Timeout of 1.0s exceeded", gexc.ServiceUnavailable("down"))
    for exc in (retry, gexc.Aborted("contention"), gexc.Cancelled("gone")):
        error = errors.translate(exc, "Firestore get_job", transient=FIRESTORE_TRANSIENT)
        assert type(error) is BackendUnavailableError, exc
    assert "Firestore get_job: RetryError Timeout of 1.0s exceeded" in str(
        errors.translate(retry, "Firestore get_job", transient=FIRESTORE_TRANSIENT))
    # A lost compare-and-set is the store's to handle, never reported as unavailable.
    assert not CONFLICTS & FIRESTORE_TRANSIENT


class RefusingFirestore:
    """Stands in for ``firestore.AsyncClient``: every document read fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def collection(self, _name: str) -> RefusingFirestore:
        return self

    def document(self, _name: str) -> RefusingFirestore:
        return self

    async def get(self, **_options: object) -> None:
        raise self.error


@pytest.mark.parametrize(("exc", "kind", "text"), [
    (gexc.PermissionDenied("Missing or insufficient permissions."), ConfigurationError,
     "Firestore get_job: PERMISSION_DENIED Missing or insufficient permissions. (check the "
     "project 'zj-p', database 'db1' and the service account's roles/datastore.user)"),
    (gexc.FailedPrecondition("The query requires an index."), ConfigurationError,
     "is a composite index missing"),
    (gexc.InvalidArgument("bad"), ZenjobsError, "Firestore get_job: INVALID_ARGUMENT bad"),
])
async def test_firestore_store_maps_refusals_with_project_and_database(
        exc: Exception, kind: type[ZenjobsError], text: str) -> None:
    from zenjobs.stores.firestore.store import FirestoreJobStore

    client: Any = RefusingFirestore(exc)
    store = FirestoreJobStore("zj-p", database="db1", client_factory=lambda: client)
    with pytest.raises(kind) as raised:
        await store.get_job("report")
    assert type(raised.value) is kind
    assert text in str(raised.value)
