# One Cloud Tasks queue per entry of var.queues. Tasks are created by the
# zenjobs runtime, not by Terraform; the queue-level http_target makes every
# task of the queue go to the right service with an OIDC token for the
# invoker account, whatever the task itself says.

resource "google_cloud_tasks_queue" "queue" {
  for_each = var.queues

  project  = var.project_id
  location = var.region
  name     = each.key

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  # A backstop for crashes, infrastructure 5xx and "lease held" 503s: the
  # executor decides real retries and re-enqueues them as new tasks. Cloud
  # Tasks gives up only once both max_attempts and max_retry_duration are
  # spent; gen-infra sets the latter past the longest lease a crashed
  # instance can leave on the queue (timeout + lease grace), so the run is
  # taken over.
  retry_config {
    max_attempts       = each.value.max_attempts
    max_retry_duration = each.value.max_retry_duration
    min_backoff        = each.value.min_backoff
    max_backoff        = each.value.max_backoff
    max_doublings      = each.value.max_doublings
  }

  http_target {
    http_method = "POST"

    uri_override {
      scheme                    = "HTTPS"
      host                      = trimprefix(local.queue_urls[each.key], "https://")
      uri_override_enforce_mode = "ALWAYS"
    }

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = local.queue_urls[each.key]
    }
  }

  depends_on = [google_project_service.apis]
}
