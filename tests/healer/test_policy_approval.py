"""A person's approval in the pure policy: it lifts check mode and the diagnosis' hold,
and nothing else — checked one rule at a time, over sampled inputs, and over the whole
discrete input space. (With dependencies and memory, it also lifts the recurrence hold:
tests/healer/test_policy_surroundings.py.)"""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given

from fleet.facts import STATES
from healer.model import Decision, IncidentStatus, Mode
from healer.policy import Advice, decide
from tests.healer.test_policy import FRESH, SETTINGS, alert, case_inputs, facts, inputs

CHECK = replace(SETTINGS, mode=Mode.CHECK)
WONT_HELP = Advice(rules_restart_safe=False)


def both(case: dict[str, object]) -> tuple[Decision, Decision]:
    """(without, with) an approval, for one case of tests/healer/test_policy.py's inputs."""
    the_alert, live, history, settings, advice = case_inputs(case)
    return (
        decide(the_alert, live, history, settings, advice),
        decide(the_alert, live, history, settings, advice, approved=True),
    )


def may_restart_but_for_mode_and_advice(case: dict[str, object]) -> bool:
    """Every rule an approval leaves standing, written out on its own (not via decide)."""
    labels: dict[str, str] = case["labels"]  # type: ignore[assignment]
    state = str(case["state"])
    needs_attention = state != "running" or case["health"] == "unhealthy"
    return (
        bool(case["exists"])
        and case["named"] == "prod-web-01"
        and labels.get("environment") == "production"
        and "itops.component" not in labels
        and labels.get("healer.mode") not in ("off", "check")
        and state not in ("paused", "removing", "dead")
        and not case["quarantined"]
        and case["alertname"] != "ContainerCrashLooping"
        and not (case["failed_recently"] and case["attempts"] == 0 and needs_attention)
        and int(case["window"]) < SETTINGS.crashloop_restarts  # type: ignore[call-overload]
        and case["action"] == "restart"
        and needs_attention
        and int(case["attempts"]) < SETTINGS.max_restart_attempts  # type: ignore[call-overload]
    )


def lifted_by_approval(decision: Decision) -> bool:
    """The two holds an approval may lift, as the policy words them."""
    return decision.status is IncidentStatus.OPEN and decision.reason.startswith(
        ("check mode (HEALER_MODE=check)", "the diagnosis says", "restart withheld: the LLM")
    )


# -- one rule at a time ----------------------------------------------------------------


def test_an_approval_lifts_check_mode() -> None:
    assert not decide(alert(), facts(), FRESH, CHECK).restart
    approved = decide(alert(), facts(), FRESH, CHECK, approved=True)
    assert approved.restart
    assert approved.reason.startswith("approved restart: ")


def test_an_approval_lifts_the_rules_and_the_models_restart_will_not_help() -> None:
    vetoing = replace(SETTINGS, llm_can_veto=True)
    for advice in (WONT_HELP, Advice(rules_restart_safe=True, llm_restart_safe=False)):
        assert not decide(alert(), facts(), FRESH, vetoing, advice).restart
        assert decide(alert(), facts(), FRESH, vetoing, advice, approved=True).restart


def test_an_approval_never_lifts_the_managed_label_identity_or_protection() -> None:
    cases = [
        facts(labels={}),  # not managed now
        facts(labels={"environment": "staging"}),
        facts(labels={"environment": "production", "itops.component": "healer"}),
        facts(name="healer"),  # protected by name (and not the container the alert names)
        facts(id="ffff00000000aaaa"),  # replaced: the alert names another id
        None,  # gone
    ]
    for live in cases:
        decision = decide(alert(container_id="abc123def456"), live, FRESH, CHECK, approved=True)
        assert not decision.restart, live
        assert decision.notify  # the person is told why
        if live is not None:
            assert "an approval does not lift this" in decision.reason


def test_an_approval_never_lifts_quarantine_the_breaker_or_the_budget() -> None:
    for history in (
        replace(FRESH, quarantined=True),
        replace(FRESH, restarts_in_window=5),
        replace(FRESH, attempts_this_incident=3),
        replace(FRESH, failed_at=150.0),
    ):
        decision = decide(alert(), facts(), history, CHECK, WONT_HELP, approved=True)
        assert not decision.restart, history
        assert decision.notify, history  # even a quarantine the policy would not escalate


def test_an_approval_never_lifts_a_containers_own_label_or_a_notify_only_alert() -> None:
    check_label = facts(labels={"environment": "production", "healer.mode": "check"})
    assert not decide(alert(), check_label, FRESH, SETTINGS, approved=True).restart
    high_memory = alert("ContainerHighMemory", action="")
    assert not decide(high_memory, facts(), FRESH, CHECK, approved=True).restart


def test_an_approval_restarts_nothing_that_already_recovered() -> None:
    decision = decide(alert(), facts(state="running"), FRESH, CHECK, approved=True)
    assert not decision.restart
    assert decision.status is IncidentStatus.SKIPPED


def test_a_container_back_after_an_approved_restart_reads_healed_without_a_caveat() -> None:
    after = replace(FRESH, attempts_this_incident=1, restarts_in_window=1)
    decision = decide(alert(), facts(state="running"), after, CHECK, approved=True)
    assert decision.status is IncidentStatus.HEALED
    assert "approval" not in decision.reason


# -- properties over sampled inputs ---------------------------------------------------


@given(inputs)
def test_property_an_approval_is_heal_mode_without_the_advice_hold_and_nothing_more(
    case: dict[str, object],
) -> None:
    _, approved = both(case)
    assert approved.restart == may_restart_but_for_mode_and_advice(case)


@given(inputs)
def test_property_an_approval_turns_only_a_check_mode_or_advice_hold_into_a_restart(
    case: dict[str, object],
) -> None:
    plain, approved = both(case)
    if approved.restart and not plain.restart:
        assert lifted_by_approval(plain), plain.reason
    if plain.restart:  # it never withholds what the healer would do anyway
        assert approved.restart


@given(inputs)
def test_property_an_approval_changes_nothing_in_heal_mode_with_safe_advice(
    case: dict[str, object],
) -> None:
    plain, approved = both(case)
    vetoed = case["veto"] and case["llm_safe"] is False
    if case["mode"] is Mode.HEAL and case["rules_safe"] and not vetoed:
        assert (approved.restart, approved.status, approved.quarantine) == (
            plain.restart,
            plain.status,
            plain.quarantine,
        )


@given(inputs)
def test_property_an_approval_is_always_answered(case: dict[str, object]) -> None:
    _, approved = both(case)
    assert approved.notify


def test_every_combination_of_the_discrete_inputs_lifts_only_check_mode_and_advice() -> None:
    # Hypothesis samples; this walks the whole discrete space of the rules an approval
    # touches, with every other rule both passing and failing.
    count = 0
    for (
        mode,
        labels,
        state,
        quarantined,
        attempts,
        window,
        action,
        rules_safe,
        llm_safe,
        veto,
        failed_recently,
        named,
    ) in itertools.product(
        list(Mode),
        [
            {},
            {"environment": "production"},
            {"environment": "production", "healer.mode": "off"},
            {"environment": "production", "healer.mode": "check"},
            {"environment": "production", "itops.component": "x"},
        ],
        STATES,
        (False, True),
        range(4),
        (0, 4, 5),
        ("restart", ""),
        (True, False),
        (None, True, False),
        (False, True),
        (False, True),
        ("prod-web-01", "prod-web-02"),
    ):
        case: dict[str, object] = {
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
            "veto": veto,
            "rules_safe": rules_safe,
            "llm_safe": llm_safe,
            "named": named,
            "failed_recently": failed_recently,
        }
        plain, approved = both(case)
        count += 1
        assert approved.restart == may_restart_but_for_mode_and_advice(case), case
        if approved.restart and not plain.restart:
            assert lifted_by_approval(plain), (case, plain.reason)
        assert not plain.restart or approved.restart
    assert count == 2 * 5 * len(STATES) * 2 * 4 * 3 * 2 * 2 * 3 * 2 * 2 * 2
