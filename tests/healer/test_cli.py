"""The remaining CLI commands as a user runs them: ask, test-email, clear-quarantine, --config."""

from __future__ import annotations

from pathlib import Path

from healer.store import SqliteStore
from testbed.containers import ContainerFactory, wait_for_state
from tests.healer.conftest import run_cli


def test_ask_without_an_llm_answers_from_a_live_snapshot(
    tmp_path: Path, container_factory: ContainerFactory
) -> None:
    selector = f"itops.test.run={container_factory.run_id}"
    container_factory.run()
    down = container_factory.run(["sh", "-c", "exit 2"])
    wait_for_state(down, lambda a: a["State"]["Status"] == "exited")
    result = run_cli(tmp_path, "ask", "Which containers need attention?", MANAGED_LABEL=selector)
    assert result.returncode == 0, result.stderr
    assert down.name in result.stdout
    assert "answered by rules" in result.stdout


def test_test_email_without_credentials_writes_an_eml_file_and_says_where(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "test-email", EMAIL_FROM="", EMAIL_TO="")
    assert result.returncode == 0, result.stderr
    written = list((tmp_path / "data" / "outbox").glob("*.eml"))
    assert len(written) == 1
    assert str(written[0].name) in result.stdout


def test_clear_quarantine_lets_the_healer_restart_the_container_again(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data" / "healer.db")
    store.quarantine("prod-web-01", "crash loop", None, 1.0)
    store.close()
    cleared = run_cli(tmp_path, "clear-quarantine", "prod-web-01")
    assert cleared.returncode == 0, cleared.stderr
    assert "quarantine cleared" in cleared.stdout
    again = run_cli(tmp_path, "clear-quarantine", "prod-web-01")
    assert again.returncode == 1
    assert "not quarantined" in again.stdout


def test_a_yaml_config_file_sets_keys_and_the_environment_wins(tmp_path: Path) -> None:
    config = tmp_path / "healer.yml"
    config.write_text("HEALER_MODE: heal\nMAX_RESTART_ATTEMPTS: nope\n")
    bad = run_cli(tmp_path, "--config", str(config), "status")
    assert bad.returncode == 2
    assert "MAX_RESTART_ATTEMPTS" in bad.stderr
    overridden = run_cli(tmp_path, "--config", str(config), "status", MAX_RESTART_ATTEMPTS="2")
    assert "configuration error" not in overridden.stderr
    config.write_text("NOT_A_SETTING: 1\n")
    unknown = run_cli(tmp_path, "--config", str(config), "status")
    assert unknown.returncode == 2
    assert "NOT_A_SETTING" in unknown.stderr
