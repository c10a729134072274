"""The smartbuild command line: root group, global options, lazy commands, one error boundary."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from smartbuild import __version__

if TYPE_CHECKING:
    from smartbuild.config.site import LoadedSite
    from smartbuild.console import Output
    from smartbuild.services.plugins import SmartbuildPluginManager
    from smartbuild.services.registry import Registry
    from smartbuild.services.session import Session

T = TypeVar("T")

# name -> (module, attribute, one-line help). Help lives here so `--help` imports no command module;
# tests/test_cli.py checks it matches each command's own docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "discover": (
        "smartbuild.commands.discover",
        "discover",
        "Find devices over Modbus, mDNS and BLE, identify them and optionally save them.",
    ),
    "devices": (
        "smartbuild.commands.devices",
        "devices",
        "List the devices of the site with their zone, template and address.",
    ),
    "read": (
        "smartbuild.commands.points",
        "read",
        "Read typed point values (with units) from devices of the site.",
    ),
    "write": (
        "smartbuild.commands.points",
        "write",
        "Write one point in engineering units: bounds-checked, confirmed, read back, journaled.",
    ),
    "watch": (
        "smartbuild.commands.points",
        "watch",
        "Follow point values live (a table on a terminal, JSON Lines with --json).",
    ),
    "probe": (
        "smartbuild.commands.modbus_tools",
        "probe",
        "Decode registers in all four word orders, for undocumented register maps.",
    ),
    "profile": (
        "smartbuild.commands.profile",
        "profile",
        "Validate, plan and apply energy and comfort profiles.",
    ),
    "routine": (
        "smartbuild.commands.routine",
        "routine",
        "List, validate and run routines (triggers, conditions, steps).",
    ),
    "rollback": (
        "smartbuild.commands.rollback",
        "rollback",
        "Restore the values a run changed, where devices still hold what it wrote.",
    ),
    "overrides": (
        "smartbuild.commands.rollback",
        "overrides",
        "List overrides (profile apply --for) that are still in force.",
    ),
    "validate": (
        "smartbuild.commands.validate",
        "validate",
        "Check site files, device templates and profiles.",
    ),
    "templates": (
        "smartbuild.commands.templates",
        "templates",
        "List, show and validate device templates.",
    ),
    "plugins": (
        "smartbuild.commands.plugins",
        "plugins",
        "List loaded plugins and the hooks they implement.",
    ),
    "log": ("smartbuild.commands.log", "log", "Show the action journal: runs and their entries."),
    "demo": (
        "smartbuild.commands.demo",
        "demo",
        "Run the main job on a simulated building: discover, plan, apply, verify, roll back.",
    ),
    "kpi": (
        "smartbuild.commands.kpi",
        "kpi",
        "Simulate days with and without a profile and compare KPIs (BOPTEST style).",
    ),
    "sim": (
        "smartbuild.commands.sim",
        "sim",
        "Run a simulated building (Modbus, mDNS and BLE on loopback) until interrupted.",
    ),
    "hub": (
        "smartbuild.commands.hub",
        "hub",
        "Run the building unattended: schedules, override releases, polling (a hub).",
    ),
    "fleet": (
        "smartbuild.commands.fleet",
        "fleet",
        "See and command the hubs on one MQTT broker (status, apply, log).",
    ),
    "commission": (
        "smartbuild.commands.commission",
        "commission",
        "Check the site point by point against its inventory and write a commissioning report.",
    ),
    "report": (
        "smartbuild.commands.report",
        "report",
        "Render the report of a commission run again from the journal (HTML, or JSON with --json).",
    ),
    "doctor": (
        "smartbuild.commands.doctor",
        "doctor",
        "Check Python, the journal, the site's files, the clock and what each protocol needs.",
    ),
    "export": (
        "smartbuild.commands.export",
        "export",
        "Export the site's points as a CSV schedule, Brick TTL or Project Haystack JSON.",
    ),
    "schema": ("smartbuild.commands.schema", "schema", "Print the JSON Schema of a file format."),
    "completion": (
        "smartbuild.commands.completion",
        "completion",
        "Print a shell completion script.",
    ),
}


def default_home() -> str:
    """Return the per-user state directory for the journal."""
    env = os.environ.get("SMARTBUILD_HOME")
    if env:
        return env
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "smartbuild")


class App:
    """The CLI face of one invocation: output, options and the session the command drives.

    A plain class rather than a dataclass: `--help` must not pay for importing dataclasses.
    """

    def __init__(
        self,
        site_path: str | os.PathLike[str],
        site_explicit: bool,
        home: str | os.PathLike[str],
        output: Output,
        traceback: bool = False,
    ) -> None:
        from pathlib import Path

        self.site_path = Path(site_path)
        self.site_explicit = site_explicit
        self.home = Path(home)
        self.output = output
        self.traceback = traceback
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        """Return the application session (site, registry, journal, transports)."""
        if self._session is None:
            from smartbuild.services.session import Session

            self._session = Session(self.site_path, self.home, warn=self.output.warn)
        return self._session

    @property
    def pm(self) -> SmartbuildPluginManager:
        """Return the plugin manager of the session."""
        return self.session.pm

    @property
    def registry(self) -> Registry:
        """Return the registry of the session."""
        return self.session.registry

    def site(self) -> LoadedSite:
        """Return the validated site file."""
        return self.session.site()

    def run(self, work: Callable[[Session], Awaitable[T]]) -> T:
        """Run async work on the session in a fresh event loop, closing its transports after."""
        from smartbuild.aio import run_sync

        session = self.session

        async def go() -> T:
            try:
                return await work(session)
            finally:
                await session.aclose()

        return run_sync(go())

    def confirm(self, yes: bool) -> Callable[[str], bool]:
        """Return the confirmation the session asks: --yes, a prompt on a terminal, else refuse."""

        def ask(question: str) -> bool:
            if yes:
                return True
            if not self.output.interactive:
                from smartbuild.errors import SafetyRefusal

                raise SafetyRefusal(
                    "refusing to write without confirmation: there is no terminal to ask on",
                    hint="review the plan, then pass --yes to write",
                )
            try:
                return bool(click.confirm(question, default=False, err=True))
            except click.Abort:  # Ctrl-C or end of input at the prompt
                raise KeyboardInterrupt from None

        return ask


def get_app() -> App:
    """Return the App of the running command."""
    ctx = click.get_current_context()
    app = ctx.find_object(App)
    if app is None:  # a command invoked outside the root group (tests)
        from smartbuild.console import Output

        app = App("site.yaml", False, default_home(), Output())
        ctx.obj = app
    return app


class LazyGroup(click.Group):
    """A group whose commands are imported only when they run."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self._plugin_commands: dict[str, click.Command] | None = None

    def _plugin_help(self) -> dict[str, str]:
        """Return plugin command names and help, from the index cache when it is fresh."""
        if self._plugin_commands is not None:
            return {n: c.get_short_help_str(limit=80) for n, c in self._plugin_commands.items()}
        from smartbuild.plugin_index import cached_plugin_commands

        index = cached_plugin_commands(default_home())
        if index is not None:
            return {n: h for n, h in index.items() if n not in self.lazy}
        return {n: c.get_short_help_str(limit=80) for n, c in self._plugins().items()}

    def _plugins(self) -> dict[str, click.Command]:
        if self._plugin_commands is None:
            from smartbuild.plugin_index import store_plugin_commands
            from smartbuild.services.plugins import get_plugin_manager

            collector = click.Group()
            from smartbuild.console import Output

            get_plugin_manager(warn=Output().warn).hook.register_commands(cli=collector)
            self._plugin_commands = {
                name: cmd for name, cmd in collector.commands.items() if name not in self.lazy
            }
            store_plugin_commands(
                default_home(),
                {n: c.get_short_help_str(limit=80) for n, c in self._plugin_commands.items()},
            )
        return self._plugin_commands

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Parse the root's options, including global ones typed after the command name."""
        args = hoist_global_options(self, ctx, args)
        ctx.meta[JSON_REQUESTED] = "--json" in args  # for --version, an eager option
        return super().parse_args(ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the command; for a misspelled name, say which one was probably meant."""
        name = args[0] if args else ""
        known = not name or name.startswith("-") or self.get_command(ctx, name) is not None
        if not known and not ctx.resilient_parsing:
            from smartbuild.suggest import did_you_mean

            ctx.fail(f"No such command {name!r}.{did_you_mean(name, self.list_commands(ctx))}")
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return builtin and plugin command names, sorted."""
        return sorted({*self.lazy, *self.commands, *self._plugin_help()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return a command by name."""
        if cmd_name in self.lazy:
            import importlib

            module, attr, _ = self.lazy[cmd_name]
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return self._plugins().get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; turn domain errors into a message and an exit status (the boundary)."""
        try:
            return self._invoke(ctx)
        finally:
            app = ctx.find_object(App)
            if app is not None and app._session is not None:
                app._session.close()  # the journal: nothing stays open between commands

    def _invoke(self, ctx: click.Context) -> Any:
        """Run the command inside the error boundary."""
        from smartbuild.errors import ExitStatus, SmartbuildError

        try:
            return super().invoke(ctx)
        except click.ClickException as error:  # bad arguments of a command: click prints usage
            _click_error_json(_app_output(ctx), error)
            raise
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except SmartbuildError as error:
            app = ctx.find_object(App)
            if app is None:
                raise
            if app.traceback:  # the traceback for developers, the same exit status for scripts
                import traceback

                traceback.print_exc()
            _report(error, app.output)
            ctx.exit(int(error.exit_status))
        except KeyboardInterrupt:
            _interrupted(ctx)
            ctx.exit(int(ExitStatus.INTERRUPTED))
        except BrokenPipeError:
            _stdout_closed()  # not an internal error: the reader of stdout went away
        except Exception as error:
            app = ctx.find_object(App)
            if app is None or app.traceback or os.environ.get("SMARTBUILD_TRACEBACK"):
                raise
            if app.output.json_mode:
                message = f"internal error: {type(error).__name__}: {error}"
                app.output.emit_json(_error_json("InternalError", message, ExitStatus.ERROR))
            app.output.error(
                f"internal error: {type(error).__name__}: {error}",
                "this is a bug in smartbuild or a plugin; run again with --traceback and report it",
            )
            ctx.exit(int(ExitStatus.ERROR))

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """Parse the global options; with --json, a bad one is reported as JSON too."""
        wants_json = "--json" in args  # before parsing: click consumes the list
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.ClickException as error:
            if wants_json:
                from smartbuild.console import Output

                _click_error_json(Output(json_mode=True), error)
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with their help without importing command modules or plugins."""
        rows = [(name, help_) for name, (_, _, help_) in self.lazy.items()]
        rows += [(n, c.get_short_help_str(limit=80)) for n, c in self.commands.items()]
        rows += list(self._plugin_help().items())
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


def _interrupted(ctx: click.Context) -> None:
    """Say what an interrupted run changed and how to undo it (one JSON document, or none)."""
    from smartbuild.errors import ExitStatus

    output = _app_output(ctx)
    app = ctx.find_object(App)
    summary = app._session.interrupted_summary() if app and app._session else None
    if output.json_mode and not output.streamed:  # JSON Lines stay clean: nothing after them
        data = _error_json("Interrupted", "interrupted", ExitStatus.INTERRUPTED)
        output.emit_json({**data, **(summary or {})})
    if summary is None:
        output.error("interrupted")
        return
    output.error(
        f"interrupted during run {summary['run']}: {len(summary['written'])} written, "
        f"{len(summary['unknown'])} unknown (may or may not hold the new value)"
    )
    from smartbuild.console import escape

    for point in summary["written"]:
        output.err.print(f"  written: {escape(point)}", highlight=False)
    for point in summary["unknown"]:
        output.err.print(f"  unknown: {escape(point)}", highlight=False)
    if summary["rollback"]:
        output.err.print(f"undo it with: {summary['rollback']}", highlight=False)


JSON_REQUESTED = "smartbuild.json_requested"
# Root options people also type after the command (`smartbuild read DEV --json`).
GLOBAL_FLAGS = frozenset(
    {"--json", "--no-color", "-v", "--verbose", "-q", "--quiet", "--traceback"}
)
GLOBAL_WITH_VALUE = frozenset({"--site", "--home"})


def hoist_global_options(root: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """Return args with global options typed after a (sub)command moved before its name.

    The command's own options win over a global of the same name, the values of its options stay
    with them, and nothing after `--` moves. An unknown command leaves args as they are.
    """
    before: list[str] = []  # the root's own tokens, then the hoisted ones
    after: list[str] = []  # the command name(s) and their arguments
    command: click.Command = root
    tokens = iter(args)
    for token in tokens:
        at_root = command is root
        target = before if at_root else after
        if token == "--":
            target += [token, *tokens]
            break
        takes_value = _option_takes_value(command, token)
        hoisted = takes_value is None and not at_root and _is_global_option(token)
        if hoisted:
            target, takes_value = before, token.split("=", 1)[0] in GLOBAL_WITH_VALUE
        if takes_value is not None or token.startswith("-"):
            target.append(token)
            if takes_value and "=" not in token:
                value = next(tokens, None)
                if value is None and hoisted and not ctx.resilient_parsing:
                    # at the root click would take the command name for the value
                    raise click.UsageError(f"Option '{token}' requires an argument.", ctx)
                target += [] if value is None else [value]
            continue
        after.append(token)
        if isinstance(command, click.Group):
            sub = command.get_command(ctx, token)
            if sub is None:  # unknown: click reports it, with nothing moved
                return args
            command = sub
    return before + after


def _option_takes_value(command: click.Command, token: str) -> bool | None:
    """Return whether token is an option of command that takes a value (None: not its option)."""
    if not token.startswith("-"):
        return None
    name = token.split("=", 1)[0]
    for param in command.params:
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return not (param.is_flag or param.count)
    return None


def _is_global_option(token: str) -> bool:
    name = token.split("=", 1)[0]
    if name in GLOBAL_FLAGS or name in GLOBAL_WITH_VALUE:
        return True
    # a cluster of global short flags: -vv, -vq
    return len(token) > 2 and token[0] == "-" and token[1] != "-" and set(token[1:]) <= {"v", "q"}


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """Print the version (as JSON with --json anywhere on the line) and exit."""
    if not value or ctx.resilient_parsing:
        return
    if ctx.meta.get(JSON_REQUESTED):
        import json

        click.echo(json.dumps({"name": "smartbuild", "version": __version__}))
    else:
        click.echo(f"smartbuild, version {__version__}")
    ctx.exit()


def _error_json(kind: str, message: str, status: int) -> dict[str, object]:
    return {"error": kind, "message": message, "exit_status": int(status)}


def _click_error_json(output: Output, error: click.ClickException) -> None:
    """Print a click usage error as the one JSON document of a --json run (stderr gets usage)."""
    if output.json_mode:
        kind = "UsageError" if isinstance(error, click.UsageError) else "Error"
        output.emit_json(_error_json(kind, error.format_message(), error.exit_code))


def _app_output(ctx: click.Context) -> Output:
    from smartbuild.console import Output

    app = ctx.find_object(App)
    # an unknown command fails before the root callback built the App: the parsed flag still counts
    return app.output if app is not None else Output(json_mode=bool(ctx.params.get("json_mode")))


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--site",
    "site",
    type=click.Path(dir_okay=False),
    envvar="SMARTBUILD_SITE",
    help="Site file (default ./site.yaml, or $SMARTBUILD_SITE).",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="SMARTBUILD_HOME",
    help="Directory for the journal and state (default per-user state dir, or $SMARTBUILD_HOME).",
)
@click.option("--json", "json_mode", is_flag=True, help="Print one JSON document on stdout.")
@click.option("--no-color", is_flag=True, help="Disable colour (NO_COLOR is honoured too).")
@click.option("-v", "--verbose", count=True, help="Say more on stderr (repeatable).")
@click.option("-q", "--quiet", is_flag=True, help="Say less: only warnings and errors.")
@click.option("--traceback", is_flag=True, help="Show Python tracebacks on errors.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    site: str | None,
    home: str | None,
    json_mode: bool,
    no_color: bool,
    verbose: int,
    quiet: bool,
    traceback: bool,
) -> None:
    """Discover, inventory and safely configure building devices (Modbus, BLE, mDNS).

    Every write is planned, confirmed, read back and journaled, and any run can be rolled back.
    The options below also work after the command: `smartbuild read DEVICE --json`.
    """
    from smartbuild.console import Output

    if verbose > 1:  # -vv: let protocol libraries' own logs (pymodbus frames, retries) through
        os.environ["SMARTBUILD_VERBOSE"] = str(verbose)
    output = Output(
        json_mode=json_mode,
        color=False if no_color else None,
        verbosity=-1 if quiet else verbose,
    )
    ctx.obj = App(
        site_path=site or "site.yaml",
        site_explicit=site is not None,
        home=home or default_home(),
        output=output,
        traceback=traceback,
    )


def _report(error: Any, output: Output) -> None:
    if output.json_mode:
        output.emit_json(error.to_json())
    lines = error.lines()
    output.error(lines[0], None if len(lines) > 1 else error.hint)
    for line in lines[1:]:
        output.error(line)
    if len(lines) > 1 and error.hint:
        output.error(f"{len(lines)} problems", error.hint)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI (the console-script entry point)."""
    try:
        cli.main(args=None if argv is None else list(argv), prog_name="smartbuild")
    except BrokenPipeError:
        _stdout_closed()


def _stdout_closed() -> None:
    """The reader went away (`smartbuild log --jsonl | head`): stop quietly, as other tools do."""
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail again
    sys.exit(0)
