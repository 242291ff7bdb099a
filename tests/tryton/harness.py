#!/usr/bin/env python3
"""A real Tryton server for Interlink's tests.

    harness.py setup    installs trytond in a virtualenv and prepares a template
                        database with the master data (once; cached under
                        target/tryton/)
    harness.py serve    starts trytond on a free loopback port with a fresh copy
                        of the template, prints one JSON line describing it
                        (its URL, keys, and `log`: the file where trytond logs
                        every request it serves), and stops the server when its
                        standard input closes

Setup runs under a lock (target/tryton/setup.lock), so tests started in
parallel without `cargo xtask test` wait for one another instead of racing to
build the same cache. `serve` fails loudly when trytond never answers; when
the port it was given is taken before trytond binds it, it tries another.

The template holds: the purchase module, a company (USD), a supplier party with
an address, and two users with validated REST keys: `buyer` (group Purchase)
and `viewer` (no Purchase group). The admin's password is `admin-secret`.
"""

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "tryton"
VENV = CACHE / "venv"
TEMPLATE = CACHE / "template"
PACKAGES = ["trytond==8.2.1", "trytond-purchase==8.2.0"]
ADMIN_PASSWORD = "admin-secret"
DATABASE = "erp"

SEED = '''
import json
from trytond.config import config
config.update_etc(CONF)
from trytond.pool import Pool
from trytond.transaction import Transaction
Pool.start()
pool = Pool(DATABASE)
pool.init()
with Transaction().start(DATABASE, 0, context={}) as t:
    Currency, Party, Company = pool.get('currency.currency'), pool.get('party.party'), pool.get('company.company')
    User, Group, App = pool.get('res.user'), pool.get('res.group'), pool.get('res.user.application')
    Uom = pool.get('product.uom')
    usd, = Currency.create([{'name': 'US Dollar', 'symbol': '$', 'code': 'USD'}])
    owner, = Party.create([{'name': 'Interlink Test Co'}])
    company, = Company.create([{'party': owner.id, 'currency': usd.id}])
    purchase = Group.search([('name', '=', 'Purchase')])
    admin, = User.search([('login', '=', 'admin')])
    User.write([admin], {'companies': [('add', [company.id])], 'company': company.id})
    buyer, viewer = User.create([
        {'login': 'buyer', 'name': 'Buyer', 'companies': [('add', [company.id])], 'company': company.id,
         'groups': [('add', [g.id for g in purchase])]},
        {'login': 'viewer', 'name': 'Viewer', 'companies': [('add', [company.id])], 'company': company.id},
    ])
    supplier, = Party.create([{'name': 'Acme Supplies',
        'addresses': [('create', [{'street': '1 Main St', 'city': 'Springfield'}])]}])
    keys = App.create([{'user': buyer.id, 'application': 'rest'}, {'user': viewer.id, 'application': 'rest'}])
    App.write(keys, {'state': 'validated'})
    unit, = Uom.search([('symbol', '=', 'u')])
    t.commit()
    print(json.dumps({'company': company.id, 'supplier': supplier.id, 'unit': unit.id,
                      'buyer_key': keys[0].key, 'viewer_key': keys[1].key,
                      'buyer_application': keys[0].id}))
'''


def conf(directory, port):
    path = Path(directory) / "trytond.conf"
    path.write_text(f"[database]\nuri = sqlite://\npath = {directory}\n[web]\nlisten = 127.0.0.1:{port}\n")
    return path


def env(directory):
    password = Path(directory) / "adminpass"
    password.write_text(ADMIN_PASSWORD + "\n")
    return {**os.environ, "TRYTONPASSFILE": str(password)}


def run(*args, **kwargs):
    subprocess.run([str(a) for a in args], check=True, **kwargs)


def setup():
    with open(CACHE / "setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        prepare()


def prepare():
    if not (VENV / "bin" / "trytond").exists():
        print("tryton harness: installing trytond into", VENV, file=sys.stderr)
        run(sys.executable, "-m", "venv", VENV)
        run(VENV / "bin" / "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check", *PACKAGES)
    if (TEMPLATE / "seed.json").exists():
        return
    print("tryton harness: creating the template database (about a minute)", file=sys.stderr)
    building = Path(tempfile.mkdtemp(dir=CACHE))
    config, environment = conf(building, 0), env(building)
    (building / f"{DATABASE}.sqlite").touch()
    quiet = {"env": environment, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    admin = VENV / "bin" / "trytond-admin"
    run(admin, "-c", config, "-d", DATABASE, "--all", "--email", "admin@example.com", **quiet)
    run(admin, "-c", config, "-d", DATABASE, "-u", "purchase", "--activate-dependencies", **quiet)
    script = f"CONF = {str(config)!r}\nDATABASE = {DATABASE!r}\n" + SEED
    seed = subprocess.run([str(VENV / "bin" / "python"), "-W", "ignore", "-c", script],
                          check=True, capture_output=True, text=True, env=environment)
    (building / "seed.json").write_text(seed.stdout.strip().splitlines()[-1])
    shutil.rmtree(TEMPLATE, ignore_errors=True)
    building.rename(TEMPLATE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(Exception):
    pass


def answers(base):
    """Whether trytond answers at `base` yet: its root JSON-RPC
    `common.server.version` (no login needed) gives Tryton's series, `8.2`.
    Any other answer (another server that holds the port, an error page) is
    not Tryton's: trytond then fails to bind and exits, which `start` sees."""
    body = json.dumps({"id": 1, "method": "common.server.version", "params": []}).encode()
    request = urllib.request.Request(f"{base}/rpc/", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=1) as response:
            reply = json.load(response)
    except (OSError, ValueError):
        return False  # no answer yet, or not a JSON one (HTTPError is an OSError)
    return isinstance(reply, dict) and str(reply.get("result", "")).startswith("8.")


def start(directory):
    """Starts trytond on a free port; answers the process and its URL once
    it serves. Raises PortTaken when another process bound the port first."""
    port = free_port()
    config = conf(directory, port)
    log_path = directory / "trytond.log"
    log = open(log_path, "a")
    # -v -v: INFO, which logs every request served (`trytond.wsgi`).
    server = subprocess.Popen([str(VENV / "bin" / "trytond"), "-v", "-v", "-c", str(config), "-d", DATABASE],
                              env=env(directory), stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            if "Address already in use" in log_path.read_text():
                raise PortTaken(port)
            raise SystemExit(f"trytond exited with {server.returncode}: see {log_path}")
        if answers(base):
            return server, base
        time.sleep(0.1)
    server.terminate()
    raise SystemExit(f"trytond did not answer at {base} within 60 s: see {log_path}")


def serve():
    setup()
    directory = Path(tempfile.mkdtemp(prefix="tryton-"))
    shutil.copy(TEMPLATE / f"{DATABASE}.sqlite", directory / f"{DATABASE}.sqlite")
    for attempt in range(5):
        try:
            server, base = start(directory)
            break
        except PortTaken as taken:
            print(f"tryton harness: port {taken} was taken; trying another", file=sys.stderr)
    else:
        raise SystemExit("tryton harness: no free port after 5 tries")
    try:
        seed = json.loads((TEMPLATE / "seed.json").read_text())
        print(json.dumps({"base_url": base, "database": DATABASE, "admin_password": ADMIN_PASSWORD,
                          "log": str(directory / "trytond.log"), **seed}), flush=True)
        sys.stdin.read()
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    CACHE.mkdir(parents=True, exist_ok=True)
    {"setup": setup, "serve": serve}[sys.argv[1] if len(sys.argv) > 1 else "setup"]()
