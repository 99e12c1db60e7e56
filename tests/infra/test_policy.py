"""Policy on the generated Terraform, parsed with python-hcl2 (the module copy included).

Checked on fresh generations (the example, and a registry with custom queues and
a heavy worker) and on the committed examples/newsletter/infra:
exactly one Cloud Scheduler job; every HTTP target (the scheduler's and each
queue's) carries an OIDC token for the invoker whose audience is the service
URL it calls; no primitive role anywhere; run.invoker only on Cloud Run service
resources; enqueue rights per queue; queues match the registry; Firestore
indexes and TTL match what the store queries and writes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from infra_support import (
    EXAMPLE_INFRA,
    EXAMPLE_SETTINGS,
    HEAVY_SETTINGS,
    MODULE_DIR,
    generate_dir,
    parse_dir,
    resources,
    varied_registry,
    walk_strings,
)

from examples.newsletter.jobs import jobs as newsletter
from zenjobs import JobDescriptor
from zenjobs.infra.plan import MASTER_PATH, InfraSettings, build_plan
from zenjobs.stores.firestore.store import (
    DEAD_RUNS_INDEX,
    DUE_INDEXES,
    JOB_DEAD_RUNS_INDEX,
    OVERDUE_INDEX,
    RUN_COUNTS_INDEX,
    RUNS_SUBCOLLECTION,
    TTL_FIELD,
)
from zenjobs.vocabulary import DEFAULT_LEASE_GRACE

PRIMITIVE = re.compile(r"roles/(owner|editor|viewer)\b")
INVOKER_EMAIL = "${google_service_account.invoker.email}"
RUN_SERVICE_IAM = {"google_cloud_run_v2_service_iam_member"}
Parsed = dict[str, dict[str, Any]]

CASES = {
    "newsletter": (list(newsletter.descriptors), EXAMPLE_SETTINGS),
    "varied-heavy-worker": (varied_registry(), HEAVY_SETTINGS),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Parsed, list[JobDescriptor], InfraSettings]:
    descriptors, settings = CASES[request.param]
    out = tmp_path_factory.mktemp(request.param)
    generate_dir(out, descriptors, settings)
    return parse_dir(out), descriptors, settings


def module_block(parsed: Parsed) -> dict[str, Any]:
    blocks = [m for doc in parsed.values() for b in doc.get("module", []) for m in b.values()]
    assert len(blocks) == 1
    body: dict[str, Any] = blocks[0]
    return body


def all_locals(parsed: Parsed) -> dict[str, Any]:
    return {k: v for doc in parsed.values() for b in doc.get("locals", []) for k, v in b.items()}


def one(body: dict[str, Any], block: str) -> dict[str, Any]:
    """The single nested block ``block`` of ``body`` (Terraform allows only one of these)."""
    items = body.get(block)
    assert isinstance(items, list) and len(items) == 1, f"expected exactly one {block} block"
    item: dict[str, Any] = items[0]
    return item


def test_exactly_one_scheduler_job(generated: tuple[Parsed, Any, Any]) -> None:
    parsed, _, _ = generated
    jobs = resources(parsed, "google_cloud_scheduler_job")
    assert list(jobs) == ["modules/zenjobs/scheduler.tf:master"]
    master = jobs["modules/zenjobs/scheduler.tf:master"]
    assert "count" not in master and "for_each" not in master


def test_scheduler_target_posts_the_tick_with_oidc_for_the_service(
    generated: tuple[Parsed, Any, InfraSettings],
) -> None:
    parsed, _, settings = generated
    master = resources(parsed, "google_cloud_scheduler_job")["modules/zenjobs/scheduler.tf:master"]
    target = one(master, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"] == "${var.service_url}" + MASTER_PATH
    oidc = one(target, "oidc_token")
    assert oidc == {"service_account_email": INVOKER_EMAIL, "audience": "${var.service_url}"}
    one(master, "retry_config")
    assert master["attempt_deadline"] == "${var.master_attempt_deadline}"
    # ... and the root binds var.service_url to the configured service URL.
    assert module_block(parsed)["service_url"] == settings.service_url


def test_every_queue_target_carries_oidc_for_the_service_it_calls(
    generated: tuple[Parsed, Any, InfraSettings],
) -> None:
    parsed, _, settings = generated
    queues = resources(parsed, "google_cloud_tasks_queue")
    assert list(queues) == ["modules/zenjobs/queues.tf:queue"]
    queue = queues["modules/zenjobs/queues.tf:queue"]
    target = one(queue, "http_target")
    oidc = one(target, "oidc_token")
    audience = "${local.queue_urls[each.key]}"
    assert oidc == {"service_account_email": INVOKER_EMAIL, "audience": audience}
    override = one(target, "uri_override")
    assert override["host"] == '${trimprefix(local.queue_urls[each.key], "https://")}'
    assert override["uri_override_enforce_mode"] == "ALWAYS"
    # queue_urls maps each queue to service_url, or to the heavy worker for heavy queues.
    locals_ = all_locals(parsed)
    assert locals_["queue_urls"] == (
        "${{for name, q in var.queues : name => q.heavy ? local.heavy_url : var.service_url}}"
    )
    assert locals_["heavy_url"] == (
        "${var.heavy_service_url == null ? var.service_url : var.heavy_service_url}"
    )
    root = module_block(parsed)
    assert root["service_url"] == settings.service_url
    assert root.get("heavy_service_url") == settings.heavy_service_url


def test_no_primitive_roles_anywhere(generated: tuple[Parsed, Any, Any]) -> None:
    parsed, _, _ = generated
    for rel, doc in parsed.items():
        found = [s for s in walk_strings(doc) if PRIMITIVE.search(s)]
        assert found == [], rel


def iam_resources(parsed: Parsed) -> dict[str, tuple[str, dict[str, Any]]]:
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for rel, doc in parsed.items():
        for block in doc.get("resource", []):
            for kind, named in block.items():
                if "_iam_" in kind:
                    for name, body in named.items():
                        found[f"{rel}:{name}"] = (kind, body)
    return found


def test_iam_is_scoped_to_resources(generated: tuple[Parsed, Any, Any]) -> None:
    parsed, _, _ = generated
    iam = iam_resources(parsed)
    kinds = {kind for kind, _ in iam.values()}
    # Additive members only: nothing authoritative that could wipe other grants.
    assert not {k for k in kinds if k.endswith(("_iam_binding", "_iam_policy"))}
    for where, (kind, body) in iam.items():
        role = body["role"]
        if role == "roles/run.invoker":
            assert kind in RUN_SERVICE_IAM, where
            if where.endswith(":dashboard"):
                # The dashboard's members, on the main service only (test_dashboard_iam).
                assert body["for_each"] == "${toset(var.dashboard_members)}", where
                assert body["name"] == "${var.service_name}" and body["member"] == "${each.value}"
            else:
                assert body["name"] == "${each.value}", where
                assert body["member"] == "${local.invoker_member}", where
        if kind == "google_project_iam_member":
            assert role == "roles/datastore.user", f"{where}: project-wide {role}"
    by_role = {body["role"]: (kind, body) for kind, body in iam.values()}
    kind, enqueuer = by_role["roles/cloudtasks.enqueuer"]
    assert kind == "google_cloud_tasks_queue_iam_member"
    assert enqueuer["for_each"] == "${google_cloud_tasks_queue.queue}"
    assert enqueuer["member"] == "${local.runtime_member}"
    kind, acts_as = by_role["roles/iam.serviceAccountUser"]
    assert kind == "google_service_account_iam_member"
    assert acts_as["service_account_id"] == "${google_service_account.invoker.name}"
    assert acts_as["member"] == "${local.runtime_member}"


def test_invoker_may_call_exactly_the_configured_services(
    generated: tuple[Parsed, Any, InfraSettings],
) -> None:
    parsed, _, settings = generated
    locals_ = all_locals(parsed)
    assert "var.service_name" in locals_["invoked_services"]
    assert "var.heavy_service_name" in locals_["invoked_services"]
    root = module_block(parsed)
    assert root["service_name"] == settings.service
    assert root.get("heavy_service_name") == settings.heavy_service


def test_queues_match_the_registry(
    generated: tuple[Parsed, list[JobDescriptor], InfraSettings],
) -> None:
    parsed, descriptors, settings = generated
    plan = build_plan(descriptors, settings)
    queues = module_block(parsed)["queues"]
    assert sorted(queues) == sorted({d.queue_id for d in descriptors})
    for name, written in queues.items():
        jobs = [d for d in descriptors if d.queue_id == name]
        limits = [d.rate_limit for d in jobs if d.rate_limit is not None]
        rps = [r.max_dispatches_per_second for r in limits if r.max_dispatches_per_second]
        conc = [r.max_concurrent_dispatches for r in limits if r.max_concurrent_dispatches]
        assert written.get("max_dispatches_per_second") == (min(rps) if rps else None), name
        assert written.get("max_concurrent_dispatches") == (min(conc) if conc else None), name
        assert written.get("heavy", False) == all(d.weight.value == "heavy" for d in jobs), name
        assert written["max_attempts"] == plan.queue(name).max_attempts <= 10
        longest = max(d.timeout for d in jobs)
        backoff = timedelta(seconds=int(written["max_backoff"].rstrip("s")))
        assert backoff >= min(longest, timedelta(hours=1))
        # Retries outlast a crashed holder's lease (timeout + grace) by a full margin.
        retry_for = timedelta(seconds=int(written["max_retry_duration"].rstrip("s")))
        assert retry_for == plan.queue(name).max_retry_duration
        assert retry_for >= 2 * (longest + DEFAULT_LEASE_GRACE)
    queue = resources(parsed, "google_cloud_tasks_queue")["modules/zenjobs/queues.tf:queue"]
    assert queue["for_each"] == "${var.queues}" and queue["name"] == "${each.key}"


#: The composite indexes of the runs collection (group) the dashboard's queries need.
RUNS_INDEXES = {"dead_runs": DEAD_RUNS_INDEX, "job_dead_runs": JOB_DEAD_RUNS_INDEX,
                "run_counts": RUN_COUNTS_INDEX}


def index_fields(body: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((f["field_path"], f["order"]) for f in body["fields"])


def test_firestore_index_and_ttl_match_the_store(generated: tuple[Parsed, Any, Any]) -> None:
    parsed, _, _ = generated
    indexes = resources(parsed, "google_firestore_index")
    runs = {name.split(":")[1]: body for name, body in indexes.items()
            if body["collection"] != "${var.jobs_collection}"}
    jobs = [body for body in indexes.values() if body not in runs.values()]
    assert sorted(index_fields(body) for body in jobs) == sorted(DUE_INDEXES)
    for body in jobs:
        assert body["query_scope"] == "COLLECTION"
    assert sorted(runs) == sorted(RUNS_INDEXES)
    for body in indexes.values():
        assert body["count"] == "${var.create_firestore_index ? 1 : 0}"
    fields = resources(parsed, "google_firestore_field")
    assert sorted(fields) == ["modules/zenjobs/firestore.tf:runs_overdue",
                              "modules/zenjobs/firestore.tf:runs_ttl"]
    ttl = fields["modules/zenjobs/firestore.tf:runs_ttl"]
    assert (ttl["collection"], ttl["field"]) == (RUNS_SUBCOLLECTION, TTL_FIELD)
    one(ttl, "ttl_config")


def test_overdue_runs_index_matches_the_store_query(generated: tuple[Parsed, Any, Any]) -> None:
    """The emulator needs no index, so this is what proves production has the one the
    reconciler's collection-group query (``FirestoreRecovery.overdue_runs``) needs."""
    parsed, _, _ = generated
    field = resources(parsed, "google_firestore_field")["modules/zenjobs/firestore.tf:runs_overdue"]
    assert field["count"] == "${var.create_firestore_index ? 1 : 0}"
    (indexes,) = one(field, "index_config")["indexes"]
    assert (field["collection"], field["field"], indexes["order"],
            indexes["query_scope"]) == OVERDUE_INDEX
    assert "ttl_config" not in field


def test_dashboard_runs_indexes_match_the_store_queries(
        generated: tuple[Parsed, Any, Any]) -> None:
    """The emulator needs no index, so this is what proves production has the ones the
    dashboard's queries (``FirestoreQueries.dead_runs`` / ``run_counts``) need."""
    parsed, _, _ = generated
    indexes = resources(parsed, "google_firestore_index")
    for name, (collection, scope, fields) in RUNS_INDEXES.items():
        body = indexes[f"modules/zenjobs/firestore.tf:{name}"]
        assert (body["collection"], body["query_scope"], index_fields(body)) == (
            collection, scope, fields), name
    assert DEAD_RUNS_INDEX[:2] == (RUNS_SUBCOLLECTION, "COLLECTION_GROUP")
    assert JOB_DEAD_RUNS_INDEX[1:] == ("COLLECTION", DEAD_RUNS_INDEX[2])


def test_firestore_index_ids_output_lists_every_index(generated: tuple[Parsed, Any, Any]) -> None:
    parsed, _, _ = generated
    (output,) = [block["firestore_index_ids"] for rel, doc in parsed.items()
                 if rel.startswith("modules/") for block in doc.get("output", [])
                 if "firestore_index_ids" in block]
    value = str(output["value"])
    for name in resources(parsed, "google_firestore_index"):
        assert f"google_firestore_index.{name.split(':')[1]}[*].id" in value, name
    assert "google_firestore_field.runs_overdue[*].id" in value


def test_generated_root_only_instantiates_the_module(generated: tuple[Parsed, Any, Any]) -> None:
    parsed, _, _ = generated
    root = {rel: doc for rel, doc in parsed.items() if "/" not in rel}
    assert not [rel for rel, doc in root.items() if "resource" in doc]
    assert module_block(parsed)["source"] == "./modules/zenjobs"


def test_committed_example_obeys_the_same_policy() -> None:
    parsed = parse_dir(EXAMPLE_INFRA)
    assert len(resources(parsed, "google_cloud_scheduler_job")) == 1
    assert not [s for doc in parsed.values() for s in walk_strings(doc) if PRIMITIVE.search(s)]
    assert sorted(module_block(parsed)["queues"]) == sorted({d.queue_id for d in newsletter})


def test_canonical_module_obeys_the_policy() -> None:
    parsed = parse_dir(MODULE_DIR)
    assert len(resources(parsed, "google_cloud_scheduler_job")) == 1
    assert not [s for doc in parsed.values() for s in walk_strings(doc) if PRIMITIVE.search(s)]
    for where, (kind, body) in iam_resources(parsed).items():
        if body["role"] == "roles/run.invoker":
            assert kind in RUN_SERVICE_IAM, where


def test_policy_parser_sees_a_second_http_target(tmp_path: Path) -> None:
    """The helper that enforces "one http_target" really counts blocks."""
    (tmp_path / "x.tf").write_text(
        'resource "google_cloud_scheduler_job" "m" {\n'
        "  http_target {\n    uri = \"a\"\n  }\n"
        "  http_target {\n    uri = \"b\"\n  }\n"
        "}\n"
    )
    job = resources(parse_dir(tmp_path), "google_cloud_scheduler_job")["x.tf:m"]
    with pytest.raises(AssertionError, match="exactly one http_target"):
        one(job, "http_target")
