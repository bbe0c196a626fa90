"""What the Python tests share: the `yizhan` binary, running it, and a
community node serving plain HTTP on loopback.

The binary is $YIZHAN_BIN, else $CARGO_TARGET_DIR/debug/yizhan, else
target/debug/yizhan: build it first (`cargo build -p yizhan`).
"""

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLACE = "guandu/yiliu/xinyazhou"


def binary() -> Path:
    if os.environ.get("YIZHAN_BIN"):
        path = Path(os.environ["YIZHAN_BIN"])
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = target / "debug" / "yizhan"
    assert path.is_file(), f"no yizhan binary at {path}: run `cargo build -p yizhan` first"
    return path


def yizhan(data: Path, *args: str) -> str:
    out = subprocess.run(
        [str(binary()), "--data-dir", str(data), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"yizhan {args} failed: {out.stderr}"
    return out.stdout


def community_with_rider(data: Path, url: str = "http://127.0.0.1") -> dict:
    """A community node set up in `data` (not started) with one active
    rider and the rider's access code, its sign-in link on `url`."""
    yizhan(data, "init", "--role", "community", "--place", PLACE)
    member = json.loads(
        yizhan(
            data, "--json", "roster", "add",
            "--display-name", "骑手小李", "--name", "李四", "--phone", "13800000007",
        )
    )["id"]
    yizhan(data, "roster", "approve", member)
    code = json.loads(yizhan(data, "--json", "roster", "code", member, "--url", url))["code"]
    with open(data / "config.toml", "a", encoding="utf-8") as f:
        f.write('\n[http]\nlisten = "127.0.0.1:0"\nplain = true\n')
    return {"data": data, "member": member, "code": code}


@contextlib.contextmanager
def serving(data: Path, log: Path):
    """Runs the node of `data` until the block ends; yields the root URL
    of its HTTP server (http://127.0.0.1:PORT), read from what it prints."""
    proc = subprocess.Popen(
        [str(binary()), "--data-dir", str(data), "node", "start",
         "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
        stdout=open(log, "w"),
        stderr=subprocess.DEVNULL,
    )
    try:
        root = None
        deadline = time.monotonic() + 30
        while root is None:
            assert proc.poll() is None, "the node exited"
            assert time.monotonic() < deadline, "the node never served HTTP"
            m = re.search(r"serving (http://\S+)/open311/v2/", log.read_text())
            if m:
                root = m.group(1)
            else:
                time.sleep(0.1)
        yield root
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
