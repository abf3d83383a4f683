"""The dependency graph, read from the labels Compose and operators put on containers."""

from __future__ import annotations

from healer.dependency_graph import (
    COMPOSE_DEPENDS_ON,
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    DEPENDS_ON_LABEL,
    DependencyGraph,
    compose_services,
)


def compose(project: str, service: str, depends_on: str = "") -> dict[str, str]:
    labels = {COMPOSE_PROJECT: project, COMPOSE_SERVICE: service}
    if depends_on:
        labels[COMPOSE_DEPENDS_ON] = depends_on
    return labels


def test_compose_depends_on_is_read_in_every_format_compose_has_written() -> None:
    assert compose_services("db:service_healthy:false,cache:service_started:true") == (
        "db",
        "cache",
    )
    assert compose_services("db:service_started") == ("db",)
    assert compose_services("db, ,cache") == ("db", "cache")
    assert compose_services("") == ()


def test_a_compose_service_depends_on_the_containers_of_its_services_in_the_same_project() -> None:
    graph = DependencyGraph.of(
        [
            ("shop-db-1", compose("shop", "db")),
            ("shop-app-1", compose("shop", "app", "db:service_healthy:false")),
            ("shop-app-2", compose("shop", "app", "db:service_healthy:false")),
            ("blog-db-1", compose("blog", "db")),
            ("blog-app-1", compose("blog", "app", "db:service_started:false")),
        ]
    )
    assert graph.dependents("shop-db-1") == ("shop-app-1", "shop-app-2")
    assert graph.ancestors("blog-app-1") == ("blog-db-1",)
    assert graph.dependents("blog-app-1") == ()


def test_dependents_come_in_restart_order_each_after_its_providers() -> None:
    graph = DependencyGraph.of(
        [
            ("db", {}),
            ("api", {DEPENDS_ON_LABEL: "db"}),
            ("a-worker", {DEPENDS_ON_LABEL: "api, db"}),
            ("cache", {DEPENDS_ON_LABEL: "db"}),
        ]
    )
    assert graph.dependents("db") == ("api", "cache", "a-worker")
    assert graph.ancestors("a-worker") == ("api", "db")


def test_names_outside_the_listing_and_cycles_do_not_break_the_graph() -> None:
    graph = DependencyGraph.of(
        [
            ("a", {DEPENDS_ON_LABEL: "b,unmanaged,a"}),
            ("b", {DEPENDS_ON_LABEL: "/a"}),
        ]
    )
    assert graph.direct_providers("a") == ("b",)
    assert graph.dependents("a") == ("b",)
    assert graph.ancestors("a") == ("b",)
