"""`vigil api` (serve the HTTP API) and `vigil token create|list|revoke` (API tokens).

Registered on the main app by `core.cli`; the `api` package is imported only when a command runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ConfigError
from core.settings import get_settings

token_app = typer.Typer(help="API tokens: the secret is printed once and stored only as a hash.", no_args_is_help=True)
console = Console()


def serve(
    host: Annotated[str | None, typer.Option(help="default: VIGIL_API_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: VIGIL_API_PORT")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    uvicorn.run(app, host=host or settings.api_host, port=port or settings.api_port)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="who or what holds it: a person, a log shipper")],
    role: Annotated[str, typer.Option(help="admin, officer, responder or auditor")],
    expires_days: Annotated[int | None, typer.Option(min=1, help="expire after this many days")] = None,
) -> None:
    """Create a token and print it once."""
    from api.permissions import Role
    from api.tokens import TokenStore

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(f"role must be one of {', '.join(Role)}", param_hint="--role") from None
    store = TokenStore(get_settings().tokens_path())
    try:
        record, token = store.create(name, chosen, timedelta(days=expires_days) if expires_days else None)
    except (ConfigError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"token {record.id} for {record.name!r} (role {record.role.value}) in {store.path}")
    console.print("Copy it now, it is not stored and will not be shown again:")
    # Plain print: the secret must not be wrapped or coloured by rich.
    print(token)


@token_app.command("list")
def token_list() -> None:
    """List tokens (ids, names, roles, status; never secrets)."""
    from api.tokens import TokenStore

    store = TokenStore(get_settings().tokens_path())
    now = datetime.now(UTC)
    table = Table("id", "name", "role", "created", "expires", "status")
    for record in store.records():
        expires = record.expires_at.isoformat(timespec="seconds") if record.expires_at else "-"
        table.add_row(record.id, record.name, record.role.value, record.created_at.isoformat(timespec="seconds"),
                      expires, record.status(now))  # fmt: skip
    console.print(table)


@token_app.command("revoke")
def token_revoke(key: Annotated[str, typer.Argument(help="token id or name")]) -> None:
    """Revoke a token; a running API refuses it from its next request."""
    from api.tokens import TokenStore

    try:
        record = TokenStore(get_settings().tokens_path()).revoke(key)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"revoked token {record.id} ({record.name!r})")


user_app = typer.Typer(help="Web console users: the password is prompted and stored only as a scrypt hash.",
                       no_args_is_help=True)  # fmt: skip


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="the person's login name")],
    role: Annotated[str, typer.Option(help="admin, officer, responder or auditor")],
    password: Annotated[
        str, typer.Option(prompt=True, confirmation_prompt=True, hide_input=True, help="prompted when not given")
    ],
) -> None:
    """Create a console user (log in at /console/login)."""
    from api.permissions import Role
    from api.users import UserStore

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(f"role must be one of {', '.join(Role)}", param_hint="--role") from None
    store = UserStore(get_settings().users_path())
    try:
        record = store.create(name, chosen, password)
    except (ConfigError, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"user {record.name!r} (role {record.role.value}) in {store.path}")


@user_app.command("list")
def user_list() -> None:
    """List console users (names, roles, state; never passwords)."""
    from api.users import UserStore

    table = Table("name", "role", "created", "state")
    for record in UserStore(get_settings().users_path()).records():
        table.add_row(record.name, record.role.value, record.created_at.isoformat(timespec="seconds"),
                      "active" if record.active else f"disabled {record.disabled_at:%Y-%m-%d}")  # fmt: skip
    console.print(table)


@user_app.command("disable")
def user_disable(name: Annotated[str, typer.Argument(help="the user's login name")]) -> None:
    """Disable a user; their open console sessions end at their next request."""
    from api.users import UserStore

    try:
        record = UserStore(get_settings().users_path()).disable(name)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"disabled user {record.name!r}")
