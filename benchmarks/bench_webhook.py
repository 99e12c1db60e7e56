"""Figure 2: webhook overhead, a no-op endpoint job through zenjobs vs a bare Starlette route.

Both apps (``_webhook_apps.py``) run under the same uvicorn command (one
worker, 127.0.0.1, access log off, default HTTP implementation) in their own
process; the same load generator (``_loadgen.py``, raw asyncio streams,
keep-alive connections) runs in another process for the same duration and
sends the same Cloud Tasks-shaped request bytes. Each zenjobs request has a
distinct execution id, so each one really runs: OIDC verification (RS256
token minted here, Google's certificates served from a local file and
cached), envelope parsing, lease on the run record (created up front, as
``schedule()`` does before enqueueing), eligibility, handler, outcome, all in
a SQLite store (WAL). Telemetry is the production default (structured JSON
log lines, to a file here). Details also report one round with telemetry
discarded and one where each delivery creates its own run record (the path
for a caller that died before writing it: two more store writes).

Rounds alternate bare/zenjobs; the figure is the median of the rounds.
Target: requests/s ratio zenjobs/bare >= 0.7; p50/p99 latency reported.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, Figure, child_env, cli, free_port, median, publish, started
from _common import wait_for_port as wait_port

AUDIENCE = "https://bench-abc123-ew.a.run.app"
INVOKER = "zenjobs-invoker@bench-project.iam.gserviceaccount.com"
KID = "bench-key-1"
TARGET = 0.7
#: Requests per round at most (and run records created up front): ~2x what a round needs.
MAX_REQUESTS = 25_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_key_and_token() -> tuple[dict[str, str], str]:
    """A self-signed RS256 key (``{kid: PEM cert}``) and a Google-shaped ID token."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, KID)])
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=36500))
            .sign(private, hashes.SHA256()))
    now = int(time.time())  # google-auth checks iat/exp against the real clock
    claims = {"iss": "https://accounts.google.com", "aud": AUDIENCE, "email": INVOKER,
              "email_verified": True, "sub": "1234567890", "iat": now, "exp": now + 3600}
    header = {"alg": "RS256", "kid": KID, "typ": "JWT"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return {KID: pem}, f"{signing_input}.{b64(signature)}"


def one_round(kind: str, workdir: Path, token: str, round_: int, duration: float,
              connections: int, telemetry: str = "log", precreate: bool = True
              ) -> dict[str, Any]:
    port = free_port()
    prefix = f"r{round_}{telemetry}{'p' if precreate else 'm'}"
    env = child_env(BENCH_CERTS_FILE=str(workdir / "certs.json"), BENCH_AUDIENCE=AUDIENCE,
                    BENCH_INVOKER=INVOKER, BENCH_TELEMETRY=telemetry)
    if kind == "zenjobs":
        env["BENCH_SQLITE"] = str(workdir / f"store-{prefix}.sqlite3")
        if precreate:
            env["BENCH_PRECREATE"] = f"{prefix}:{MAX_REQUESTS}"
    command = [PYTHON, "-m", "uvicorn", f"_webhook_apps:{kind}_app", "--app-dir",
               str(ROOT / "benchmarks"), "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log", "--lifespan", "on"]
    with started(command, env=env, cwd=workdir, log=workdir / f"{kind}-{round_}.log") as server:
        wait_port(port, server)
        load = subprocess.run(
            [PYTHON, str(ROOT / "benchmarks" / "_loadgen.py"), str(port), "--duration",
             str(duration), "--warmup", "1", "--connections", str(connections),
             "--max-requests", str(MAX_REQUESTS), "--token", token, "--prefix", prefix],
            capture_output=True, text=True, timeout=duration + 60, check=True,
            env=child_env())
    result: dict[str, Any] = json.loads(load.stdout)
    if result["failures"]:
        log = (workdir / f"{kind}-{round_}.log").read_text()[-2000:]
        raise RuntimeError(f"{kind}: {result['failures']} non-2xx answers; server log:\n{log}")
    return result


def main() -> None:
    args = cli(__doc__ or "")
    rounds = 1 if args.quick else 2
    duration = 2.0 if args.quick else 5.0
    connections = 8
    certs, token = mint_key_and_token()
    results: dict[str, list[dict[str, Any]]] = {"bare": [], "zenjobs": [], "zenjobs_null": [],
                                                "zenjobs_self_created": []}
    with tempfile.TemporaryDirectory(prefix="zenjobs-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "certs.json").write_text(json.dumps(certs))
        for round_ in range(rounds):
            order = ("bare", "zenjobs") if round_ % 2 == 0 else ("zenjobs", "bare")
            for kind in order:
                results[kind].append(one_round(kind, workdir, token, round_, duration,
                                               connections))
        results["zenjobs_null"].append(one_round("zenjobs", workdir, token, 0, duration,
                                                 connections, telemetry="null"))
        results["zenjobs_self_created"].append(one_round("zenjobs", workdir, token, 0, duration,
                                                         connections, precreate=False))

    def med(kind: str, key: str) -> float:
        return median([r[key] for r in results[kind]])

    ratio = med("zenjobs", "rps") / med("bare", "rps")
    figures = [
        Figure(
            id="webhook_rps_ratio",
            title="webhook, no-op endpoint job (SQLite, OIDC on) vs bare Starlette route",
            value=med("zenjobs", "rps"), unit="req/s", target=f"ratio >= {TARGET}",
            met=ratio >= TARGET, baseline=med("bare", "rps"), baseline_label="bare route",
            ratio=ratio,
            details={"connections": connections, "duration_s": duration, "rounds": rounds,
                     "rounds_data": results,
                     "zenjobs_p50_ms": med("zenjobs", "p50_ms"),
                     "zenjobs_p99_ms": med("zenjobs", "p99_ms"),
                     "bare_p50_ms": med("bare", "p50_ms"), "bare_p99_ms": med("bare", "p99_ms"),
                     "zenjobs_null_telemetry_rps": med("zenjobs_null", "rps"),
                     "zenjobs_self_created_record_rps": med("zenjobs_self_created", "rps")},
        ),
        Figure(id="webhook_p50", title="webhook p50 latency", value=med("zenjobs", "p50_ms"),
               unit="ms", target="reported", met=None, baseline=med("bare", "p50_ms"),
               baseline_label="bare route",
               ratio=med("zenjobs", "p50_ms") / med("bare", "p50_ms")),
        Figure(id="webhook_p99", title="webhook p99 latency", value=med("zenjobs", "p99_ms"),
               unit="ms", target="reported", met=None, baseline=med("bare", "p99_ms"),
               baseline_label="bare route",
               ratio=med("zenjobs", "p99_ms") / med("bare", "p99_ms")),
    ]
    publish("2. webhook overhead", figures, args.json)


if __name__ == "__main__":
    main()
