"""What can be proven here about deploy/: the systemd units' own commands start the app under
gunicorn and the worker, nginx accepts the site and really proxies (TLS, body limits, forwarded
headers, /metrics for localhost), systemd-analyze and logrotate accept their files, the container
files say what they should. Docker images are not built (that needs the network)."""
from __future__ import annotations

import configparser
import gc
import grp
import http.client
import json
import os
import pwd
import re
import runpy
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
import urllib3
import yaml

from tests import debian
from tests.conftest import HEALTH_TOKEN, ROOT, free_port, health_details, wait_until

DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
MIB = 1024 * 1024


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without any woo-bridge settings, plus test settings."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_", "GUNICORN_"))},
            "WOO_WEBHOOK_SECRET": "s", "LOG_LEVEL": "WARNING", "HEALTH_TOKEN": HEALTH_TOKEN, **extra}


class Unit:
    """A systemd unit of deploy/, and its commands and environment moved to this machine:
    the code to this checkout, the virtualenv to the one running the tests, /var/lib and /var/log
    to a temporary directory."""

    def __init__(self, name: str):
        self.text = (DEPLOY / name).read_text()
        self.ini = configparser.ConfigParser(strict=False, interpolation=None)
        self.ini.optionxform = str  # type: ignore[assignment]
        self.ini.read_string(self.text)
        self.service = self.ini["Service"]

    def environment(self) -> dict[str, str]:
        """All Environment= lines (configparser keeps only the last)."""
        pairs = [w.partition("=") for line in re.findall(r"^Environment=(.*)$", self.text, re.M)
                 for w in shlex.split(line)]
        return {k: v for k, _, v in pairs}

    @staticmethod
    def localize(text: str, tmp: Path) -> str:
        for there, here in (("/opt/woo-bridge/.venv/bin", str(VENV_BIN)), ("/opt/woo-bridge", str(ROOT)),
                            ("/var/lib/woo-bridge", str(tmp / "lib")), ("/var/log/woo-bridge", str(tmp / "log"))):
            text = text.replace(there, here)
        return text

    def local_command(self, key: str, tmp: Path) -> list[str]:
        return shlex.split(self.localize(self.service[key], tmp))

    def local_environment(self, tmp: Path, **extra: str) -> dict[str, str]:
        """What systemd would give the process here (StateDirectory/LogsDirectory made too)."""
        (tmp / "lib").mkdir(exist_ok=True)
        (tmp / "log").mkdir(exist_ok=True)
        return base_env(**{k: self.localize(v, tmp) for k, v in self.environment().items()}, **extra)


def stop(proc: subprocess.Popen, timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """woo-bridge-web.service's ExecStartPre and ExecStart, run here on a free loopback port, with
    a notify socket standing in for systemd's."""
    tmp = tmp_path_factory.mktemp("web")
    unit = Unit("woo-bridge-web.service")
    port = free_port()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify_name = f"woo-bridge-test-notify-{os.getpid()}-{port}"
    notify.bind("\0" + notify_name)            # abstract name; gunicorn understands the leading @
    notify.settimeout(30)
    env = unit.local_environment(tmp, NOTIFY_SOCKET="@" + notify_name)
    init = subprocess.run(unit.local_command("ExecStartPre", tmp), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert init.returncode == 0, init.stdout + init.stderr
    out = open(tmp / "stdout.log", "wb")
    proc = subprocess.Popen(unit.local_command("ExecStart", tmp) + ["-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url) or proc.poll() is not None, timeout=30, what="gunicorn to serve /healthz")
        assert proc.poll() is None, (tmp / "log" / "web.log").read_text()
        yield SimpleNamespace(url=url, proc=proc, tmp=tmp, notify=notify)
    finally:
        stop(proc)
        out.close()
        notify.close()


def test_gunicorn_config_checks_and_sizes_workers_for_two_cores(tmp_path):
    r = subprocess.run([str(VENV_BIN / "gunicorn"), "--check-config", "-c", str(DEPLOY / "gunicorn.conf.py")],
                       cwd=ROOT, env=base_env(BRIDGE_DB=str(tmp_path / "bridge.db")), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("GUNICORN_") or k == "FORWARDED_ALLOW_IPS"}
    try:
        conf = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    finally:
        os.environ.update(saved)
    assert conf["workers"] == 2 and conf["worker_class"] == "gthread" and conf["threads"] == 4
    assert conf["max_requests"] >= 20_000   # a recycle imports the app again: about 1 s of CPU
    conf["post_worker_init"](None)   # the app is loaded: its objects leave the cyclic collector's walks
    try:
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert conf["bind"] == "127.0.0.1:8000" and conf["forwarded_allow_ips"] == "127.0.0.1"
    assert conf["preload_app"] is False and conf["capture_output"] is True
    assert "RUN_SCHEDULER=0" in conf["raw_env"] and conf["wsgi_app"] == "app:create_app()"
    assert conf["DRAIN_LIMIT"] > 2 * MIB   # more than nginx lets through (client_max_body_size 2m)


def test_web_unit_commands_serve_with_two_workers_and_tell_systemd_they_are_ready(web):
    assert web.notify.recv(4096).decode().startswith("READY=1")   # what Type=notify waits for
    children = subprocess.run(["pgrep", "-P", str(web.proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2
    health = health_details(web.url)
    assert health["scheduler"]["in_process"] is False   # RUN_SCHEDULER=0: the jobs are the worker's
    r = requests.post(web.url + "/webhooks/woocommerce", data=b"{}", timeout=5,
                      headers={"X-WC-Webhook-Topic": "order.created", "X-Request-ID": "deploy-test-401"})
    assert r.status_code == 401 and r.json()["error"]
    logs = web.tmp / "log"
    # the app's own JSON log lines land in the unit's log file (capture_output), with the request id
    wait_until(lambda: "deploy-test-401" in (logs / "web.log").read_text(), timeout=5, what="the app's log line")
    line = next(json.loads(x) for x in (logs / "web.log").read_text().splitlines() if "deploy-test-401" in x)
    assert line["request_id"] == "deploy-test-401" and line["level"] == "WARNING"
    wait_until(lambda: "rid=deploy-test-401" in (logs / "access.log").read_text(), timeout=5, what="access log")
    assert "deploy-test-401" not in (web.tmp / "stdout.log").read_text()


def test_access_and_app_logs_never_keep_a_token(web):
    """gunicorn's access log (deploy/gunicorn.conf.py's logger_class) and the app's own log
    redact the token of the eSMS callback and FiboSMS push URLs, right or wrong."""
    for path in ("/callbacks/esms?token=gunicorn-probe-token-1&SMSID=1",
                 "/inbound/fibo?phone=Vietcombank&token=gunicorn-probe-token-2&message=hi&guid=g",
                 "/webhooks/messenger?hub.mode=subscribe&hub.verify_token=gunicorn-probe-token-3&hub.challenge=1"):
        requests.get(web.url + path, headers={"X-Request-ID": "deploy-test-redact"}, timeout=5)
    logs = web.tmp / "log"
    wait_until(lambda: (logs / "access.log").read_text().count("rid=deploy-test-redact") >= 3, timeout=5,
               what="three access lines")
    access = (logs / "access.log").read_text()
    assert "/callbacks/esms?token=[redacted]&SMSID=1" in access
    assert "/inbound/fibo?phone=Vietcombank&token=[redacted]&message=hi&guid=g" in access
    assert "hub.verify_token=[redacted]" in access
    for f in ("access.log", "web.log"):
        assert "gunicorn-probe-token" not in (logs / f).read_text(), f
    assert "gunicorn-probe-token" not in (web.tmp / "stdout.log").read_text()


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    reason = debian.ensure_packages("openssl")
    if reason is None:
        subprocess.run([debian.program_path("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=shop-bridge.example.com", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        return cert, key
    try:   # no openssl command: the cryptography package, when it is installed
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        debian.unavailable(reason + "; nor is the cryptography package installed")
        raise
    pk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "shop-bridge.example.com")])
    now = datetime.datetime.now(datetime.timezone.utc)
    crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(pk.public_key())
           .serial_number(x509.random_serial_number()).not_valid_before(now)
           .not_valid_after(now + datetime.timedelta(days=1)).sign(pk, hashes.SHA256()))
    cert.write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()))
    return cert, key


def _nginx_conf(tmp: Path, upstream_port: int) -> tuple[Path, int, int]:
    """deploy/nginx-woo-bridge.conf with test ports, a self-signed certificate and tmp paths."""
    cert, key = _self_signed(tmp)
    http_port, https_port = free_port(), free_port()
    site = (DEPLOY / "nginx-woo-bridge.conf").read_text()
    for there, here in (("listen 80;", f"listen 127.0.0.1:{http_port};"), ("listen [::]:80;", ""),
                        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"), ("listen [::]:443 ssl;", ""),
                        ("/etc/letsencrypt/live/shop-bridge.example.com/fullchain.pem", str(cert)),
                        ("/etc/letsencrypt/live/shop-bridge.example.com/privkey.pem", str(key)),
                        ("127.0.0.1:8000", f"127.0.0.1:{upstream_port}"),
                        ("/var/log/nginx/woo-bridge.access.log", str(tmp / "access.log"))):
        assert there in site, there
        site = site.replace(there, here)
    (tmp / "site.conf").write_text(site)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / d).mkdir(exist_ok=True)
    conf = tmp / "nginx.conf"
    # as root, nginx's workers would be "nobody", who cannot write into pytest's private tmp dir
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/site.conf;
}}
""")
    return conf, http_port, https_port


BEARER = {"Authorization": f"Bearer {HEALTH_TOKEN}"}


def _from(source: str, port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET over TLS from a chosen loopback address (127.0.0.2 is not 'localhost' to nginx)."""
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, source_address=(source, 0),
                                       context=ssl._create_unverified_context())
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _reachable(url: str) -> bool:
    try:
        requests.get(url, verify=False, timeout=1)
        return True
    except requests.RequestException:
        return False


def test_nginx_accepts_the_site_and_proxies_with_tls_limits_and_forwarded_headers(web):
    nginx = debian.require("nginx=nginx-light|nginx")
    tmp = web.tmp / "nginx"
    tmp.mkdir()
    conf, http_port, https_port = _nginx_conf(tmp, int(web.url.rsplit(":", 1)[1]))
    test = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp)], capture_output=True, text=True)
    assert test.returncode == 0 and "[warn]" not in test.stderr, test.stderr
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    urllib3.disable_warnings()
    base = f"https://127.0.0.1:{https_port}"
    try:
        wait_until(lambda: _reachable(base + "/healthz"), timeout=10, what="nginx to listen")
        plain = requests.get(f"http://127.0.0.1:{http_port}/healthz", allow_redirects=False, timeout=5)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        # WooCommerce does not follow redirects: a webhook to http:// is refused, not "delivered" by a 301
        hook = requests.post(f"http://127.0.0.1:{http_port}/webhooks/woocommerce", data=b"{}", timeout=5,
                             allow_redirects=False)
        assert hook.status_code == 403 and "use https://127.0.0.1/webhooks/woocommerce" in hook.text
        r = requests.get(base + "/healthz", verify=False, timeout=5)
        assert r.status_code == 200 and re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])  # nginx's id
        assert r.json() == {"ok": True}
        seen = requests.get(base + "/healthz?details=1", verify=False, timeout=5,
                            headers=BEARER).json()["request"]   # X-Forwarded-Proto/Host reached the app (PROXY_COUNT=1)
        assert seen["scheme"] == "https" and seen["host"] == "127.0.0.1"
        # X-Forwarded-For: gunicorn's peer is nginx (127.0.0.1), the app sees the client
        status, body = _from("127.0.0.2", https_port, "/healthz?details=1", BEARER)
        assert status == 200 and json.loads(body)["request"]["remote_addr"] == "127.0.0.2"
        assert _from("127.0.0.2", https_port, "/metrics")[0] == 403       # not from this machine
        assert requests.get(base + "/metrics", verify=False, timeout=5).status_code == 200   # from localhost
        # Under nginx's limit, over the app's: the app's own JSON answer, every time. (Without the
        # post_request hook in gunicorn.conf.py about one in five of these came back 502.)
        for _ in range(15):
            mid = requests.post(base + "/webhooks/woocommerce", data=b"x" * (3 * MIB // 2), verify=False,
                                timeout=10, headers={"X-WC-Webhook-Topic": "order.created"})
            assert mid.status_code == 413 and "over the 1 MiB limit" in mid.json()["error"], mid.text
        big = requests.post(base + "/webhooks/woocommerce", data=b"x" * (3 * MIB), verify=False, timeout=10)
        assert big.status_code == 413 and "nginx" in big.text   # stopped at the door
        # the eSMS and FiboSMS URLs carry their token in the query: it stays out of the access log
        for path in ("/callbacks/esms?token=nginx-probe-token-4711&SMSID=1",
                     "/inbound/fibo?phone=Vietcombank&guid=g&message=hi&TOKEN=nginx-probe-token-4712",
                     "/webhooks/messenger?hub.mode=subscribe&hub.verify_token=nginx-probe-token-4713&hub.challenge=1"):
            requests.get(base + path, verify=False, timeout=5)
        requests.get(f"http://127.0.0.1:{http_port}/callbacks/esms?token=nginx-probe-token-4714", timeout=5,
                     allow_redirects=False)
    finally:
        stop(proc, 10)
    access = (tmp / "access.log").read_text()
    assert "POST /webhooks/woocommerce" in access
    assert "GET /callbacks/esms?[query redacted]" in access and "GET /inbound/fibo?[query redacted]" in access
    assert "nginx-probe-token" not in access, access
    assert "upstream" not in (tmp / "error.log").read_text()   # no reset, no 502 on the way


def test_systemd_units_run_web_and_worker_as_separate_restarting_services():
    web, worker = Unit("woo-bridge-web.service"), Unit("woo-bridge-worker.service")
    assert web.service["ExecStart"] == "/opt/woo-bridge/.venv/bin/gunicorn -c /opt/woo-bridge/deploy/gunicorn.conf.py"
    assert web.service["ExecStartPre"].endswith("-m bridge init")
    assert web.service["Type"] == "notify" and web.service["KillMode"] == "mixed"
    assert web.environment()["RUN_SCHEDULER"] == "0" and web.environment()["PROXY_COUNT"] == "1"
    assert "/opt/woo-bridge/.venv/bin/python -m bridge worker " in worker.service["ExecStart"]
    assert "woo-bridge-web.service" in worker.ini["Unit"]["After"]   # the database is initialised first
    # the answers get the CPU first: the worker's cgroup weighs less than the web unit's default 100
    assert int(worker.service["CPUWeight"]) < 100 and "CPUWeight" not in web.service
    for u in (web, worker):
        s = u.service
        assert s["Restart"] in ("always", "on-failure") and s["User"] == "woobridge"
        assert s["EnvironmentFile"].lstrip("-") == "/opt/woo-bridge/.env" and s["WorkingDirectory"] == "/opt/woo-bridge"
        assert u.environment()["BRIDGE_DB"] == "/var/lib/woo-bridge/bridge.db"
        assert s["StateDirectory"] == s["LogsDirectory"] == "woo-bridge" and s["ProtectSystem"] == "strict"
        assert u.ini["Install"]["WantedBy"] == "multi-user.target"
    # every log file the units write is one logrotate rotates
    logs = [web.environment()["GUNICORN_ACCESS_LOG"], web.environment()["GUNICORN_ERROR_LOG"],
            re.search(r">>(\S+)", worker.service["ExecStart"]).group(1)]
    assert all(re.fullmatch(r"/var/log/woo-bridge/[\w-]+\.log", p) for p in logs), logs
    assert "/var/log/woo-bridge/*.log" in (DEPLOY / "logrotate-woo-bridge").read_text()


def _verify(analyze: str, *units: Path) -> tuple[int, str]:
    r = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = debian.program_path("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here; the units were parsed only (see the test above)")
    # First: can systemd-analyze verify anything here, and does it report problems?
    true = shutil.which("true") or "/bin/true"
    (tmp_path / "probe-good.service").write_text(f"[Service]\nExecStart={true}\n")
    (tmp_path / "probe-bad.service").write_text(f"[Service]\nExecStart={true}\nNoSuchKey=1\n")
    rc, out = _verify(analyze, tmp_path / "probe-good.service")
    if rc != 0 or "probe-good" in out:
        pytest.skip(f"systemd-analyze verify cannot run here (a trivially valid unit fails): {out}")
    rc, out = _verify(analyze, tmp_path / "probe-bad.service")
    if "NoSuchKey" not in out:
        pytest.skip(f"systemd-analyze verify here does not report unknown keys, so it proves nothing: {out}")
    # The units, with the virtualenv that exists on this machine (the real one is /opt/woo-bridge/.venv).
    copies = []
    for name in ("woo-bridge-web.service", "woo-bridge-worker.service"):
        (tmp_path / name).write_text((DEPLOY / name).read_text().replace("/opt/woo-bridge/.venv/bin", str(VENV_BIN)))
        copies.append(tmp_path / name)
    rc, out = _verify(analyze, *copies)
    # verify exits 0 even on unknown keys: any line naming our files is a problem
    assert rc == 0 and "woo-bridge" not in out, out


def test_worker_unit_command_runs_the_worker_and_stops_cleanly_on_sigterm(tmp_path):
    unit = Unit("woo-bridge-worker.service")
    env = unit.local_environment(tmp_path)
    proc = subprocess.Popen(unit.local_command("ExecStart", tmp_path), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "log" / "worker.log"
    try:
        wait_until(lambda: log.exists() and "woo-bridge ready" in log.read_text() or proc.poll() is not None,
                   timeout=30, what="the worker's banner in worker.log")
        assert proc.poll() is None, log.read_text()
        # `exec`: the main process systemd signals is Python itself, not a shell around it
        assert Path(f"/proc/{proc.pid}/comm").read_text().startswith("python")
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()
    assert (tmp_path / "lib" / "bridge.db").exists()


def _user(name: str) -> tuple[str, str] | None:
    """(user, its primary group) when the user exists here."""
    try:
        pw = pwd.getpwnam(name)
        return pw.pw_name, grp.getgrgid(pw.pw_gid).gr_name
    except KeyError:
        return None


def test_logrotate_accepts_its_file_and_rotates_the_service_users_logs(tmp_path):
    logrotate = debian.require("logrotate")
    text = (DEPLOY / "logrotate-woo-bridge").read_text()
    assert "copytruncate" in text and "su woobridge woobridge" in text
    # the service user: woobridge does not exist here; as root "nobody" stands in, else no `su`
    nobody = _user("nobody") if os.geteuid() == 0 and shutil.which("runuser") else None
    su = f"su {nobody[0]} {nobody[1]}" if nobody else ""
    logs = Path(tempfile.mkdtemp(prefix="woo-bridge-logs-"))  # outside pytest's root-only tmp tree
    try:
        conf = tmp_path / "woo-bridge"
        conf.write_text(text.replace("/var/log/woo-bridge", str(logs)).replace("su woobridge woobridge", su))
        if nobody:
            shutil.chown(logs, *nobody)
        for name in ("web.log", "access.log", "worker.log"):   # written as the services write them
            cmd = ["sh", "-c", f"printf 'line\\n' >>{logs / name}"]
            subprocess.run(["runuser", "-u", nobody[0], "--", *cmd] if nobody else cmd, check=True)
        r = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(conf)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr
        assert "rotating pattern" in r.stderr
        r = subprocess.run([logrotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        for name in ("web.log", "access.log", "worker.log"):   # copied, then truncated in place
            assert (logs / name).stat().st_size == 0 and (logs / f"{name}.1").read_text() == "line\n"
    finally:
        shutil.rmtree(logs, ignore_errors=True)


def test_container_files_run_web_and_worker_on_one_volume_as_non_root():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert "command" not in web                           # the image's CMD: bridge init, then gunicorn
    assert worker["command"] == ["python", "-m", "bridge", "worker"]
    assert worker["cpu_shares"] < 1024 and "cpu_shares" not in web   # 1024: the default, the web's
    assert web["environment"]["RUN_SCHEDULER"] == "0" and web["environment"]["PROXY_COUNT"] == "1"
    for s in (web, worker):   # environment wins over env_file: the database stays on the shared volume
        assert s["volumes"] == ["woo-bridge-data:/data"] and s["environment"]["BRIDGE_DB"] == "/data/bridge.db"
        assert s["env_file"] == "../.env" and s["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert "woo-bridge-data" in compose["volumes"] and web["ports"] == ["127.0.0.1:8000:8000"]
    assert worker["depends_on"]["web"]["condition"] == "service_healthy"
    docker = (DEPLOY / "Dockerfile").read_text()
    assert docker.startswith("#") and "FROM python:3.11-slim" in docker
    assert re.search(r"^USER woobridge$", docker, re.M) and re.search(r"^HEALTHCHECK .*\n.*/healthz", docker, re.M)
    assert "pip install --no-cache-dir -r requirements.txt" in docker and 'VOLUME ["/data"]' in docker
    assert "python -m bridge init && exec gunicorn -c deploy/gunicorn.conf.py -b 0.0.0.0:8000" in docker
    assert "BRIDGE_DB=/data/bridge.db" in docker
    ignored = {line for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
               if line and not line.startswith("#")}
    assert {".env", ".venv", ".git", "data"} <= ignored   # secrets, the host's virtualenv and database


def test_the_deploy_readme_names_every_file():
    readme = (DEPLOY / "README.md").read_text()
    for f in DEPLOY.iterdir():
        if f.name != "README.md" and f.name != "__pycache__":
            assert f"deploy/{f.name}" in readme, f.name
    assert "https://YOUR.DOMAIN/webhooks/woocommerce" in readme and "python -m bridge backup" in readme


def test_ensure_packages_installs_what_is_missing_and_says_why_it_cannot(tmp_path, monkeypatch):
    assert debian.ensure_packages("sh") is None
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "calls"
    (fake / "apt-get").write_text(f"""#!/bin/sh
echo "$*" >> {calls}
case "$*" in
  update*) touch {tmp_path}/updated; exit 0 ;;
  *" pkg-b") [ -e {tmp_path}/updated ] && printf '#!/bin/sh\\n' > {fake}/woo-bridge-test-prog \\
               && chmod +x {fake}/woo-bridge-test-prog && exit 0 ;;
esac
echo "E: Unable to locate package" >&2
exit 100
""")
    (fake / "apt-get").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(debian, "_root_prefix", lambda: [])
    assert debian.ensure_packages("woo-bridge-test-prog=pkg-a|pkg-b") is None   # after one apt-get update
    assert [c.split()[0] + " " + c.split()[-1] for c in calls.read_text().splitlines()] == [
        "install pkg-a", "install pkg-b", "update -q", "install pkg-a", "install pkg-b"]
    reason = debian.ensure_packages("woo-bridge-no-such-prog=pkg-c")
    assert reason and "woo-bridge-no-such-prog" in reason and "apt-get install pkg-c" in reason
