"""The restart policy, exhaustively: it is a pure function, so every rule is checked directly."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.facts import HEALTH_STATUSES, STATES, ContainerFacts
from fleet.selector import LabelSelector
from healer.model import Alert, IncidentStatus, Mode
from healer.policy import Advice, History, PolicySettings, decide

SETTINGS = PolicySettings(
    mode=Mode.HEAL,
    selector=LabelSelector.parse("environment=production"),
    protected_label="itops.component",
    protected_containers=frozenset({"healer"}),
    max_restart_attempts=3,
    crashloop_restarts=5,
    llm_can_veto=False,
)
FRESH = History(restarts_in_window=0, attempts_this_incident=0, quarantined=False)


def facts(**overrides: object) -> ContainerFacts:
    base = ContainerFacts(
        id="abc123def4567890",
        name="prod-web-01",
        image="nginx",
        labels={"environment": "production"},
        state="exited",
        exit_code=0,
        oom_killed=False,
        error="",
        started_at=100.0,
        finished_at=200.0,
        restart_count=0,
        health_status="none",
        failing_streak=0,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def alert(alertname: str = "ContainerDown", **labels: str) -> Alert:
    return Alert(
        fingerprint="f1",
        status="firing",
        labels={"alertname": alertname, "container": "prod-web-01", "action": "restart", **labels},
        annotations={},
        starts_at=210.0,
    )


def test_a_stopped_managed_container_in_heal_mode_is_restarted() -> None:
    decision = decide(alert(), facts(), FRESH, SETTINGS)
    assert decision.restart
    assert "attempt 1 of 3" in decision.reason


def test_a_running_but_unhealthy_container_is_restarted() -> None:
    live = facts(state="running", health_status="unhealthy")
    assert decide(alert("ContainerUnhealthy"), live, FRESH, SETTINGS).restart


def test_a_container_that_no_longer_exists_is_skipped() -> None:
    decision = decide(alert(), None, FRESH, SETTINGS)
    assert not decision.restart
    assert decision.status is IncidentStatus.SKIPPED


def test_alert_labels_never_authorise_an_unmanaged_container() -> None:
    spoofed = alert(environment="production", managed_value="production")
    for labels in ({}, {"environment": "staging"}, {"env": "production"}):
        decision = decide(spoofed, facts(labels=labels), FRESH, SETTINGS)
        assert not decision.restart
        assert "managed label" in decision.reason


def test_the_healers_own_stack_is_never_restarted() -> None:
    own_label = facts(labels={"environment": "production", "itops.component": "healer"})
    own_name = facts(name="healer")
    for live in (own_label, own_name):
        assert not decide(alert(), live, FRESH, SETTINGS).restart


def test_an_alert_about_a_replaced_container_does_not_restart_the_new_one() -> None:
    decision = decide(alert(container_id="ffff00000000"), facts(), FRESH, SETTINGS)
    assert not decision.restart
    assert "replaced" in decision.reason
    assert decide(alert(container_id="abc123def456"), facts(), FRESH, SETTINGS).restart


def test_check_mode_never_restarts_and_keeps_the_incident_open() -> None:
    decision = decide(alert(), facts(), FRESH, replace(SETTINGS, mode=Mode.CHECK))
    assert not decision.restart
    assert decision.status is IncidentStatus.OPEN
    assert decision.notify


def test_a_container_label_can_narrow_the_healer_to_check_or_off() -> None:
    check = facts(labels={"environment": "production", "healer.mode": "check"})
    off = facts(labels={"environment": "production", "healer.mode": "off"})
    assert decide(alert(), check, FRESH, SETTINGS).status is IncidentStatus.OPEN
    off_decision = decide(alert(), off, FRESH, SETTINGS)
    assert not off_decision.restart
    assert not off_decision.notify


def test_only_alerts_with_action_restart_are_healed() -> None:
    high_memory = Alert("f", "firing", {"alertname": "ContainerHighMemory"}, {}, 0.0)
    decision = decide(high_memory, facts(state="running"), FRESH, SETTINGS)
    assert not decision.restart
    assert decision.status is IncidentStatus.OPEN


@pytest.mark.parametrize("state", ["paused", "removing", "dead"])
def test_paused_or_removing_containers_are_left_alone(state: str) -> None:
    assert not decide(alert(), facts(state=state), FRESH, SETTINGS).restart


def test_a_container_that_recovered_before_the_healer_acted_is_skipped() -> None:
    recovered = facts(state="running", started_at=220.0)
    decision = decide(alert(), recovered, FRESH, SETTINGS)
    assert not decision.restart
    assert decision.status is IncidentStatus.SKIPPED


def test_the_attempt_budget_ends_in_failed() -> None:
    spent = replace(FRESH, attempts_this_incident=3, restarts_in_window=3)
    decision = decide(alert(), facts(), spent, SETTINGS)
    assert not decision.restart
    assert decision.status is IncidentStatus.FAILED


def test_a_container_back_after_a_restart_is_healed() -> None:
    after = replace(FRESH, attempts_this_incident=1, restarts_in_window=1)
    decision = decide(alert(), facts(state="running"), after, SETTINGS)
    assert decision.status is IncidentStatus.HEALED


def test_too_many_restarts_in_the_window_quarantine_the_container() -> None:
    looping = replace(FRESH, restarts_in_window=5)
    decision = decide(alert(), facts(), looping, SETTINGS)
    assert not decision.restart
    assert decision.quarantine
    assert decision.status is IncidentStatus.QUARANTINED


def test_a_crash_looping_alert_quarantines_and_escalates_without_restart() -> None:
    decision = decide(alert("ContainerCrashLooping", action=""), facts(), FRESH, SETTINGS)
    assert decision.quarantine
    assert decision.notify
    assert not decision.restart


def test_a_quarantined_container_is_not_restarted_and_not_escalated_again() -> None:
    decision = decide(alert(), facts(), replace(FRESH, quarantined=True), SETTINGS)
    assert not decision.restart
    assert not decision.notify


def test_a_rules_diagnosis_that_restart_will_not_help_holds_the_restart() -> None:
    decision = decide(alert(), facts(), FRESH, SETTINGS, Advice(rules_restart_safe=False))
    assert not decision.restart
    assert decision.status is IncidentStatus.OPEN


def test_the_llm_can_withhold_a_restart_only_when_allowed_to_veto() -> None:
    llm_says_no = Advice(rules_restart_safe=True, llm_restart_safe=False)
    assert decide(alert(), facts(), FRESH, SETTINGS, llm_says_no).restart
    vetoing = replace(SETTINGS, llm_can_veto=True)
    assert not decide(alert(), facts(), FRESH, vetoing, llm_says_no).restart


def test_the_llm_can_never_cause_a_restart_the_rules_withhold() -> None:
    llm_says_yes = Advice(rules_restart_safe=False, llm_restart_safe=True)
    for veto in (True, False):
        settings = replace(SETTINGS, llm_can_veto=veto)
        assert not decide(alert(), facts(), FRESH, settings, llm_says_yes).restart


def test_an_alert_whose_container_label_does_not_match_the_live_container_is_refused() -> None:
    other = alert(container="prod-web-02")  # but its id resolved to prod-web-01
    decision = decide(other, facts(), FRESH, SETTINGS)
    assert not decision.restart
    assert decision.status is IncidentStatus.SKIPPED
    assert "names 'prod-web-02'" in decision.reason and "'prod-web-01'" in decision.reason


def test_a_new_alert_after_a_failed_incident_in_the_window_is_quarantined_not_restarted() -> None:
    after_failure = replace(FRESH, failed_at=150.0)
    decision = decide(alert(), facts(), after_failure, SETTINGS)
    assert not decision.restart
    assert decision.quarantine
    assert "previous incident ended failed" in decision.reason


def test_a_container_running_again_after_a_failed_incident_is_not_quarantined() -> None:
    after_failure = replace(FRESH, failed_at=150.0)
    decision = decide(alert(), facts(state="running"), after_failure, SETTINGS)
    assert not decision.quarantine and not decision.restart


# -- properties over the whole input space ------------------------------------------------

label_sets = st.sampled_from(
    [
        {},
        {"environment": "production"},
        {"environment": "staging"},
        {"environment": "production", "healer.mode": "check"},
        {"environment": "production", "healer.mode": "off"},
        {"environment": "production", "itops.component": "x"},
    ]
)
inputs = st.fixed_dictionaries(
    {
        "alertname": st.sampled_from(
            [
                "ContainerDown",
                "ContainerUnhealthy",
                "ContainerOOMKilled",
                "ContainerCrashLooping",
                "ContainerHighMemory",
            ]
        ),
        "action": st.sampled_from(["restart", "", "page"]),
        "state": st.sampled_from(STATES),
        "health": st.sampled_from(HEALTH_STATUSES),
        "labels": label_sets,
        "exists": st.booleans(),
        "attempts": st.integers(0, 6),
        "window": st.integers(0, 8),
        "quarantined": st.booleans(),
        "mode": st.sampled_from(list(Mode)),
        "veto": st.booleans(),
        "rules_safe": st.booleans(),
        "llm_safe": st.sampled_from([None, True, False]),
        "named": st.sampled_from(["prod-web-01", "prod-web-02"]),
        "failed_recently": st.booleans(),
    }
)


def case_inputs(
    case: dict[str, object],
) -> tuple[Alert, ContainerFacts | None, History, PolicySettings, Advice]:
    """decide()'s inputs for one case of `inputs` (shared by the policy's other tests)."""
    live = (
        facts(state=case["state"], health_status=case["health"], labels=case["labels"])
        if case["exists"]
        else None
    )
    history = History(
        restarts_in_window=int(case["window"]),  # type: ignore[call-overload]
        attempts_this_incident=int(case["attempts"]),  # type: ignore[call-overload]
        quarantined=bool(case["quarantined"]),
        failed_at=150.0 if case["failed_recently"] else None,
    )
    settings = replace(SETTINGS, mode=Mode(str(case["mode"])), llm_can_veto=bool(case["veto"]))
    advice = Advice(bool(case["rules_safe"]), case["llm_safe"])  # type: ignore[arg-type]
    the_alert = alert(
        str(case["alertname"]), action=str(case["action"]), container=str(case["named"])
    )
    return the_alert, live, history, settings, advice


def run(case: dict[str, object]) -> tuple[bool, dict[str, object]]:
    return decide(*case_inputs(case)).restart, case


@given(inputs)
def test_property_never_restarts_a_container_the_alert_does_not_name(
    case: dict[str, object],
) -> None:
    restarted, _ = run(case)
    assert not restarted or case["named"] == "prod-web-01"


@given(inputs)
def test_property_never_gives_a_failed_episode_a_fresh_budget(case: dict[str, object]) -> None:
    restarted, _ = run(case)
    assert not (restarted and case["failed_recently"] and case["attempts"] == 0)


@given(inputs)
def test_property_never_restarts_what_is_not_managed_now(case: dict[str, object]) -> None:
    restarted, _ = run(case)
    labels = case["labels"]
    managed = case["exists"] and labels.get("environment") == "production"  # type: ignore[attr-defined]
    assert not restarted or managed


@given(inputs)
def test_property_never_restarts_in_check_mode(case: dict[str, object]) -> None:
    restarted, _ = run(case)
    assert not (restarted and case["mode"] is Mode.CHECK)


@given(inputs)
def test_property_never_exceeds_the_budget_or_the_breaker(case: dict[str, object]) -> None:
    restarted, _ = run(case)
    if restarted:
        assert int(case["attempts"]) < SETTINGS.max_restart_attempts  # type: ignore[call-overload]
        assert int(case["window"]) < SETTINGS.crashloop_restarts  # type: ignore[call-overload]
        assert not case["quarantined"]


@given(inputs)
def test_property_restarts_only_on_restart_alerts_with_safe_rules(case: dict[str, object]) -> None:
    restarted, _ = run(case)
    if restarted:
        assert case["action"] == "restart"
        assert case["rules_safe"]
        assert not (case["veto"] and case["llm_safe"] is False)


def test_every_combination_of_the_discrete_inputs_obeys_the_safety_rules() -> None:
    # Hypothesis samples; this walks the whole (small) discrete space once.
    count = 0
    for mode, labels, state, quarantined, attempts, window, action in itertools.product(
        list(Mode),
        [{}, {"environment": "production"}, {"environment": "production", "healer.mode": "off"}],
        STATES,
        (False, True),
        range(5),
        range(7),
        ("restart", ""),
    ):
        case = {
            "alertname": "ContainerDown",
            "action": action,
            "state": state,
            "health": "none",
            "labels": labels,
            "exists": True,
            "attempts": attempts,
            "window": window,
            "quarantined": quarantined,
            "mode": mode,
            "veto": False,
            "rules_safe": True,
            "llm_safe": None,
            "named": "prod-web-01",
            "failed_recently": False,
        }
        restarted, _ = run(case)
        count += 1
        if restarted:
            assert mode is Mode.HEAL
            assert labels.get("environment") == "production"
            assert labels.get("healer.mode") != "off"
            assert not quarantined
            assert attempts < 3
            assert window < 5
            assert action == "restart"
            assert state not in ("running", "paused", "removing", "dead")
    assert count == 2 * 3 * 7 * 2 * 5 * 7 * 2


def test_an_alert_without_a_container_is_notify_only() -> None:
    stack = Alert("f", "firing", {"alertname": "DockerDaemonUnreachable"}, {}, 0.0)
    decision = decide(stack, None, FRESH, SETTINGS)
    assert not decision.restart
    assert decision.status is IncidentStatus.OPEN
