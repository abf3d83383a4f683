"""The policy's new inputs, dependencies and incident memory, can only hold a restart
back: over the whole input space of tests/healer/test_policy.py, adding them never turns
a refusal into a restart, and whatever they change becomes a hold for a human."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from healer.model import IncidentStatus
from healer.policy import Advice, Surroundings, decide
from tests.healer.test_policy import FRESH, SETTINGS, alert, case_inputs, facts, inputs

surroundings = st.builds(
    Surroundings,
    provider_down=st.sampled_from(["", "prod-db-01"]),
    recurring=st.sampled_from(["", "seen 3 times before in 7 days"]),
)


def decisions(
    case: dict[str, object], around: Surroundings, hold: bool, *, approved: bool = False
) -> tuple[object, ...]:
    """(without, with) the surroundings, both approved by a person when `approved`."""
    the_alert, live, history, settings, advice = case_inputs(case)
    settings = replace(settings, recurrence_hold=hold)
    without = decide(the_alert, live, history, settings, advice, Surroundings(), approved=approved)
    with_them = decide(the_alert, live, history, settings, advice, around, approved=approved)
    return without, with_them


@given(inputs, surroundings, st.booleans())
def test_property_dependencies_and_memory_never_add_a_restart(
    case: dict[str, object], around: Surroundings, hold: bool
) -> None:
    without, with_them = decisions(case, around, hold)
    assert not (with_them.restart and not without.restart)  # type: ignore[attr-defined]


@given(inputs, surroundings, st.booleans())
def test_property_what_they_change_is_only_a_restart_held_for_a_human(
    case: dict[str, object], around: Surroundings, hold: bool
) -> None:
    without, with_them = decisions(case, around, hold)
    if with_them != without:
        assert without.restart  # type: ignore[attr-defined]
        assert not with_them.restart  # type: ignore[attr-defined]
        assert with_them.status is IncidentStatus.OPEN  # type: ignore[attr-defined]
        assert not with_them.quarantine  # type: ignore[attr-defined]


def test_a_dependent_is_held_while_its_provider_is_down() -> None:
    decision = decide(alert(), facts(), FRESH, SETTINGS, Advice(), Surroundings("prod-db-01"))
    assert not decision.restart and decision.status is IncidentStatus.OPEN
    assert "prod-db-01, which prod-web-01 depends on, is not healthy" in decision.reason


def test_a_recurring_failure_is_restarted_unless_the_recurrence_hold_is_on() -> None:
    recurring = Surroundings(recurring="seen 4 times before in 7 days")
    assert decide(alert(), facts(), FRESH, SETTINGS, Advice(), recurring).restart
    holding = replace(SETTINGS, recurrence_hold=True)
    decision = decide(alert(), facts(), FRESH, holding, Advice(), recurring)
    assert not decision.restart and decision.status is IncidentStatus.OPEN
    assert "a restart only hides it" in decision.reason


# -- with a person's approval (healer/approvals.py) -------------------------------------


def test_an_approval_lifts_the_recurrence_hold_the_person_was_shown() -> None:
    recurring = Surroundings(recurring="seen 4 times before in 7 days")
    holding = replace(SETTINGS, recurrence_hold=True)
    decision = decide(alert(), facts(), FRESH, holding, Advice(), recurring, approved=True)
    assert decision.restart
    assert decision.reason.startswith("approved restart: ")


def test_an_approval_never_restarts_a_dependent_whose_provider_is_down() -> None:
    decision = decide(
        alert(), facts(), FRESH, SETTINGS, Advice(), Surroundings("prod-db-01"), approved=True
    )
    assert not decision.restart and decision.status is IncidentStatus.OPEN
    assert "prod-db-01, which prod-web-01 depends on, is not healthy" in decision.reason
    assert decision.reason.endswith("(a restart was approved; an approval does not lift this)")


@given(inputs, surroundings, st.booleans())
def test_property_an_approval_with_surroundings_restarts_only_where_it_would_without_them(
    case: dict[str, object], around: Surroundings, hold: bool
) -> None:
    """Of what dependencies and memory add, an approval takes back only the recurrence
    hold: with a provider down it never restarts; otherwise it restarts exactly when an
    approval without them would."""
    alone, approved = decisions(case, around, hold, approved=True)
    if around.provider_down:
        assert not approved.restart  # type: ignore[attr-defined]
    else:
        assert approved.restart == alone.restart  # type: ignore[attr-defined]
