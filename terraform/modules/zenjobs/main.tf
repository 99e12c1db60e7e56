# Shared values. Resources are split by concern: queues.tf, scheduler.tf,
# iam.tf, firestore.tf, apis.tf.

locals {
  heavy_url = var.heavy_service_url == null ? var.service_url : var.heavy_service_url

  # Each queue delivers to one service; heavy queues go to the heavy worker when there is one.
  queue_urls = { for name, q in var.queues : name => q.heavy ? local.heavy_url : var.service_url }

  # The services the invoker may call, and nothing else.
  invoked_services = merge(
    { main = var.service_name },
    var.heavy_service_name == null ? {} : { heavy = var.heavy_service_name },
  )

  runtime_email  = var.runtime_service_account_email == null ? google_service_account.runtime[0].email : var.runtime_service_account_email
  runtime_member = "serviceAccount:${local.runtime_email}"
  invoker_member = "serviceAccount:${google_service_account.invoker.email}"
}
