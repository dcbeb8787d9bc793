"""What can be proven here about deploy/: gunicorn really serves the app with that config,
nginx accepts the site and really proxies (TLS, body limits, forwarded headers), systemd and
logrotate accept their files, the container files say what they should."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import urllib3
import yaml

from tests.conftest import ROOT, free_port, wait_until

DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


def need(program: str) -> str:
    path = shutil.which(program) or next((p for p in (f"/usr/sbin/{program}", f"/sbin/{program}")
                                          if os.path.exists(p)), None)
    if path is None:
        reason = f"{program} is missing (`make test` installs it with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("ESMS_", "WOO_", "BRIDGE_"))},
            "BRIDGE_DB": str(tmp_path / "bridge.db"), "WOO_WEBHOOK_SECRET": "s", "LOG_LEVEL": "WARNING", **extra}


@pytest.fixture
def gunicorn(tmp_path):
    """The app under gunicorn with deploy/gunicorn.conf.py, on a free loopback port."""
    port = free_port()
    env = env_for(tmp_path, PROXY_COUNT="1")
    subprocess.run([sys.executable, "-m", "bridge", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", str(DEPLOY / "gunicorn.conf.py"),
                             "-b", f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), timeout=30, what="gunicorn to serve /healthz")
        yield url, proc, tmp_path
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _up(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def test_gunicorn_config_checks_and_sizes_workers_for_two_cores(tmp_path):
    r = subprocess.run([str(VENV_BIN / "gunicorn"), "--check-config", "-c", str(DEPLOY / "gunicorn.conf.py")],
                       cwd=ROOT, env=env_for(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    conf: dict = {}
    exec((DEPLOY / "gunicorn.conf.py").read_text(), conf)
    assert conf["workers"] == 3 and conf["worker_class"] == "gthread" and conf["threads"] == 4
    assert conf["bind"] == "127.0.0.1:8000" and conf["preload_app"] is False
    assert "RUN_SCHEDULER=0" in conf["raw_env"] and conf["wsgi_app"] == "app:create_app()"


def test_gunicorn_serves_webhooks_with_three_workers(gunicorn):
    url, proc, _ = gunicorn
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 3
    health = requests.get(url + "/healthz", timeout=5).json()
    assert health["scheduler"]["in_process"] is False   # RUN_SCHEDULER=0 from the config
    r = requests.post(url + "/webhooks/woocommerce", data=b"{}", headers={"X-WC-Webhook-Topic": "order.created"},
                      timeout=5)
    assert r.status_code == 401 and r.json()["error"]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([need("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=shop-bridge.example.com", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def _nginx_conf(tmp_path: Path, upstream_port: int) -> tuple[Path, int, int]:
    """deploy/nginx-woo-bridge.conf with test ports, a self-signed certificate and tmp paths."""
    cert, key = _self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    site = (DEPLOY / "nginx-woo-bridge.conf").read_text()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;", "")
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    site = site.replace("listen [::]:443 ssl http2;", "")
    site = site.replace("/etc/letsencrypt/live/shop-bridge.example.com/fullchain.pem", str(cert))
    site = site.replace("/etc/letsencrypt/live/shop-bridge.example.com/privkey.pem", str(key))
    site = site.replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")
    (tmp_path / "site.conf").write_text(site)
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / d).mkdir(exist_ok=True)
    conf = tmp_path / "nginx.conf"
    # as root, nginx's workers would be "nobody", who cannot write into pytest's private tmp dir
    user = "user root;" if os.geteuid() == 0 else ""
    conf.write_text(f"""
{user}
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/client_body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
""")
    return conf, http_port, https_port


def test_nginx_accepts_the_site_and_proxies_with_tls_limits_and_forwarded_headers(gunicorn):
    url, _, tmp_path = gunicorn
    nginx = need("nginx")
    (tmp_path / "nginx").mkdir()
    conf, http_port, https_port = _nginx_conf(tmp_path / "nginx", int(url.rsplit(":", 1)[1]))
    test = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path / "nginx")], capture_output=True,
                          text=True)
    assert test.returncode == 0, test.stderr
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path / "nginx"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    urllib3.disable_warnings()
    base = f"https://127.0.0.1:{https_port}"
    try:
        wait_until(lambda: _reachable(base + "/healthz"), timeout=10, what="nginx to listen")
        plain = requests.get(f"http://127.0.0.1:{http_port}/healthz", allow_redirects=False, timeout=5)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")
        r = requests.get(base + "/healthz", verify=False, timeout=5)
        assert r.status_code == 200 and re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])  # nginx's id
        seen = r.json()["request"]   # X-Forwarded-Proto/For/Host reached the app (PROXY_COUNT=1)
        assert seen["scheme"] == "https" and seen["remote_addr"] == "127.0.0.1"
        assert seen["host"] == "127.0.0.1"   # nginx's $host
        mid = requests.post(base + "/webhooks/woocommerce", data=b"x" * (1536 * 1024), verify=False, timeout=10,
                            headers={"X-WC-Webhook-Topic": "order.created"})
        assert mid.status_code == 413 and "over the 1 MiB limit" in mid.json()["error"]   # the app's answer
        big = requests.post(base + "/webhooks/woocommerce", data=b"x" * (3 * 1024 * 1024), verify=False, timeout=10)
        assert big.status_code == 413 and "nginx" in big.text   # stopped at the door
        assert requests.get(base + "/metrics", verify=False, timeout=5).status_code == 200   # from localhost
    finally:
        proc.terminate()
        proc.wait(10)
    access = (tmp_path / "nginx" / "access.log").read_text()
    assert "POST /webhooks/woocommerce" in access


def _reachable(url: str) -> bool:
    try:
        requests.get(url, verify=False, timeout=1)
        return True
    except requests.RequestException:
        return False


def _unit(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment]
    cp.read_string((DEPLOY / name).read_text())
    return cp


def test_systemd_units_run_web_and_worker_as_separate_restarting_services(tmp_path):
    web, worker = _unit("woo-bridge-web.service"), _unit("woo-bridge-worker.service")
    assert "gunicorn -c /opt/woo-bridge/deploy/gunicorn.conf.py" in web["Service"]["ExecStart"]
    environment = re.findall(r"^Environment=(.*)$", (DEPLOY / "woo-bridge-web.service").read_text(), re.M)
    assert "RUN_SCHEDULER=0" in " ".join(environment) and "PROXY_COUNT=1" in " ".join(environment)
    assert worker["Service"]["ExecStart"].endswith("-m bridge worker")
    for u in (web, worker):
        assert u["Service"]["Restart"] == "always" and u["Service"]["User"] == "woobridge"
        assert u["Service"]["EnvironmentFile"] == "-/etc/woo-bridge/env"
        assert "/var/lib/woo-bridge" in u["Service"]["ReadWritePaths"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not available here; the units were parsed only")
    # verify copies whose paths exist on this machine (the real ones live under /opt/woo-bridge)
    for name in ("woo-bridge-web.service", "woo-bridge-worker.service"):
        text = (DEPLOY / name).read_text().replace("/opt/woo-bridge/.venv/bin", str(VENV_BIN))
        text = text.replace("User=woobridge", "User=root").replace("Group=woobridge", "Group=root")
        text = text.replace("/bin/kill", shutil.which("kill") or "/bin/kill")
        (tmp_path / name).write_text(text)
    r = subprocess.run([analyze, "verify", str(tmp_path / "woo-bridge-web.service"),
                        str(tmp_path / "woo-bridge-worker.service")], capture_output=True, text=True, timeout=60)
    # verify exits 0 even on unknown keys: any line naming our files is a problem
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "woo-bridge" in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


def test_logrotate_accepts_its_file(tmp_path):
    logrotate = need("logrotate")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "web.log").write_text("x\n" * 10)
    conf = (DEPLOY / "logrotate-woo-bridge").read_text().replace("/var/log/woo-bridge", str(logs))
    conf = conf.replace("    su woobridge woobridge\n", "")
    (tmp_path / "woo-bridge").write_text(conf)
    r = subprocess.run([logrotate, "-d", "-s", str(tmp_path / "state"), str(tmp_path / "woo-bridge")],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr
    assert "rotating pattern" in r.stderr and "copytruncate" in (DEPLOY / "logrotate-woo-bridge").read_text()


def test_container_files_run_web_and_worker_on_one_volume_as_non_root():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    assert worker["command"] == ["python", "-m", "bridge", "worker"]
    assert web["environment"]["RUN_SCHEDULER"] == "0" and worker["environment"]["RUN_SCHEDULER"] == "1"
    assert web["volumes"] == worker["volumes"] == ["woo-bridge-data:/data"]
    assert "woo-bridge-data" in compose["volumes"] and web["ports"] == ["127.0.0.1:8000:8000"]
    docker = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER woobridge$", docker, re.M) and "HEALTHCHECK" in docker
    assert "pip install --no-cache-dir -r requirements.txt" in docker and "deploy/gunicorn.conf.py" in docker
    assert "BRIDGE_DB=/data/bridge.db" in docker
