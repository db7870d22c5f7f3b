"""nginx (Debian's) in front of the API processes: TLS with a certificate the project makes,
gzip, a cache for tiles and static files with their cache headers, and failover between the
upstreams (a process that refuses, times out or answers 502/503/504 is skipped for the next;
requests that are not idempotent are never sent twice, except sensor readings, which are stored once)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from core import tls
from ops.postgres import OpsError

WORKER_USER = "www-data"
# Compressed by nginx when the upstream did not (JSON is compressed by the API itself).
GZIP_TYPES = (
    "text/css application/javascript text/javascript application/json application/geo+json "
    "application/vnd.mapbox-vector-tile model/gltf-binary image/svg+xml"
)


@dataclass(frozen=True)
class Front:
    root: Path
    port: int
    upstreams: tuple[str, ...]
    listen: str = "127.0.0.1"  # 0.0.0.0 in a container
    netns: str | None = None  # the network namespace that is nginx's host (the failover tests'), None: this one

    @property
    def config(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def certificate(self) -> Path:
        return self.root / "tls" / "cert.pem"


def render(front: Front) -> str:
    """The nginx configuration (everything nginx writes stays under ``front.root``)."""
    root = front.root
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in front.upstreams)
    proxy = """
            proxy_pass http://cim_api;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-ID $request_id;"""
    cached = f"""{proxy}
            proxy_cache cim;
            proxy_cache_valid 200 10m;
            proxy_cache_use_stale error timeout updating http_502 http_503 http_504;
            proxy_cache_lock on;
            add_header X-Cache-Status $upstream_cache_status always;"""
    user = f"user {WORKER_USER};\n" if os.geteuid() == 0 else ""
    return f"""# Written by `cim ops nginx`: TLS, gzip, cached tiles and static files, upstream failover.
{user}worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    types {{ application/vnd.mapbox-vector-tile pbf; model/gltf-binary glb; }}
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    client_max_body_size 256m;
    server_tokens off;
    gzip on;
    gzip_min_length 1024;
    gzip_proxied any;
    gzip_vary on;
    gzip_types {GZIP_TYPES};
    proxy_cache_path {root}/cache levels=1:2 keys_zone=cim:10m max_size=2g inactive=7d use_temp_path=off;
    upstream cim_api {{
{servers}
        keepalive 16;
    }}
    server {{
        listen {front.listen}:{front.port} ssl http2;
        ssl_certificate {root}/tls/cert.pem;
        ssl_certificate_key {root}/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        # A process that refuses, times out or says it cannot serve: the next one (idempotent requests only).
        proxy_next_upstream error timeout http_502 http_503 http_504;
        proxy_next_upstream_tries 2;
        proxy_connect_timeout 2s;
        proxy_read_timeout 300s;
        location = /metrics {{
            allow 127.0.0.1;
            deny all;{proxy}
        }}
        location ~ ^/api/v1/(tiles|mvt|terrain)/ {{{cached}
        }}
        location /vendor/ {{{cached}
            expires 7d;
        }}
        # A gateway's batch of readings is stored once however often it is sent (sensor, time):
        # safe to pass to the next process even after it reached one that died.
        location = /api/v1/sensors/readings {{{proxy}
            proxy_next_upstream error timeout http_502 http_504 non_idempotent;
        }}
        location /api/ {{{proxy}
        }}
        location / {{{cached}
            expires 10m;
        }}
    }}
}}
"""


def write(front: Front) -> Path:
    """Write the configuration and certificate, make nginx's folders, and check it with ``nginx -t``."""
    if shutil.which("nginx") is None:
        raise OpsError("nginx is not installed: run `bash scripts/install_system.sh`")
    for folder in ("tmp", "cache"):
        (front.root / folder).mkdir(parents=True, exist_ok=True)
    tls.self_signed(front.root / "tls", front.listen)
    front.config.write_text(render(front))
    if os.geteuid() == 0:
        worker = pwd.getpwnam(WORKER_USER)
        for folder in ("tmp", "cache"):
            os.chown(front.root / folder, worker.pw_uid, worker.pw_gid)
    _nginx(front, "-t")
    return front.config


def _nginx(front: Front, *args: str) -> None:
    command = ["nginx", "-p", str(front.root), "-c", str(front.config), "-e", str(front.root / "error.log"), *args]
    proc = subprocess.run(
        ["ip", "netns", "exec", front.netns, *command] if front.netns else command,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise OpsError(f"nginx {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")


def start(front: Front) -> None:
    """Start nginx (it daemonises; its pid is in ``root/nginx.pid``)."""
    _nginx(front)


def stop(front: Front) -> None:
    """Stop nginx if it runs."""
    if (front.root / "nginx.pid").exists():
        _nginx(front, "-s", "stop")
