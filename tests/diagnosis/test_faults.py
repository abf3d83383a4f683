"""Real faults in real containers, judged by the rules alone from the healer's own evidence.

A quick subset of `testbed.corpus_faults` (one of each kind: memory, pids,
descriptors, disk, read-only root, permissions, a command Docker cannot run,
arguments, environment, DNS, a refusing dependency, a taken port, a health
check, a segfault, an operator's stop) runs here in parallel; the full set is
`python -m bench.diagnosis_faults`.
"""

from __future__ import annotations

import time
from collections import Counter

import docker
import pytest

from healer.diagnosis.classifier import classify
from healer.docker_port import DockerAdapter
from healer.evidence import gather
from healer.model import Category
from testbed.containers import ContainerFactory, wait_for_state
from testbed.corpus_faults import FAULTS, NETWORK_ALIAS_DB
from testbed.corpus_injection import Outcome, fault_bed, run_faults

SUBSET = [f for f in FAULTS if f.subset]


@pytest.fixture(scope="module")
def subset_outcomes(docker_api: docker.DockerClient) -> dict[str, Outcome]:
    return {o.fault.name: o for o in run_faults(docker_api, SUBSET)}


def test_the_fault_catalogue_holds_at_least_25_distinct_real_faults_in_every_category() -> None:
    names = [f.name for f in FAULTS]
    assert len(set(names)) == len(names) >= 25
    assert set(Counter(f.category for f in FAULTS)) == set(Category)
    assert len(SUBSET) >= 12


@pytest.mark.parametrize("name", [f.name for f in SUBSET])
def test_an_injected_fault_is_classified_into_its_expected_category_by_the_rules_alone(
    subset_outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = subset_outcomes[name]

    diagnosis = classify(outcome.evidence)

    assert (diagnosis.category, diagnosis.restart_safe) == (
        outcome.fault.category,
        outcome.fault.restart_safe,
    ), f"{name}: {diagnosis.signature}: {diagnosis.root_cause}"


def test_the_evidence_of_a_fault_is_what_the_program_printed_not_an_imitation(
    subset_outcomes: dict[str, Outcome],
) -> None:
    disk = subset_outcomes["disk-full-dd"].evidence
    threads = subset_outcomes["pids-limit-threads"].evidence

    assert "dd: error writing '/data/fill': No space left on device" in disk.log_lines
    assert threads.log_lines[-1] == "RuntimeError: can't start new thread"
    assert classify(disk).evidence == ("dd: error writing '/data/fill': No space left on device",)


def test_the_evidence_counts_the_lines_of_the_last_run_and_an_earlier_failure_does_not_decide(
    docker_api: docker.DockerClient,
) -> None:
    # First run: the entrypoint stops on a missing variable. The operator sets nothing, but the
    # script only checks on its first start (a real pattern: a one-time migration step); the
    # second run fails on a database that refuses connections. Docker restarts it once.
    script = (
        'if [ ! -f /first-start-done ]; then touch /first-start-done; : "${ORDERS_DB_URL:?must '
        f'be set}}"; fi; nc {NETWORK_ALIAS_DB} 5432'
    )
    with fault_bed(docker_api) as bed:
        container = bed.factory.run(
            ["sh", "-c", script],
            hint="two-runs",
            network=bed.network(),
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 1},
        )
        wait_for_state(
            container,
            lambda a: a["RestartCount"] == 1 and a["State"]["Status"] == "exited",
            timeout=30,
        )
        evidence = gather(
            DockerAdapter(lambda: docker_api.api),
            name=container.name,
            container_id=container.id,
            now=time.time(),
            log_lines=200,
        )

    assert evidence.log_lines[0] == "sh: ORDERS_DB_URL: must be set"
    assert evidence.run_lines == 1
    diagnosis = classify(evidence)
    assert (diagnosis.category, diagnosis.restart_safe) == (Category.DEPENDENCY, True)
    assert diagnosis.signature == "connection-refused"


def test_a_container_that_never_started_has_no_run_to_count(
    container_factory: ContainerFactory,
) -> None:
    container = container_factory.run(["/app/server"], hint="never", start=False)
    with pytest.raises(docker.errors.APIError):
        container.start()

    evidence = gather(
        DockerAdapter(lambda: container_factory.client.api),
        name=container.name,
        container_id=container.id,
        now=time.time(),
        log_lines=200,
    )

    assert evidence.run_lines is None
    assert evidence.facts is not None and evidence.facts.error
    assert classify(evidence).signature == "exec-not-found"
