"""`ampnexus serve | migrate | apikey | user | demo | simulate | simulate-site`.

Options go where people type them: `--database-url` and `--log-level` work before or after
the command. Every mistake (a wrong flag, a bad setting, a database that cannot be used, a
port in use) is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from ampnexus.config import Settings
from ampnexus.errors import StartupError
from ampnexus.log_redaction import redact_secrets_in_logs

FLAGS = (
    "host",
    "ocpp_port",
    "http_port",
    "database_url",
    "log_level",
    "unknown_chargers",
    "tls_cert",
    "tls_key",
    "tls_ca",
    "charger_ca_dir",
    "cpo_name",
    "ocpp_plain_port",
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {name: value for name in FLAGS if (value := getattr(args, name, None)) is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        for problem in error.errors():
            print(f"ampnexus: {_setting_problem(problem)}", file=sys.stderr)
        return 2
    redact_secrets_in_logs()  # --log-level debug shows headers: never a password or API key
    logging.basicConfig(  # on stderr: stdout is for what a command prints
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return int(args.run(settings, args) or 0)
    except StartupError as error:
        print(f"ampnexus: {error}", file=sys.stderr)
        return 1


def _setting_problem(problem: Any) -> str:
    name = str(problem["loc"][0]) if problem["loc"] else "setting"
    where = f"AMPNEXUS_{name.upper()}"
    if name in FLAGS:
        where = f"--{name.replace('_', '-')} (or {where})"
    return f"{where}: {problem['msg'].removeprefix('Value error, ')}"


class _Parser(argparse.ArgumentParser):
    """Mistakes in one line, with where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _everywhere() -> _Parser:
    """Options every command takes, before or after its name. Unset ones stay unset (they
    must not hide a value given on the other side of the command)."""
    options = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST/DB (env AMPNEXUS_DATABASE_URL; "
        "default sqlite:///data/ampnexus.sqlite3)",
    )
    options.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return options


def _parser() -> argparse.ArgumentParser:
    everywhere = _everywhere()
    parser = _Parser(prog="ampnexus", description="AmpNexus CSMS", parents=[everywhere])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help: str, under: Any = commands) -> _Parser:
        return under.add_parser(name, help=help, parents=[everywhere])  # type: ignore[no-any-return]

    serve = command("serve", "run the OCPP gateway and the HTTP API")
    serve.add_argument("--host", help="address to bind (env AMPNEXUS_HOST; default 0.0.0.0)")
    serve.add_argument("--ocpp-port", type=int, help="OCPP WebSocket port (default 9000)")
    serve.add_argument("--http-port", type=int, help="HTTP API port (default 8000)")
    serve.add_argument(
        "--unknown-chargers",
        choices=["reject", "pending"],
        help="reject unregistered chargers (default) or admit them as Pending for review",
    )
    tls = serve.add_argument_group("TLS (docs/security.md)")
    tls.add_argument("--tls-cert", metavar="FILE", help="PEM certificate: wss:// and https://")
    tls.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    tls.add_argument("--tls-ca", metavar="FILE", help="CA for charger client certificates")
    tls.add_argument(
        "--charger-ca-dir",
        metavar="DIR",
        help="CA AmpNexus keeps here (made on first use) to sign chargers' CSRs; with TLS, "
        "certificates it signed admit profile 3 chargers (none: CSRs wait for an external CA)",
    )
    tls.add_argument("--cpo-name", help="the O a charger's CSR must hold (its CpoName)")
    tls.add_argument(
        "--ocpp-plain-port", type=int, metavar="PORT", help="also serve plain ws:// (profile 0/1)"
    )
    serve.set_defaults(run=_serve)

    migrate = command("migrate", "apply database migrations and exit")
    migrate.set_defaults(run=_migrate)

    apikey = command("apikey", "manage API keys")
    keys = apikey.add_subparsers(required=True, metavar="ACTION")
    create = command("create", "create a key; its last output line is the key", keys)
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope",
        choices=["admin", "operator", "read"],
        default="admin",
        help="admin (default: the first key must manage the others), operator (all but API "
        "keys) or read (GET only)",
    )
    create.set_defaults(run=_apikey_create)
    command("list", "list keys", keys).set_defaults(run=_apikey_list)
    revoke = command("revoke", "revoke a key by id", keys)
    revoke.add_argument("id", type=int)
    revoke.set_defaults(run=_apikey_revoke)

    user = command("user", "manage the web portal's users")
    users = user.add_subparsers(required=True, metavar="ACTION")
    create_user = command("create", "create a user who signs in with email and password", users)
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--password", required=True, help="12 to 128 characters")
    create_user.add_argument(
        "--role",
        choices=["admin", "operator", "viewer"],
        default="viewer",
        help="admin (also manages users), operator (runs the site) or viewer (default: reads)",
    )
    create_user.set_defaults(run=_user_create)
    command("list", "list users", users).set_defaults(run=_user_list)
    delete_user = command("delete", "delete a user and end their sessions", users)
    delete_user.add_argument("email")
    delete_user.set_defaults(run=_user_delete)

    simulate = command("simulate", "run simulated OCPP 1.6J charge points against a CSMS")
    simulate.add_argument("--url", required=True, help="the CSMS, e.g. ws://HOST:9000/ocpp")
    simulate.add_argument("--chargers", type=int, default=1, help="how many (default 1)")
    simulate.add_argument("--id-prefix", default="SIM", help="ids PREFIX-0001... (default SIM)")
    simulate.add_argument(
        "--id", dest="ids", action="append", metavar="ID", help="a charger's own id (repeatable)"
    )
    simulate.add_argument("--password", help="HTTP Basic password of every charger (16-40)")
    simulate.add_argument("--script", type=Path, help="a JSON file of timed events")
    simulate.add_argument("--speed", type=float, default=1.0, help="simulated time factor")
    simulate.set_defaults(run=_simulate)

    demo = command("demo", "the server, simulated chargers and drivers: AmpNexus at work")
    demo.add_argument("--chargers", type=int, default=4, help="how many (default 4)")
    demo.add_argument("--speed", type=float, default=60.0, help="simulated time factor (60)")
    demo.add_argument("--duration", type=float, help="stop after this many real seconds")
    demo.add_argument("--data-dir", type=Path, help="keep the database here (default: a temp dir)")
    demo.add_argument("--host", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--ocpp-port", type=int, help="OCPP WebSocket port (default 9000)")
    demo.add_argument("--http-port", type=int, help="HTTP API port (default 8000)")
    demo.add_argument("--seed", type=int, help="seed for the drivers' randomness")
    demo.set_defaults(run=_demo)

    simulate_site = command(
        "simulate-site", "replay a scenario file with a charging strategy; print metrics"
    )
    simulate_site.add_argument("scenario", help="scenario JSON file (docs/scenarios.md)")
    simulate_site.add_argument(
        "--strategy",
        default="smart",
        choices=["smart", "uncontrolled", "equal_share", "edf", "offline_optimal"],
    )
    simulate_site.add_argument("--json", action="store_true", help="print the metrics as JSON")
    simulate_site.add_argument(
        "--replan-every", type=int, default=1, help="smart: replan every N slots (default 1)"
    )
    simulate_site.add_argument(
        "--time-budget", type=float, default=1.0, help="smart: planner time budget, seconds"
    )
    simulate_site.set_defaults(run=_simulate_site)
    return parser


def _serve(settings: Settings, _: Any) -> int:
    from ampnexus.app import AmpNexus

    run_fast(AmpNexus(settings).run_until_signalled())
    return 0


def run_fast(main: Any) -> Any:
    """uvloop's event loop (libuv, in C) halves the per-frame socket overhead."""
    try:
        import uvloop
    except ImportError:  # a platform without uvloop: the standard loop works too
        return asyncio.run(main)
    return uvloop.run(main)


def _migrate(settings: Settings, _: Any) -> int:
    from ampnexus.store.database import Database

    db = Database(settings.database_url)
    db.migrate()
    db.close()
    print(f"database at the newest schema ({db.dialect})")
    return 0


def _offline(settings: Settings, work: Any) -> Any:
    """Run a use case against the database without starting the server."""
    from ampnexus.app import build_services
    from ampnexus.domain.time import SystemClock
    from ampnexus.store.database import Database

    db = Database(settings.database_url)
    try:
        db.migrate()
        services = build_services(db, settings, SystemClock(), port=None)  # type: ignore[arg-type]
        try:
            return asyncio.run(work(services))
        finally:
            services.users.close()
    finally:
        db.close()


def _apikey_create(settings: Settings, args: Any) -> int:
    from ampnexus.domain.api_key import ApiKeyScope
    from ampnexus.domain.errors import DomainError

    scope = ApiKeyScope(args.scope)
    try:
        key, secret = _offline(settings, lambda s: s.api_keys.create(args.name, scope=scope))
    except DomainError as error:
        print(f"ampnexus: {error}", file=sys.stderr)
        return 2
    print(
        f"Created API key {key.id} ({key.name}, scope {key.scope}). "
        "Store it now; it is not shown again:"
    )
    print(secret)
    return 0


def _apikey_list(settings: Settings, _: Any) -> int:
    keys = _offline(settings, lambda s: s.api_keys.list())
    for key in keys:
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}Z"
        print(
            f"{key.id:>4}  {key.prefix}…  {key.name}  [{key.scope}]  "
            f"(created {key.created_at:%Y-%m-%d}, {state})"
        )
    if not keys:
        print("no API keys yet: ampnexus apikey create --name NAME")
    return 0


def _apikey_revoke(settings: Settings, args: Any) -> int:
    from ampnexus.domain.errors import DomainError

    try:
        _offline(settings, lambda s: s.api_keys.revoke(args.id))
    except DomainError as error:
        print(f"ampnexus: {error}", file=sys.stderr)
        return 1
    print(f"revoked API key {args.id}")
    return 0


def _user_create(settings: Settings, args: Any) -> int:
    from ampnexus.domain.errors import DomainError
    from ampnexus.domain.user import Role

    role = Role(args.role)
    try:
        user = _offline(settings, lambda s: s.users.create(args.email, args.password, role))
    except DomainError as error:
        print(f"ampnexus: {error}", file=sys.stderr)
        return 2
    print(f"Created user {user.email} ({user.role})")
    return 0


def _user_list(settings: Settings, _: Any) -> int:
    users = _offline(settings, lambda s: s.users.list())
    for user in users:
        seen = (
            f"last sign-in {user.last_login_at:%Y-%m-%d %H:%M}Z"
            if user.last_login_at
            else "never signed in"
        )
        state = "" if user.active else f", disabled {user.disabled_at:%Y-%m-%d}"
        print(
            f"{user.id:>4}  {user.email}  [{user.role}]  "
            f"(created {user.created_at:%Y-%m-%d}, {seen}{state})"
        )
    if not users:
        print("no users yet: ampnexus user create --email EMAIL --password PASSWORD --role admin")
    return 0


def _user_delete(settings: Settings, args: Any) -> int:
    from ampnexus.domain.errors import DomainError

    try:
        user = _offline(settings, lambda s: s.users.delete(args.email))
    except DomainError as error:
        print(f"ampnexus: {error}", file=sys.stderr)
        return 1
    print(f"Deleted user {user.email}")
    return 0


def _simulate_site(_: Settings, args: Any) -> int:
    import json

    from ampnexus.charging.replay import make_policy, replay
    from ampnexus.charging.scenario import ScenarioError, parse_scenario

    try:
        with open(args.scenario, encoding="utf-8") as file:
            scenario = parse_scenario(json.load(file))
    except (OSError, ValueError) as error:  # ScenarioError and JSONDecodeError are ValueErrors
        kind = "invalid scenario" if isinstance(error, ScenarioError) else "cannot read"
        print(f"ampnexus: {kind} {args.scenario}: {error}", file=sys.stderr)
        return 2
    policy = make_policy(
        args.strategy, scenario, replan_every=args.replan_every, time_budget_s=args.time_budget
    )
    metrics = replay(scenario, args.strategy, policy=policy).metrics.to_dict()
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        for key, value in metrics.items():
            print(f"{key:>22}  {round(value, 3) if isinstance(value, float) else value}")
    return 0


def _simulate(settings: Settings, args: Any) -> int:
    from ampnexus.sim.fleet import simulate

    if args.chargers < 1 or args.speed <= 0:
        print("ampnexus: --chargers must be at least 1 and --speed positive", file=sys.stderr)
        return 2
    if args.ids and args.chargers not in (1, len(args.ids)):
        print("ampnexus: --chargers and the number of --id disagree", file=sys.stderr)
        return 2
    try:
        asyncio.run(
            simulate(
                args.url,
                len(args.ids) if args.ids else args.chargers,
                id_prefix=args.id_prefix,
                ids=args.ids,
                password=args.password,
                script=args.script,
                speed=args.speed,
            )
        )
    except (OSError, ValueError) as error:  # a script it cannot read or run
        print(f"ampnexus: {error}", file=sys.stderr)
        return 2
    return 0


def _demo(settings: Settings, args: Any) -> int:
    from ampnexus.sim.demo import DemoOptions, run_demo

    if getattr(args, "log_level", None) is None:  # the demo's story, not the server's logs
        for name in ("ampnexus", "uvicorn", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
    options = DemoOptions(
        chargers=args.chargers,
        speed=args.speed,
        duration=args.duration,
        data_dir=args.data_dir,
        host=args.host or "127.0.0.1",
        http_port=settings.http_port,
        ocpp_port=settings.ocpp_port,
        seed=args.seed,
    )
    try:
        asyncio.run(run_demo(options))
    except OSError as error:  # its data directory, say (ports in use are StartupErrors)
        print(f"ampnexus: the demo cannot start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
