"""The infrastructure plan: what Terraform must create for a registry, as data.

The plan is the single place where decisions are made (which queues, which
limits, which bindings); templates only loop over it and substitute. Every
collection is a tuple in a stable order, so the same registry always yields
the same plan and therefore byte-identical files.

Queue rule (shared with the runtime through :attr:`JobDescriptor.queue_id`):
a job's tasks go to ``descriptor.queue`` when it names one, else to
``zenjobs-<weight>``. Every queue any descriptor routes to is created, because
even light recurring jobs enqueue their retries. A queue gets the strictest
rate limit any of its jobs asks for. Heavy jobs must not share a queue with
other weights: their queue is routed to the heavy worker when there is one.

Backstop rule: a delivery that finds another holder's live lease is answered
503 and only the queue's own retries bring it back. A crashed holder's lease
lasts the job's timeout plus :data:`DEFAULT_LEASE_GRACE`, so each queue keeps
retrying for ``max_retry_duration`` = twice its longest such lease window (and
at least the window plus one ``max_backoff``, so an attempt always falls after
expiry); Cloud Tasks gives up only when that *and* ``max_attempts`` are spent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from ..descriptor import JobDescriptor
from ..errors import ConfigurationError, DefinitionError
from ..vocabulary import DEFAULT_LEASE_GRACE, MASTER_JOB_ID, Weight

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
_SERVICE = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")
_URL = re.compile(r"^https://[a-z0-9.-]+$")
_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9-]+@[a-z0-9.-]+\.iam\.gserviceaccount\.com$")
_DOMAIN = r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
#: An IAM member the dashboard may be opened by: ``user:``, ``group:`` or
#: ``serviceAccount:`` and an email, or ``domain:`` and a Google Workspace domain.
#: The module's ``dashboard_members`` validation uses the same pattern.
_DASHBOARD_MEMBER = re.compile(
    rf"(user|group|serviceAccount):[A-Za-z0-9._%+'-]+@{_DOMAIN}|domain:{_DOMAIN}"
)
#: IAM's public principals: granting either would put the dashboard on the internet.
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

#: Where the service serves the dashboard (docs/dashboard.md).
DASHBOARD_PATH = "/_zenjobs/ui"

#: The master tick's path on the service (the runtime mounts it there).
MASTER_PATH = "/_zenjobs/master"
#: Every minute: the finest grain a periodic job may ask for.
MASTER_SCHEDULE = "* * * * *"
MASTER_TIME_ZONE = "Etc/UTC"
#: The tick runs light recurring jobs inline, each under its timeout, so its
#: attempt deadline is the longest such timeout plus this margin (the due query,
#: claims, run records), never below the floor nor above Cloud Scheduler's
#: 30-minute limit for HTTP targets.
MASTER_ATTEMPT_DEADLINE_MARGIN = timedelta(seconds=60)
MASTER_ATTEMPT_DEADLINE_FLOOR = timedelta(seconds=120)
MASTER_ATTEMPT_DEADLINE_LIMIT = timedelta(minutes=30)

#: Backstop retry config of every queue. Retries are the executor's; the queue
#: only retries crashes, infrastructure 5xx and "lease held" 503s.
BACKSTOP_MAX_ATTEMPTS = 5
BACKSTOP_MIN_BACKOFF = timedelta(seconds=10)
BACKSTOP_MAX_BACKOFF_FLOOR = timedelta(minutes=5)
BACKSTOP_MAX_BACKOFF_CAP = timedelta(hours=1)
BACKSTOP_MAX_DOUBLINGS = 4
#: ``max_retry_duration`` is this many lease windows (timeout + lease grace).
BACKSTOP_LEASE_MARGIN = 2
#: Cloud Tasks keeps a task at most 31 days, so a longer retry duration is a lie.
BACKSTOP_MAX_RETRY_DURATION_LIMIT = timedelta(days=30)


@dataclass(frozen=True)
class InfraSettings:
    """Where the infrastructure goes; checked on construction.

    ``dashboard_members`` are the IAM members (``user:EMAIL``, ``group:EMAIL``,
    ``serviceAccount:EMAIL``, ``domain:DOMAIN``) granted ``roles/run.invoker`` on
    ``service`` so they can reach the dashboard at :data:`DASHBOARD_PATH`. Public
    principals (``allUsers``, ``allAuthenticatedUsers``) are refused, and so is a
    member listed twice (emails and domains compare case-insensitively, as IAM
    does): a duplicate is refused, not dropped, because two Terraform resources
    for one grant would revoke it for both when either is removed. Any sequence
    of strings is accepted and kept, in its order, as a tuple.
    """

    project: str
    region: str
    service: str
    service_url: str
    heavy_service: str | None = None
    heavy_service_url: str | None = None
    runtime_service_account: str | None = None
    dashboard_members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems: list[str] = []

        def check(name: str, value: str | None, pattern: re.Pattern[str], hint: str) -> None:
            if value is not None and not (isinstance(value, str) and pattern.match(value)):
                problems.append(f"{name} {value!r} {hint}")

        check("project", self.project, _PROJECT, "is not a Google Cloud project id")
        check("region", self.region, _REGION, "is not a region like europe-west1")
        check("service", self.service, _SERVICE, "is not a Cloud Run service name")
        check("service_url", self.service_url, _URL, "must be https://HOST with no path")
        check("heavy_service", self.heavy_service, _SERVICE, "is not a Cloud Run service name")
        check("heavy_service_url", self.heavy_service_url, _URL, "must be https://HOST, no path")
        check(
            "runtime_service_account",
            self.runtime_service_account,
            _SERVICE_ACCOUNT,
            "is not a service account email",
        )
        if (self.heavy_service is None) != (self.heavy_service_url is None):
            problems.append("heavy_service and heavy_service_url go together: set both or neither")
        problems.extend(self._check_dashboard_members())
        if problems:
            raise ConfigurationError("; ".join(problems))

    def _check_dashboard_members(self) -> list[str]:
        members = self.dashboard_members
        if isinstance(members, str) or not isinstance(members, Iterable):
            return [
                f"dashboard_members {members!r} must be a list of IAM members, "
                f"like ('user:oncall@example.com',), not a single value"
            ]
        members = tuple(members)
        object.__setattr__(self, "dashboard_members", members)  # a list becomes a tuple
        problems: list[str] = []
        seen: dict[str, str] = {}
        for member in members:
            if not isinstance(member, str):
                problems.append(f"dashboard_members {member!r} is not a string")
            elif member.strip().lower() in {p.lower() for p in PUBLIC_MEMBERS}:
                problems.append(
                    f"dashboard_members {member!r} would make the dashboard public: "
                    f"name its users, groups, service accounts or domain instead"
                )
            elif not _DASHBOARD_MEMBER.fullmatch(member):
                problems.append(
                    f"dashboard_members {member!r} is not an IAM member: expected "
                    f"user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN"
                )
            elif member.lower() in seen:
                problems.append(
                    f"dashboard_members {member!r} is listed twice "
                    f"(also as {seen[member.lower()]!r}): list each member once"
                )
            else:
                seen[member.lower()] = member
        return problems


@dataclass(frozen=True)
class QueuePlan:
    """One Cloud Tasks queue and the jobs routed to it."""

    name: str
    jobs: tuple[str, ...]
    heavy: bool
    target_url: str
    max_dispatches_per_second: float | None
    max_concurrent_dispatches: int | None
    max_attempts: int
    min_backoff: timedelta
    max_backoff: timedelta
    max_doublings: int
    max_retry_duration: timedelta


@dataclass(frozen=True)
class SchedulerPlan:
    """The one Cloud Scheduler job: the master tick."""

    name: str
    schedule: str
    time_zone: str
    uri: str
    audience: str
    attempt_deadline: timedelta = MASTER_ATTEMPT_DEADLINE_FLOOR


@dataclass(frozen=True)
class Binding:
    """One IAM grant, described for humans (the module holds the real resources)."""

    role: str
    member: str
    resource: str


@dataclass(frozen=True)
class InfraPlan:
    settings: InfraSettings
    queues: tuple[QueuePlan, ...]
    scheduler: SchedulerPlan
    bindings: tuple[Binding, ...]
    recurring_jobs: tuple[str, ...]
    #: Granted ``roles/run.invoker`` on the service for the dashboard, sorted.
    dashboard_members: tuple[str, ...] = ()

    @property
    def scheduler_jobs(self) -> int:
        """Always 1: every schedule is served by the master tick."""
        return 1

    def queue(self, name: str) -> QueuePlan:
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)


def build_plan(descriptors: Iterable[JobDescriptor], settings: InfraSettings) -> InfraPlan:
    """Derive the plan; raises :class:`DefinitionError` naming the job that breaks a rule."""
    by_queue: dict[str, list[JobDescriptor]] = {}
    for descriptor in descriptors:
        by_queue.setdefault(descriptor.queue_id, []).append(descriptor)
    if not by_queue:
        raise ConfigurationError("the registry holds no jobs: there is nothing to generate")
    queues = tuple(_queue(name, by_queue[name], settings) for name in sorted(by_queue))
    all_jobs = [d for name in sorted(by_queue) for d in by_queue[name]]
    recurring = tuple(sorted(d.id for d in all_jobs if d.is_recurring))
    scheduler = SchedulerPlan(
        name=MASTER_JOB_ID,
        schedule=MASTER_SCHEDULE,
        time_zone=MASTER_TIME_ZONE,
        uri=settings.service_url + MASTER_PATH,
        audience=settings.service_url,
        attempt_deadline=master_attempt_deadline(all_jobs),
    )
    return InfraPlan(
        settings,
        queues,
        scheduler,
        _bindings(settings, queues),
        recurring,
        _dashboard_members(settings),
    )


def _queue(name: str, jobs: list[JobDescriptor], settings: InfraSettings) -> QueuePlan:
    heavy = [d.id for d in jobs if d.weight is Weight.HEAVY]
    if heavy and len(heavy) != len(jobs):
        other = next(d for d in jobs if d.weight is not Weight.HEAVY)
        raise DefinitionError(
            heavy[0],
            "queue",
            f"heavy jobs need their own queue, but {name!r} is shared with "
            f"{other.weight.value} job {other.id!r}",
        )
    rps = [d.rate_limit.max_dispatches_per_second for d in jobs if d.rate_limit is not None]
    conc = [d.rate_limit.max_concurrent_dispatches for d in jobs if d.rate_limit is not None]
    rps_set = [v for v in rps if v is not None]
    conc_set = [v for v in conc if v is not None]
    longest = max(jobs, key=lambda d: d.timeout)
    # While a lease is live, redeliveries only earn 503s: back off up to the timeout.
    max_backoff = _whole_seconds(
        min(max(longest.timeout, BACKSTOP_MAX_BACKOFF_FLOOR), BACKSTOP_MAX_BACKOFF_CAP)
    )
    max_retry_duration = backstop_retry_duration(longest, max_backoff)
    is_heavy = bool(heavy)
    target = settings.heavy_service_url if is_heavy and settings.heavy_service_url else None
    return QueuePlan(
        name=name,
        jobs=tuple(sorted(d.id for d in jobs)),
        heavy=is_heavy,
        target_url=target or settings.service_url,
        max_dispatches_per_second=min(rps_set) if rps_set else None,
        max_concurrent_dispatches=min(conc_set) if conc_set else None,
        max_attempts=BACKSTOP_MAX_ATTEMPTS,
        min_backoff=BACKSTOP_MIN_BACKOFF,
        max_backoff=max_backoff,
        max_doublings=BACKSTOP_MAX_DOUBLINGS,
        max_retry_duration=max_retry_duration,
    )


def backstop_retry_duration(longest: JobDescriptor, max_backoff: timedelta) -> timedelta:
    """How long a queue keeps retrying a task, so it outlasts a crashed holder's lease.

    The lease window is the longest timeout on the queue plus the runtime's
    lease grace. Retrying for :data:`BACKSTOP_LEASE_MARGIN` windows, and never
    for less than one window plus one ``max_backoff`` (the widest gap between
    two attempts), guarantees a delivery after the lease expired, which takes
    the run over. ``longest`` is named in the error when that exceeds what
    Cloud Tasks can keep.
    """
    window = longest.timeout + DEFAULT_LEASE_GRACE
    duration = _whole_seconds(max(window * BACKSTOP_LEASE_MARGIN, window + max_backoff))
    if duration > BACKSTOP_MAX_RETRY_DURATION_LIMIT:
        raise DefinitionError(
            longest.id,
            "timeout",
            f"a crashed run is taken over only after {window} (timeout + lease grace), but "
            f"its queue's backstop retries would have to last {duration}, longer than the "
            f"{BACKSTOP_MAX_RETRY_DURATION_LIMIT.days} days Cloud Tasks keeps a task",
        )
    return duration


def master_attempt_deadline(jobs: Iterable[JobDescriptor]) -> timedelta:
    """How long Cloud Scheduler waits for a tick: it outlasts every light recurring job.

    Medium and heavy jobs only get enqueued by the tick, so they do not count.
    A light recurring job too long for any tick is refused, naming the job.
    """
    inline = [d for d in jobs if d.weight is Weight.LIGHT and d.is_recurring]
    if not inline:
        return MASTER_ATTEMPT_DEADLINE_FLOOR
    longest = max(inline, key=lambda d: d.timeout)
    deadline = _whole_seconds(longest.timeout + MASTER_ATTEMPT_DEADLINE_MARGIN)
    if deadline > MASTER_ATTEMPT_DEADLINE_LIMIT:
        raise DefinitionError(
            longest.id,
            "timeout",
            f"light recurring jobs run inside the master tick, which Cloud Scheduler waits "
            f"for at most {MASTER_ATTEMPT_DEADLINE_LIMIT} (timeout + "
            f"{int(MASTER_ATTEMPT_DEADLINE_MARGIN.total_seconds())}s margin would be "
            f"{deadline}); shorten the timeout or make the job medium",
        )
    return max(deadline, MASTER_ATTEMPT_DEADLINE_FLOOR)


def _whole_seconds(value: timedelta) -> timedelta:
    return timedelta(seconds=int(value.total_seconds() + 0.999999))


def _bindings(settings: InfraSettings, queues: tuple[QueuePlan, ...]) -> tuple[Binding, ...]:
    runtime = settings.runtime_service_account or "zenjobs-runtime (created)"
    runtime_member = f"serviceAccount:{runtime}"
    invoker = "serviceAccount:zenjobs-invoker"
    services = [settings.service] + ([settings.heavy_service] if settings.heavy_service else [])
    bindings = [Binding("roles/run.invoker", invoker, f"Cloud Run service {s}") for s in services]
    invoker_account = "service account zenjobs-invoker"
    bindings.append(Binding("roles/iam.serviceAccountUser", runtime_member, invoker_account))
    bindings.extend(
        Binding("roles/cloudtasks.enqueuer", runtime_member, f"Cloud Tasks queue {q.name}")
        for q in queues
    )
    bindings.append(
        Binding("roles/datastore.user", runtime_member, f"project {settings.project} (Firestore)")
    )
    bindings.extend(
        Binding(
            "roles/iam.serviceAccountOpenIdTokenCreator",
            f"{agent} service agent",
            invoker_account,
        )
        for agent in ("Cloud Scheduler", "Cloud Tasks")
    )
    bindings.extend(
        Binding(
            "roles/run.invoker",
            member,
            f"Cloud Run service {settings.service} (dashboard {DASHBOARD_PATH})",
        )
        for member in _dashboard_members(settings)
    )
    return tuple(bindings)


def _dashboard_members(settings: InfraSettings) -> tuple[str, ...]:
    """Sorted: the order they were given in (flags, ``pyproject.toml``) changes nothing."""
    return tuple(sorted(settings.dashboard_members))
