"""Run pinit for a classroom: N Streamlit replicas of the dashboard behind nginx, sticky per browser.

One Streamlit process runs every session's script in threads of one Python process, so
it uses about one core however many students there are (see bench/load_test.py). To
use a machine's other cores, run one replica per core behind nginx
(deploy/nginx.conf.template): every browser is pinned to one replica by a cookie, so
its session, and its reconnections after a wifi blip, stay there.

    python -m deploy.replicas                           # 2 replicas, nginx on http://127.0.0.1:8080
    python -m deploy.replicas --replicas 3 --listen 0.0.0.0 --port 8080   # a class on the LAN
    python -m deploy.replicas --print-config            # only show the nginx config it would use

Needs nginx (Debian: apt-get install -y nginx); it runs its own nginx in the
foreground with a config in a temporary directory, not the system one. Ctrl-C stops
everything. The replicas listen on 127.0.0.1 only; students reach them through nginx.
All replicas get the same cookie secret (random unless --cookie-secret), through
STREAMLIT_SERVER_COOKIE_SECRET: Streamlit refuses --server.cookieSecret on the command line.
It signs Streamlit's session-middleware and st.login cookies; XSRF tokens are double-submit
and work on any replica without it. Students see an error's type but no traceback
(client.showErrorDetails=type) and no developer menu (client.toolbarMode=viewer: its
"Clear cache" empties the cache all students share); --show-errors turns both back.
The replicas share the classes of "follow the teacher" (the lesson steps a presenter moves):
one SQLite file in the run directory, named to each replica by PINIT_ROOM_STORE.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pinit.serve import free_port, settings, stop, streamlit_command, wait_healthy
from pinit.share.room_db import ROOM_STORE_ENV

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
COOKIE = "pinit_replica"


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def max_upload_mb() -> int:
    """server.maxUploadSize of the shipped settings (pinit/dashboard/config.toml; Streamlit's default 200 if unset)."""
    return int(settings().get("server.maxUploadSize", 200))


# Text that gzip shrinks 3-5x; fonts (woff2) and images are compressed already.
COMPRESSIBLE = {".js", ".mjs", ".css", ".json", ".svg", ".html", ".txt", ".ttf", ".map"}


def streamlit_static_dir() -> Path:
    """Streamlit's static directory (index.html, static/js, ...), found without importing streamlit."""
    spec = importlib.util.find_spec("streamlit")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("streamlit is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def compress_static(dest: Path, source: Path | None = None) -> Path:
    """Copy Streamlit's static files into `dest`, each text file with a gzip twin (NAME.gz) beside it.

    nginx serves them from there (gzip_static): the twin to a browser that accepts gzip, the
    file itself otherwise. A copy, not the installed files: nginx's workers may not read the
    installing user's home, and nothing is written into site-packages. Level 9, once per start
    (a few seconds on one core, in threads: zlib releases the GIL).
    """
    source = source or streamlit_static_dir()
    files = [p for p in source.rglob("*") if p.is_file()]

    def one(path: Path) -> None:
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        target.write_bytes(data)
        if path.suffix in COMPRESSIBLE and len(data) >= 1024:
            (target.parent / (target.name + ".gz")).write_bytes(gzip.compress(data, 9, mtime=0))

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, files))
    for d in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        d.chmod(0o755)  # nginx's workers (not root) read them
    return dest


def render_config(
    run_dir: Path,
    listen: str,
    upstream_ports: list[int],
    upload_mb: int | None = None,
    static_root: Path | None = None,
) -> str:
    """nginx.conf.template with its {{NAME}} placeholders filled in (comment lines are left as they are).

    `static_root`: where compress_static put Streamlit's static files (default RUN_DIR/static).
    """
    values = {
        "STATIC_ROOT": str(static_root or run_dir / "static"),
        "RUN_DIR": str(run_dir),
        "LISTEN": listen,
        "UPSTREAM_SERVERS": "\n        ".join(f"server 127.0.0.1:{p} max_fails=0;" for p in upstream_ports),
        "MAX_UPLOAD_MB": str(upload_mb if upload_mb is not None else max_upload_mb()),
    }
    lines = []
    for line in TEMPLATE.read_text().splitlines():
        if not line.lstrip().startswith("#"):
            line = re.sub(r"{{([A-Z_]+)}}", lambda m: values[m[1]], line)
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class Classroom:
    url: str  # what students open (nginx)
    replica_urls: list[str]
    run_dir: Path
    nginx: subprocess.Popen
    replicas: list[subprocess.Popen] = field(default_factory=list)

    @property
    def access_log(self) -> Path:
        return self.run_dir / "access.log"

    def reload_nginx(self) -> None:
        """Re-read the config (SIGHUP): old workers finish, their websockets close, browsers reconnect."""
        self.nginx.send_signal(signal.SIGHUP)


# Students see an error's type, not a traceback with the server's paths (the shipped
# client.showErrorDetails; the full details go to the replica's log), and no developer
# menu: its "Clear cache" would empty the cache every student shares.
CLASSROOM = {"client.toolbarMode": "viewer"}
SHOW_ERRORS = {"client.showErrorDetails": "full", "client.toolbarMode": "developer"}


@contextlib.contextmanager
def classroom(
    n_replicas: int = 2,
    port: int | None = None,
    listen_host: str = "127.0.0.1",
    replica_ports: list[int] | None = None,
    cookie_secret: str | None = None,
    log_dir: Path | None = None,
    extra_nginx: str = "",
    timeout: float = 90.0,
    overrides: Mapping[str, Any] | None = None,
    classroom_mode: bool = True,
) -> Iterator[Classroom]:
    """Start the replicas and nginx; stop them all on exit.

    Each replica is `pinit.serve.streamlit_command` (the shipped settings) on 127.0.0.1,
    plus `overrides` ({"server.disconnectedSessionTTL": 30, ...}).
    """
    nginx_bin = find_nginx()
    if nginx_bin is None:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install -y nginx)")
    port = port or free_port()
    replica_ports = replica_ports or [free_port() for _ in range(n_replicas)]
    cookie_secret = cookie_secret or secrets.token_hex(32)
    run_dir = Path(tempfile.mkdtemp(prefix="pinit-nginx-"))
    run_dir.chmod(0o755)  # nginx's workers (not root) create their temp directories in here
    log_dir = log_dir or run_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    flags = {**(CLASSROOM if classroom_mode else SHOW_ERRORS), **dict(overrides or {})}
    # Streamlit 1.67 refuses --server.cookieSecret on the command line (so it does not show
    # in `ps`); the environment variable is the supported way.
    env = dict(os.environ, STREAMLIT_SERVER_COOKIE_SECRET=cookie_secret)
    # Follow the teacher across replicas: every replica keeps its classes in one SQLite file
    # here (pinit.share.room_db), so a phone pinned to any replica follows a presenter on another.
    rooms_dir = run_dir / "rooms"
    rooms_dir.mkdir(mode=0o700)  # the replicas' user only: nginx's workers never read it
    env[ROOM_STORE_ENV] = str(rooms_dir)
    procs: list[subprocess.Popen] = []
    logs = []
    nginx = None
    try:
        compressing = ThreadPoolExecutor(max_workers=1)  # while the replicas start
        static_done = compressing.submit(compress_static, run_dir / "static")
        compressing.shutdown(wait=False)
        for rport in replica_ports:
            log = open(log_dir / f"replica-{rport}.log", "w")  # noqa: SIM115 - closed in finally
            logs.append(log)
            # cwd: `python -m streamlit` puts it first on sys.path, so a checkout's pinit is the one served.
            command = streamlit_command(rport, "127.0.0.1", overrides=flags)
            procs.append(subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env))
        static_done.result()
        conf = run_dir / "nginx.conf"
        conf.write_text(render_config(run_dir, f"{listen_host}:{port}", replica_ports) + extra_nginx)
        check = subprocess.run(
            [nginx_bin, "-t", "-p", str(run_dir), "-e", str(run_dir / "error.log"), "-c", str(conf)],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the config:\n{check.stderr}")
        nginx = subprocess.Popen(
            [nginx_bin, "-p", str(run_dir), "-e", str(run_dir / "error.log"), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        replica_urls = [f"http://127.0.0.1:{p}" for p in replica_ports]
        try:
            for u in replica_urls:
                wait_healthy(u, procs, timeout, "a streamlit replica")
        except (RuntimeError, TimeoutError) as e:
            tails = "\n".join(f"--- {lg.name}:\n" + Path(lg.name).read_text()[-1500:] for lg in logs)
            raise RuntimeError(f"{e}\n{tails}") from None
        host = "127.0.0.1" if listen_host in ("0.0.0.0", "::", "[::]") else listen_host
        url = f"http://{host}:{port}"
        wait_healthy(url, procs + [nginx], 20, "nginx")
        yield Classroom(url, replica_urls, run_dir, nginx, procs)
    finally:
        # SIGTERM everything first, then wait: nginx's fast shutdown, the replicas in parallel.
        running = ([nginx] if nginx is not None else []) + procs
        for p in running:
            if p.poll() is None:
                p.terminate()
        for p in running:
            stop(p)
        for log in logs:
            log.close()
        if log_dir != run_dir:
            with contextlib.suppress(OSError):
                shutil.copy(run_dir / "access.log", log_dir / "nginx-access.log")
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    ap.add_argument("--replicas", type=int, default=2, help="Streamlit processes (about one per core)")
    ap.add_argument("--port", type=int, default=8080, help="nginx's port")
    ap.add_argument("--listen", default="127.0.0.1", help="nginx's address; 0.0.0.0 to serve the LAN")
    ap.add_argument("--base-port", type=int, default=8501, help="replica i listens on 127.0.0.1:base+i")
    ap.add_argument(
        "--cookie-secret",
        default=os.environ.get("PINIT_COOKIE_SECRET"),
        help="the replicas' shared server.cookieSecret (default: random per run, or $PINIT_COOKIE_SECRET)",
    )
    ap.add_argument(
        "--show-errors",
        action="store_true",
        help="show students full tracebacks and the developer menu (default: error type only, viewer menu)",
    )
    ap.add_argument("--print-config", action="store_true", help="print the nginx config and exit")
    args = ap.parse_args(argv)
    ports = [args.base_port + i for i in range(args.replicas)]
    if args.print_config:
        print(render_config(Path("/tmp/pinit-nginx"), f"{args.listen}:{args.port}", ports))
        return 0
    with classroom(
        args.replicas,
        args.port,
        args.listen,
        ports,
        args.cookie_secret,
        log_dir=ROOT / "artifacts" / "replicas",
        classroom_mode=not args.show_errors,
    ) as c:
        print(f"pinit: {len(ports)} replicas ({', '.join(c.replica_urls)}) behind nginx at {c.url}")
        print(f"logs: {ROOT / 'artifacts' / 'replicas'}; nginx run dir {c.run_dir}. Ctrl-C stops everything.")
        try:
            while all(p.poll() is None for p in [c.nginx, *c.replicas]):
                time.sleep(1)
            print("a process exited; stopping", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
