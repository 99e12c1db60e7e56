variable "project_id" {
  description = "Google Cloud project that hosts the Cloud Run service, the queues and Firestore."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the Cloud Run service; the queues and the Cloud Scheduler job are created there too."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like europe-west1."
  }
}

variable "service_name" {
  description = "Name of the existing Cloud Run (v2) service that mounts the zenjobs runtime."
  type        = string

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$", var.service_name))
    error_message = "service_name must be a Cloud Run service name: lowercase letters, digits and hyphens, at most 49 characters."
  }
}

variable "service_url" {
  description = "HTTPS base URL of the service, without a path (e.g. https://svc-abc-ew.a.run.app). It is also the OIDC audience."
  type        = string

  validation {
    condition     = can(regex("^https://[a-z0-9.-]+$", var.service_url))
    error_message = "service_url must be https://HOST with no path and no trailing slash."
  }
}

variable "heavy_service_name" {
  description = "Optional separate Cloud Run service for heavy (CPU-bound) jobs. Null routes heavy queues to service_name."
  type        = string
  default     = null

  validation {
    condition     = var.heavy_service_name == null || can(regex("^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$", var.heavy_service_name))
    error_message = "heavy_service_name must be a Cloud Run service name."
  }
}

variable "heavy_service_url" {
  description = "HTTPS base URL of heavy_service_name; tasks of heavy queues are sent there, with this URL as the OIDC audience."
  type        = string
  default     = null

  validation {
    condition     = var.heavy_service_url == null || can(regex("^https://[a-z0-9.-]+$", var.heavy_service_url))
    error_message = "heavy_service_url must be https://HOST with no path and no trailing slash."
  }
}

variable "runtime_service_account_email" {
  description = "Service account the Cloud Run service runs as. Null creates one (runtime_account_id); deploy the service with it."
  type        = string
  default     = null

  validation {
    condition     = var.runtime_service_account_email == null || can(regex("^[a-z0-9-]+@[a-z0-9.-]+\\.iam\\.gserviceaccount\\.com$", var.runtime_service_account_email))
    error_message = "runtime_service_account_email must be a service account email (NAME@PROJECT.iam.gserviceaccount.com)."
  }
}

variable "dashboard_members" {
  description = "IAM members granted roles/run.invoker on service_name so they can reach the zenjobs dashboard (/_zenjobs/ui): user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN. Never allUsers or allAuthenticatedUsers: the dashboard must not be public. The dashboard still checks each caller against its own operators and viewers."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for m in var.dashboard_members : !contains(["allusers", "allauthenticatedusers"], lower(trimspace(m)))])
    error_message = "dashboard_members must never hold allUsers or allAuthenticatedUsers: the dashboard must not be public. Name its users, groups, service accounts or domain instead."
  }

  validation {
    condition     = alltrue([for m in var.dashboard_members : contains(["allusers", "allauthenticatedusers"], lower(trimspace(m))) || can(regex("^((user|group|serviceAccount):[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+|domain:[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+)$", m))])
    error_message = "Every dashboard_members entry must be user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN (the prefix as IAM spells it)."
  }

  validation {
    condition     = length(distinct([for m in var.dashboard_members : lower(m)])) == length(var.dashboard_members)
    error_message = "dashboard_members must list each member once (emails and domains compare case-insensitively, as IAM does)."
  }
}

variable "runtime_account_id" {
  description = "Account id of the runtime service account created when runtime_service_account_email is null."
  type        = string
  default     = "zenjobs-runtime"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.runtime_account_id))
    error_message = "runtime_account_id must be 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "invoker_account_id" {
  description = "Account id of the invoker service account whose OIDC tokens Cloud Scheduler and Cloud Tasks present."
  type        = string
  default     = "zenjobs-invoker"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.invoker_account_id))
    error_message = "invoker_account_id must be 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "queues" {
  description = "Cloud Tasks queues by queue id, as zenjobs gen-infra derives them from the registry. Retries belong to the executor: retry settings here are a backstop for crashes, infrastructure 5xx and \"lease held\" 503s. max_retry_duration must outlast the longest lease a crashed instance can hold (longest job timeout on the queue + 30s lease grace); gen-infra writes twice that."
  type = map(object({
    max_dispatches_per_second = optional(number)
    max_concurrent_dispatches = optional(number)
    max_attempts              = optional(number, 5)
    max_retry_duration        = optional(string, "660s")
    min_backoff               = optional(string, "10s")
    max_backoff               = optional(string, "300s")
    max_doublings             = optional(number, 4)
    heavy                     = optional(bool, false)
  }))

  validation {
    condition     = length(var.queues) > 0
    error_message = "queues must hold at least one queue."
  }

  validation {
    condition     = alltrue([for name in keys(var.queues) : can(regex("^[a-z][a-z0-9-]{0,62}$", name))])
    error_message = "Every queue id must match ^[a-z][a-z0-9-]{0,62}$."
  }

  validation {
    condition = alltrue([
      for q in values(var.queues) :
      q.max_dispatches_per_second == null ? true : (q.max_dispatches_per_second > 0 && q.max_dispatches_per_second <= 500)
    ])
    error_message = "max_dispatches_per_second must be in (0, 500]."
  }

  validation {
    condition = alltrue([
      for q in values(var.queues) :
      q.max_concurrent_dispatches == null ? true : (q.max_concurrent_dispatches >= 1 && q.max_concurrent_dispatches <= 5000)
    ])
    error_message = "max_concurrent_dispatches must be in [1, 5000]."
  }

  validation {
    condition     = alltrue([for q in values(var.queues) : q.max_attempts >= 1 && q.max_attempts <= 100])
    error_message = "max_attempts must be in [1, 100]: the queue's retries are only a backstop."
  }

  validation {
    condition = alltrue([
      for q in values(var.queues) :
      can(regex("^[0-9]+(\\.[0-9]+)?s$", q.min_backoff)) && can(regex("^[0-9]+(\\.[0-9]+)?s$", q.max_backoff))
    ])
    error_message = "min_backoff and max_backoff must be durations in seconds, like \"10s\"."
  }

  validation {
    condition     = alltrue([for q in values(var.queues) : can(regex("^[1-9][0-9]*s$", q.max_retry_duration))])
    error_message = "max_retry_duration must be a positive whole number of seconds, like \"660s\": zero would let Cloud Tasks give up before a crashed instance's lease expires."
  }

  validation {
    condition     = alltrue([for q in values(var.queues) : q.max_doublings >= 0 && q.max_doublings <= 16])
    error_message = "max_doublings must be in [0, 16]."
  }
}

variable "scheduler_job_name" {
  description = "Name of the one Cloud Scheduler job that sends the master tick."
  type        = string
  default     = "zen_master_scheduler"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,500}$", var.scheduler_job_name))
    error_message = "scheduler_job_name may hold letters, digits, hyphens and underscores only."
  }
}

variable "master_schedule" {
  description = "Cron schedule of the master tick. Every minute is what periodic jobs with a one-minute interval need."
  type        = string
  default     = "* * * * *"

  validation {
    condition     = length(split(" ", trimspace(var.master_schedule))) == 5
    error_message = "master_schedule must be a five-field cron expression."
  }
}

variable "master_time_zone" {
  description = "Time zone of master_schedule. Jobs carry their own time zones; the tick itself is zone-free, so UTC is right."
  type        = string
  default     = "Etc/UTC"
}

variable "master_attempt_deadline" {
  description = "How long Cloud Scheduler waits for the tick to answer, as a duration in seconds (15s to 1800s)."
  type        = string
  default     = "120s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.master_attempt_deadline)) && try(tonumber(trimsuffix(var.master_attempt_deadline, "s")) >= 15 && tonumber(trimsuffix(var.master_attempt_deadline, "s")) <= 1800, false)
    error_message = "master_attempt_deadline must be between 15s and 1800s."
  }
}

variable "master_retry_count" {
  description = "Retries of a failed tick delivery. A retried tick carries the same schedule time, so it is the same tick; keep it small, the next tick comes a minute later."
  type        = number
  default     = 1

  validation {
    condition     = var.master_retry_count >= 0 && var.master_retry_count <= 5
    error_message = "master_retry_count must be between 0 and 5."
  }
}

variable "master_paused" {
  description = "Create the master tick paused (no scheduled job runs while paused)."
  type        = bool
  default     = false
}

variable "firestore_database" {
  description = "Firestore database (native mode) that holds the job collection."
  type        = string
  default     = "(default)"
}

variable "jobs_collection" {
  description = "Firestore collection of job documents; must match the runtime's setting."
  type        = string
  default     = "jobs"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,100}$", var.jobs_collection))
    error_message = "jobs_collection must be a plain collection id."
  }
}

variable "create_firestore_index" {
  description = "Create the Firestore indexes zenjobs queries need (six): on jobs_collection the master tick's two due-jobs composite indexes (enabled ASC, next_run_at ASC; enabled ASC, priority DESC, next_run_at ASC); on runs the reconciler's single-field index on due_at (collection-group scope), and the dashboard's composite indexes for dead runs (status ASC, created_at DESC), across all jobs (collection-group scope) and per job (collection scope), and for run counts (status ASC, created_at ASC, collection scope)."
  type        = bool
  default     = true
}

variable "runs_ttl_enabled" {
  description = "Create a TTL policy on the expire_at field of the runs collection group, so old run records are deleted."
  type        = bool
  default     = true
}

variable "enable_apis" {
  description = "Enable the Google APIs zenjobs uses (Cloud Tasks, Cloud Scheduler, Firestore, Cloud Run, IAM). APIs are never disabled on destroy."
  type        = bool
  default     = true
}

variable "grant_service_agents" {
  description = "Let the Cloud Tasks and Cloud Scheduler service agents mint OIDC tokens for the invoker account only (needed in projects that enabled those APIs before 2019-03-19; harmless elsewhere)."
  type        = bool
  default     = true
}
