"""The whole chain on loopback, as tests, benchmarks and the demo run it.

Real processes throughout: the exporter (`python -m exporter`), the healer
under waitress, Prometheus and Alertmanager with the project's own rules and
routing (rewritten to loopback by testbed/promstack.py), all on free
ports and stopped on exit:

    with running_chain(tmp_path, managed_label="itops.e2e=abc", profile=FAST,
                       healer_settings={"HEALER_MODE": "heal"}) as chain:
        chain.stack.query(...); requests.get(chain.healer.url + "/api/incidents")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testbed.healer_proc import TOKEN, healer_env, start_healer
from testbed.processes import Service, free_port, python_module, start_service
from testbed.promstack import FAST, Profile, PromStack, prom_stack


@dataclass
class Chain:
    exporter: Service
    healer: Service
    stack: PromStack
    workdir: Path
    healer_settings: dict[str, str] = field(default_factory=dict)

    @property
    def metrics_url(self) -> str:
        return f"{self.exporter.url}/metrics"

    def restart_healer(self, **changes: str) -> Service:
        """Stop the healer and start it again on the same port (Alertmanager's target),
        with the same data directory and `changes` applied to its settings."""
        self.healer.stop()
        self.healer_settings.update(changes)
        self.healer = start_healer(
            self.healer_settings, self.workdir, name="healer-restarted", port=self.healer.port
        )
        return self.healer

    def logs(self) -> str:
        return (
            f"--- healer ---\n{self.healer.log()[-3000:]}\n"
            f"--- exporter ---\n{self.exporter.log()[-1500:]}\n{self.stack.logs()}"
        )


@contextlib.contextmanager
def running_chain(
    workdir: Path,
    *,
    managed_label: str,
    profile: Profile = FAST,
    healer_settings: Mapping[str, str] | None = None,
    exporter_args: tuple[str, ...] = ("--stats-interval", "1"),
) -> Iterator[Chain]:
    """Start exporter, healer, Alertmanager and Prometheus; wait until both targets are up."""
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stop:
        exporter_port = free_port()
        exporter = start_service(
            "exporter",
            python_module(
                "exporter",
                "--listen",
                f"127.0.0.1:{exporter_port}",
                "--managed-label",
                managed_label,
                *exporter_args,
            ),
            port=exporter_port,
            log_dir=workdir,
            ready_url=f"http://127.0.0.1:{exporter_port}/healthz",
        )
        stop.callback(exporter.stop)
        settings = healer_env(
            workdir / "data", MANAGED_LABEL=managed_label, **dict(healer_settings or {})
        )
        chain_box: list[Chain] = []
        healer = start_healer(settings, workdir)
        # The chain may restart the healer: stop whichever one runs at the end.
        stop.callback(lambda: (chain_box[0].healer if chain_box else healer).stop())
        token_file = workdir / "webhook_token"
        token_file.write_text(TOKEN + "\n")
        (workdir / "prom").mkdir(exist_ok=True)
        stack = stop.enter_context(
            prom_stack(
                workdir / "prom",
                targets={
                    "exporter": f"127.0.0.1:{exporter_port}",
                    "healer": f"127.0.0.1:{healer.port}",
                },
                webhook_url=f"{healer.url}/webhook/alertmanager",
                token_file=token_file,
                profile=profile,
            )
        )
        stack.wait_for_targets(["exporter", "healer"], timeout=60)
        chain = Chain(exporter, healer, stack, workdir, settings)
        chain_box.append(chain)
        yield chain


__all__ = ["FAST", "Chain", "running_chain"]
