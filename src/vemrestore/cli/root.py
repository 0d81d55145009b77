"""The ``vemrestore`` command: the root app, its ``--version``/``--debug`` options and the
command groups, each in its own module of this package.

Every command is a thin adapter: parse, call ``vemrestore.api`` (or ``training``), print, map
errors to exit codes (``cli.errors``). User mistakes (bad files, paths, options) print one
``error: ...`` line and exit with code 2.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from vemrestore.cli.analysis import register_analysis_commands
from vemrestore.cli.errors import enable_debug
from vemrestore.cli.export import export
from vemrestore.cli.inspect import info, inspect_app
from vemrestore.cli.options import quiet_libraries, show_vemrestore_warnings
from vemrestore.cli.restore import denoise, watch
from vemrestore.cli.train import config_app, train_app
from vemrestore.version import __version__

app = typer.Typer(
    help="Fast-Scan, AI-Restore: restore noisy fast-scan volume EM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vemrestore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of unexpected errors.")
    ] = False,
) -> None:
    """Fast-Scan, AI-Restore: restore noisy fast-scan volume EM."""
    if debug:
        enable_debug()
    # library chatter is noise to a microscopist; what matters, vemrestore says itself.
    # tifffile's log lines about damaged files would come before (and say less than) the
    # reader's own error line.
    quiet_libraries()
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    show_vemrestore_warnings()


app.command()(denoise)
app.command()(watch)
app.command()(info)
app.add_typer(train_app, name="train")
app.add_typer(config_app, name="config")
app.command("export")(export)
register_analysis_commands(app)
app.add_typer(inspect_app, name="inspect")


def command() -> Any:
    """The ``vemrestore`` command with help a facility user can read: value options show a
    plain word (PATH, N, NUMBER, TEXT) instead of Python type names, flags show none."""
    root = typer.main.get_command(app)
    _plain_help(root)
    return root


def _plain_help(node: Any) -> None:
    for param in node.params:
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None  # the name column says it already
        elif param.metavar is None:
            param.metavar = _plain_word(param)
    original = node.get_help_option

    def help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None:
            option.metavar = ""
        return option

    node.get_help_option = help_option
    for child in getattr(node, "commands", {}).values():
        _plain_help(child)


def _plain_word(param: Any) -> str:
    if getattr(param, "is_flag", False):
        return ""
    described = getattr(param, "type_descriptor", None)
    name = param.bare_type().lower() if described is not None else ""
    word = "TEXT"
    for key, plain in (("path", "PATH"), ("int", "N"), ("float", "NUMBER")):
        if key in name:
            word = plain
            break
    return f"{word} ..." if described is not None and described.is_list else word


def main() -> None:
    """Console-script entry point."""
    command()()
