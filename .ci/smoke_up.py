"""Run `eldercare up --demo` with no service URLs: the API must answer and an alert must appear;
Ctrl-C must stop everything; a second start must find the stored alert again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
PORT = 18080


def get(path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError:
        return 0, {}


def wait_for(what: str, check, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"smoke: eldercare up exited ({process.returncode}) before {what}")
        if check():
            print(f"smoke: {what} after {timeout - (deadline - time.monotonic()):.1f} s")
            return
        time.sleep(1)
    raise SystemExit(f"smoke: no {what} within {timeout:g} s")


def start(state_dir: Path, log) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env |= {"ELDERCARE_STATE_DIR": str(state_dir), "ELDERCARE_API_PORT": str(PORT)}
    # The demo at 10x device time, so the first episode's alert comes in seconds, not minutes.
    return subprocess.Popen(
        [str(VENV_BIN / "eldercare"), "up", "--demo", "--speed", "10"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        code = process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise SystemExit("smoke: eldercare up did not stop within 60 s of Ctrl-C") from None
    if code != 0:
        raise SystemExit(f"smoke: eldercare up exited with {code} after Ctrl-C")


def leftovers(state_dir: Path) -> list[str]:
    """Processes of this run still alive: children of `up` carry its ELDERCARE_STATE_DIR, the
    embedded servers name the state directory on their command line."""
    marker = f"ELDERCARE_STATE_DIR={state_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone, or not ours to read
        if marker in environ or str(state_dir) in cmdline:
            found.append(f"{proc.name} {cmdline.strip()}")
    return found


def main() -> None:
    state_dir = Path(tempfile.mkdtemp(prefix="eldercare-smoke-"))
    log_path = state_dir / "up.log"
    with log_path.open("wb") as log:
        try:
            process = start(state_dir, log)
            wait_for("API health 200", lambda: get("/api/health")[0] == 200, 180, process)
            assert get("/api/alerts")[0] == 401, "alerts must need a login"
            password = (state_dir / "demo-staff-password").read_text().strip()
            login = {"username": "nurse", "password": password}
            status, session = get("/api/auth/login", body=login)
            assert status == 200, f"demo nurse login answered {status}"
            token = session["token"]

            def alert_seen() -> bool:
                status, body = get("/api/alerts?channel=clinical", token)
                return status == 200 and body.get("count", 0) >= 1

            wait_for("first clinical alert", alert_seen, 180, process)
            status, body = get("/api/alerts?channel=clinical", token)
            print("smoke: alert", json.dumps(body["data"][0]))
            stop(process)
            if leftovers(state_dir):
                raise SystemExit(f"smoke: processes left after Ctrl-C: {leftovers(state_dir)}")
            print("smoke: Ctrl-C stopped every process")

            process = start(state_dir, log)
            wait_for("restart reusing stored alerts", alert_seen, 180, process)
            stop(process)
        except BaseException:
            log.flush()
            sys.stdout.write(log_path.read_text(errors="replace")[-6000:])
            raise
    print("smoke: ok")


if __name__ == "__main__":
    main()
