"""The dashboard's pure core: rows from VMs and VMIs, filters, which actions are offered, what each
sends, escaping, sessions and CSRF, and the live mirror."""

from __future__ import annotations

import re
from typing import Any

import pytest

from vmo_operator.dashboard import actions, health, live, pages, views
from vmo_operator.dashboard.actions import Permission
from vmo_operator.dashboard.sessions import CONTENT_SECURITY_POLICY, SessionStore, cookie_attributes
from vmo_operator.kube import kinds


def vm(name: str = "web", namespace: str = "team-a", run: str = "Halted", **spec: Any) -> dict[str, Any]:
    template = {
        "domain": {
            "devices": {
                "interfaces": [{"name": "vlan20", "bridge": {}, "macAddress": "02:00:00:00:00:01"}],
                "disks": [{"name": "root", "disk": {"bus": "virtio"}}],
            }
        },
        "networks": [{"name": "vlan20", "multus": {"networkName": "vms/vlan-20"}}],
        "volumes": [{"name": "root", "containerDisk": {"image": "quay.io/containerdisks/fedora:41"}}],
        **spec,
    }
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"runStrategy": run, "template": {"spec": template}},
    }


def vmi(
    name: str = "web", namespace: str = "team-a", *, migratable: bool = True, node: str = "n1"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"evictionStrategy": "LiveMigrate"},
        "status": {
            "phase": "Running",
            "nodeName": node,
            "interfaces": [
                {"name": "vlan20", "mac": "02:00:00:00:00:09", "ipAddresses": ["10.0.20.5", "fd00::5"]}
            ],
            "conditions": [
                {
                    "type": "LiveMigratable",
                    "status": "True" if migratable else "False",
                    "reason": "DisksNotLiveMigratable",
                }
            ],
        },
    }


def test_a_row_joins_the_vm_with_its_instance() -> None:
    [row] = views.vm_rows([vm(run="Always")], [vmi()])
    assert (row.namespace, row.name, row.status, row.node) == ("team-a", "web", "Running", "n1")
    assert row.ips == ("10.0.20.5", "fd00::5")
    assert row.macs == ("02:00:00:00:00:09",)  # the MAC in use wins over the one asked for
    assert row.networks == (views.Network("vlan20", "vms/vlan-20"),)
    assert row.migratable
    assert row.eviction_strategy == "LiveMigrate"


def test_a_halted_vm_shows_the_macs_it_asks_for_and_no_node() -> None:
    [row] = views.vm_rows([vm()], [])
    assert (row.status, row.node, row.ips, row.has_instance) == ("Stopped", "", (), False)
    assert row.macs == ("02:00:00:00:00:01",)
    assert (row.migratable, row.why_not_migratable) == (False, "not running")


def test_printable_status_and_the_deprecated_running_field_are_honoured() -> None:
    stopped = {
        "metadata": {"name": "a", "namespace": "n"},
        "spec": {"running": False},
        "status": {"printableStatus": "Stopped"},
    }
    assert views.run_strategy(stopped) == "Halted"
    assert views.vm_row(stopped, None).status == "Stopped"
    assert views.run_strategy({"spec": {"running": True}}) == "Always"


def test_rows_are_sorted_by_namespace_then_name() -> None:
    rows = views.vm_rows([vm("b", "z"), vm("a", "z"), vm("c", "a")], [])
    assert [r.key for r in rows] == ["a/c", "z/a", "z/b"]


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ({}, True),
        ({"namespace": "team-a"}, True),
        ({"namespace": "team-b"}, False),
        ({"status": "Running"}, True),
        ({"status": "Stopped"}, False),
        ({"q": "10.0.20"}, True),
        ({"q": "02:00:00:00:00:09"}, True),
        ({"q": "VLAN-20"}, True),  # case-insensitive, matches the network
        ({"q": "nothing-like-it"}, False),
    ],
)
def test_filters(query: dict[str, str], shown: bool) -> None:
    row = views.vm_row(vm(run="Always"), vmi())
    assert views.Filter.from_query(query).matches(row) is shown


def test_filter_values_are_bounded() -> None:
    current = views.Filter.from_query({"q": "x" * 10_000, "namespace": "n" * 500})
    assert len(current.text) == 100
    assert len(current.namespace) == 63


ALL = frozenset(actions.PERMISSIONS)


def names(found: tuple[actions.Action, ...]) -> list[str]:
    return [a.name for a in found]


def test_actions_follow_the_state_and_the_permissions() -> None:
    halted = views.vm_row(vm(), None)
    running = views.vm_row(vm(run="Always"), vmi())
    stuck = views.vm_row(vm(run="Always"), vmi(migratable=False))
    assert names(actions.offered(halted, ALL)) == ["start", "delete"]
    assert names(actions.offered(running, ALL)) == ["stop", "restart", "migrate", "delete"]
    assert names(actions.offered(stuck, ALL)) == ["stop", "restart", "delete"]
    assert actions.offered(running, frozenset()) == ()
    only_patch = frozenset({Permission("patch", "virtualmachines")})
    assert names(actions.offered(running, only_patch)) == ["stop"]


def test_what_each_action_sends() -> None:
    start = actions.operation("start", "ns", "web")
    assert (start.method, start.kind, start.body) == (
        "merge_patch",
        kinds.VIRTUAL_MACHINE,
        {"spec": {"runStrategy": "Always"}},
    )
    assert actions.operation("stop", "ns", "web").body == {"spec": {"runStrategy": "Halted"}}
    restart = actions.operation("restart", "ns", "web")
    assert (restart.method, restart.kind, restart.name) == ("delete", kinds.VIRTUAL_MACHINE_INSTANCE, "web")
    migrate = actions.operation("migrate", "ns", "web")
    assert migrate.kind == kinds.VIRTUAL_MACHINE_INSTANCE_MIGRATION
    assert migrate.body is not None
    assert migrate.body["spec"] == {"vmiName": "web"}
    assert migrate.body["metadata"] == {"generateName": "web-migration-", "namespace": "ns"}
    with pytest.raises(KeyError):
        actions.operation("format-disk", "ns", "web")


def test_access_reviews_and_their_answers() -> None:
    review = actions.access_review(Permission("patch", "virtualmachines"), "ns")
    assert review["kind"] == "SelfSubjectAccessReview"
    assert review["spec"]["resourceAttributes"] == {
        "verb": "patch",
        "resource": "virtualmachines",
        "group": "kubevirt.io",
        "namespace": "ns",
    }
    assert "namespace" not in actions.access_review(actions.LIST_VMS, "")["spec"]["resourceAttributes"]
    assert actions.allowed({"status": {"allowed": True}})
    assert not actions.allowed({"status": {"allowed": True, "denied": True}})
    assert not actions.allowed({"status": {}})
    assert not actions.allowed(None)


HOSTILE = '<script>alert("x")</script>&"\''


def test_every_value_from_the_api_is_escaped() -> None:
    row = views.vm_row(
        {"metadata": {"name": HOSTILE, "namespace": HOSTILE}, "spec": {"runStrategy": HOSTILE}}, None
    )
    html = pages.vm_row_html(row, actions.offered(row, ALL), csrf=HOSTILE)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    page = pages.vm_list_page(
        [row], views.Filter(text=HOSTILE), [HOSTILE], lambda r: (), user=HOSTILE, csrf=HOSTILE
    )
    assert "<script>alert" not in page
    profile = {
        "metadata": {"name": HOSTILE},
        "status": {"conditions": [{"type": HOSTILE, "message": HOSTILE}]},
    }
    assert "<script>alert" not in health.health_page([profile], profile, user="u", csrf="c")


def test_pages_carry_no_inline_script_and_post_forms_carry_the_csrf_token() -> None:
    row = views.vm_row(vm(run="Always"), vmi())
    page = pages.vm_list_page(
        [row], views.Filter(), ["team-a"], lambda r: actions.offered(r, ALL), user="u", csrf="TOKEN"
    )
    assert page.count("<script") == 1
    assert '<script src="/static/app.js" defer>' in page
    assert re.search(r"\son[a-z]+=", page) is None  # no onclick= or other inline handlers
    forms = page.split("<form")[1:]
    posts = [f for f in forms if 'method="post"' in f]
    assert posts
    assert all('name="csrf" value="TOKEN"' in f for f in posts)
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_sessions_expire_when_idle_and_at_their_lifetime() -> None:
    now = [1000.0]
    store = SessionStore(lambda: now[0], idle=60, lifetime=300)
    session = store.create("tok", "alice", (), ())
    assert store.get(session.id) == session
    now[0] += 59
    assert store.get(session.id) is not None  # a request restarts the idle timer
    now[0] += 59
    assert store.get(session.id) is not None
    now[0] += 61
    assert store.get(session.id) is None
    other = store.create("tok", "bob", (), ())
    for _ in range(10):
        now[0] += 50
        store.get(other.id)
    assert store.get(other.id) is None  # 500 s > lifetime, however busy
    assert store.get("not-a-session") is None
    assert store.get(None) is None


def test_session_ids_and_csrf_tokens_are_random_and_the_token_is_never_printed() -> None:
    store = SessionStore(lambda: 0.0)
    a, b = store.create("secret-token", "a", (), ()), store.create("secret-token", "b", (), ())
    assert a.id != b.id
    assert a.csrf != b.csrf
    assert len(a.id) >= 40
    assert "secret-token" not in repr(a)
    assert a.csrf_ok(a.csrf)
    assert not a.csrf_ok(b.csrf)
    assert not a.csrf_ok(None)
    assert not a.csrf_ok("")


def test_the_store_is_bounded() -> None:
    now = [0.0]
    store = SessionStore(lambda: now[0], capacity=3)
    first = store.create("t", "u0", (), ())
    for i in range(1, 5):
        now[0] += 1
        store.create("t", f"u{i}", (), ())
    assert len(store) == 3
    assert store.get(first.id) is None


def test_the_cookie_is_httponly_secure_and_strict() -> None:
    assert cookie_attributes() == {"httponly": True, "secure": True, "samesite": "Strict", "path": "/"}


def test_the_live_mirror_says_which_rows_changed() -> None:
    mirror = live.Mirror()
    assert mirror.apply(("sync", "VirtualMachine", "team-a", [vm("a"), vm("b")])) == {"team-a/a", "team-a/b"}
    assert mirror.apply(("sync", "VirtualMachineInstance", "team-a", [vmi("a")])) == {"team-a/a"}
    row = mirror.row("team-a/a")
    assert row is not None
    assert row.node == "n1"
    assert mirror.apply(("event", "VirtualMachineInstance", "DELETED", vmi("a"))) == {"team-a/a"}
    row = mirror.row("team-a/a")
    assert row is not None
    assert not row.has_instance
    # A re-list drops what vanished meanwhile, in its scope only.
    mirror.apply(("sync", "VirtualMachine", "team-b", [vm("c", "team-b")]))
    assert mirror.apply(("sync", "VirtualMachine", "team-a", [vm("a")])) == {"team-a/a", "team-a/b"}
    assert mirror.row("team-a/b") is None
    assert mirror.row("team-b/c") is not None


def migration(
    name: str, vmi_name: str, created: str, phase: str = "", namespace: str = "team-a"
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": {"vmiName": vmi_name},
    }
    if phase:
        found["status"] = {"phase": phase}
    return found


def test_a_row_follows_its_vms_newest_migration_live() -> None:
    mirror = live.Mirror()
    mirror.apply(("sync", "VirtualMachine", "", [vm("a"), vm("b")]))
    mirror.apply(("sync", "VirtualMachineInstance", "", [vmi("a")]))
    old = migration("a-migration-1", "a", "2026-01-01T00:00:00Z", "Failed")
    # A migration changes the row of the VM whose instance it moves, not a row of its own name.
    assert mirror.apply(("sync", "VirtualMachineInstanceMigration", "", [old])) == {"team-a/a"}
    assert mirror.row("team-a/a").migration == "Failed"  # type: ignore[union-attr]
    assert mirror.row("team-a/b").migration == ""  # type: ignore[union-attr]
    new = migration("a-migration-2", "a", "2026-01-02T00:00:00Z")
    assert mirror.apply(("event", "VirtualMachineInstanceMigration", "ADDED", new)) == {"team-a/a"}
    assert mirror.row("team-a/a").migration == "Pending"  # type: ignore[union-attr]  # newest; not picked up yet
    new["status"] = {"phase": "Running"}
    mirror.apply(("event", "VirtualMachineInstanceMigration", "MODIFIED", new))
    row = mirror.row("team-a/a")
    assert row is not None
    assert row.migration == "Running"
    assert 'data-migration="Running"' in pages.vm_row_html(row, (), "csrf")
    assert mirror.apply(("event", "VirtualMachineInstanceMigration", "DELETED", new)) == {"team-a/a"}
    assert mirror.row("team-a/a").migration == "Failed"  # type: ignore[union-attr]
    # The initial page joins them the same way.
    rows = views.vm_rows([vm("a")], [vmi("a")], [old, migration("x", "other", "2026-01-03T00:00:00Z")])
    assert [r.migration for r in rows] == ["Failed"]


def test_an_actions_page_follows_exactly_its_vm() -> None:
    only = views.Filter.from_query({"namespace": "team-a", "vm": "a"})
    rows = views.vm_rows([vm("a"), vm("ab"), vm("a", "team-b")], [])
    assert [r.key for r in rows if only.matches(r)] == ["team-a/a"]
    page = pages.action_done_page("a set to run.", rows[0], (), user="u", csrf="c", back="/vms/team-a/a")
    assert 'data-events="/vms/events?namespace=team-a&amp;vm=a"' in page
    assert 'data-key="team-a/a"' in page
    assert 'role="status"' in page


def test_server_sent_events_are_framed_line_by_line() -> None:
    assert live.sse("problem", "a\nb") == b"event: problem\ndata: a\ndata: b\n\n"


def test_drain_readiness_and_components_show_on_the_health_page() -> None:
    profile = {
        "metadata": {"name": "vmo"},
        "status": {
            "components": {"snapshot": {"enabled": True, "skipped": True, "version": "v8.2.0"}},
            "featureGates": {"enabled": ["Snapshot"], "implied": ["LiveMigration"]},
            "drainReadiness": {
                "clusterEvictionStrategy": "LiveMigrate",
                "nodes": {
                    "n1": {
                        "liveMigrate": 1,
                        "blockedBy": 1,
                        "shutDown": 0,
                        "blocking": {"names": ["ns/db: DisksNotLiveMigratable"]},
                    }
                },
            },
        },
    }
    page = health.health_page([profile], profile, user="u", csrf="c")
    assert "skipped" in page
    assert "v8.2.0" in page
    assert "LiveMigration" in page
    assert "ns/db: DisksNotLiveMigratable" in page
    assert "No VMOProfile exists" in health.health_page([], None, user="u", csrf="c")


def test_mac_collisions_are_listed_one_by_one_on_the_health_page() -> None:
    colliding = {
        "mac": "02:00:00:00:00:07",
        "carriers": ["VirtualMachine team-a/web", "VirtualMachine team-b/<db>"],
        "namespaces": ["team-a", "team-b"],
    }
    status = {"macPool": {"webhookReady": True, "collisions": 3, "collidingMACs": [colliding]}}
    profile = {"metadata": {"name": "vmo"}, "status": status}
    page = health.health_page([profile], profile, user="u", csrf="c")
    row = re.search(r"<tr><td>02:00:00:00:00:07</td><td>(.*?)</td><td>(.*?)</td></tr>", page)
    assert row is not None
    assert row.groups() == ("VirtualMachine team-a/web, VirtualMachine team-b/&lt;db&gt;", "team-a, team-b")
    assert "2 more colliding MACs" in page


def test_the_user_client_carries_the_users_token_and_none_of_the_kubeconfigs_credentials(
    tmp_path: Any,
) -> None:
    from vmo_operator.kube.connect import connect_as, server_only

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443', insecure-skip-tls-verify: true}}]\n"
        "users: [{name: u, user: {token: the-dashboards-own-secret, username: admin, password: pw}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    server = server_only(kubeconfig)
    assert server.host == "https://127.0.0.1:6443"
    assert "the-dashboards-own-secret" not in repr(server)
    api = connect_as(server, "alices-token")
    try:
        assert api.credentials.authorization() == "Bearer alices-token"
        assert api.credentials.certificate() is None
        assert "the-dashboards-own-secret" not in repr(vars(api.credentials.identity))
    finally:
        api.close()


def test_the_dashboard_component_is_off_by_default_and_its_account_holds_nothing() -> None:
    from vmo_operator.api import models
    from vmo_operator.components import registry
    from vmo_operator.components.base import ClusterFacts
    from vmo_operator.components.dashboard import DASHBOARD, NAME, NAMESPACE

    assert DASHBOARD.render(models.parse_spec({}), ClusterFacts()) == []
    spec = models.parse_spec(
        {"dashboard": {"enabled": True, "placement": {"tolerations": [{"operator": "Exists"}]}}}
    )
    everything = registry.render_all(spec, ClusterFacts(), "p")
    subject = {"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}
    bound = [o for o in everything if subject in (o.get("subjects") or [])]
    assert bound == []  # no Role or ClusterRole is bound to the dashboard's ServiceAccount
    account, deployment, service = DASHBOARD.render(spec, ClusterFacts())
    assert account["automountServiceAccountToken"] is False
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert "--vm-namespace=virtual-machines" in pod["containers"][0]["args"]
    assert service["spec"]["sessionAffinity"] == "ClientIP"


def test_dashboard_placement_refuses_a_bad_label_key_naming_the_field() -> None:
    from pydantic import ValidationError

    from vmo_operator.api import models

    with pytest.raises(ValidationError, match="nodeSelector"):
        models.parse_spec({"dashboard": {"placement": {"nodeSelector": {"not a key!": "x"}}}})
    with pytest.raises(ValidationError, match="serviceType"):
        models.parse_spec({"dashboard": {"serviceType": "Ingress"}})


GOOD_FORM = {
    "name": "web",
    "namespace": "team-a",
    "cpus": "2",
    "memory": "2Gi",
    "source": "containerDisk",
    "image": "quay.io/containerdisks/fedora:41",
    "podNetwork": "on",
}


def test_the_form_makes_one_halted_vm_without_macs() -> None:
    from vmo_operator.dashboard import newvm

    form = newvm.parse(GOOD_FORM, ["vlan-20"], ["vlan-20", "vlan-30"])
    vm = newvm.manifest(form)
    assert vm["metadata"] == {"name": "web", "namespace": "team-a"}
    template = vm["spec"]["template"]["spec"]
    assert vm["spec"]["runStrategy"] == "Halted"
    assert template["domain"]["cpu"] == {"cores": 2}
    assert template["networks"] == [
        {"name": "default", "pod": {}},
        {"name": "vlan-20", "multus": {"networkName": "vlan-20"}},
    ]
    assert all("macAddress" not in i for i in template["domain"]["devices"]["interfaces"])
    assert template["volumes"] == [
        {"name": "boot", "containerDisk": {"image": "quay.io/containerdisks/fedora:41"}}
    ]
    # What the preview carries on as hidden fields parses back to the same form: the same manifest.
    pairs = form.hidden_fields()
    again = newvm.parse(dict(pairs), [v for k, v in pairs if k == "network"], ["vlan-20"])
    assert newvm.manifest(again) == vm


def test_a_pvc_clone_becomes_a_data_volume_template() -> None:
    from vmo_operator.dashboard import newvm

    fields = {
        **GOOD_FORM,
        "source": "pvcClone",
        "pvcNamespace": "images",
        "pvcName": "fedora",
        "diskSize": "20Gi",
    }
    vm = newvm.manifest(newvm.parse(fields, [], []))
    [template] = vm["spec"]["dataVolumeTemplates"]
    assert template["spec"]["source"] == {"pvc": {"namespace": "images", "name": "fedora"}}
    assert vm["spec"]["template"]["spec"]["volumes"] == [{"name": "boot", "dataVolume": {"name": "web-boot"}}]


@pytest.mark.parametrize(
    ("change", "networks", "field"),
    [
        ({"name": "Web_1"}, [], "name"),
        ({"cpus": "0"}, [], "cpus"),
        ({"cpus": "two"}, [], "cpus"),
        ({"memory": "2GB"}, [], "memory"),
        ({"source": "iso"}, [], "source"),
        ({"image": "has space"}, [], "image"),
        ({"source": "pvcClone"}, [], "pvcName"),
        ({}, ["not-offered"], "network"),
        ({"podNetwork": ""}, [], "network"),
    ],
)
def test_bad_fields_are_named(change: dict[str, str], networks: list[str], field: str) -> None:
    from vmo_operator.dashboard import newvm

    with pytest.raises(newvm.FormError) as caught:
        newvm.parse({**GOOD_FORM, **change}, networks, ["vlan-20"])
    assert field in caught.value.problems


def test_profile_networks_by_namespace() -> None:
    from vmo_operator.dashboard import newvm

    profile: dict[str, Any] = {
        "spec": {"multus": {"networks": [{"name": "a", "namespaces": ["x"]}, {"name": "b"}]}}
    }
    assert newvm.profile_networks(profile) == ["a", "b"]
    assert newvm.profile_networks(profile, "x") == ["a"]
    assert newvm.profile_networks(profile, "default") == ["b"]
    assert newvm.profile_networks(None) == []
    profile["spec"]["multus"]["enabled"] = False  # not installed: nothing to attach to
    assert newvm.profile_networks(profile, "x") == []


def test_drift_events_are_the_profiles_overwritten_ones_newest_first() -> None:
    def event(name: str, reason: str, when: str, note: str) -> dict[str, Any]:
        return {
            "reason": reason,
            "regarding": {"kind": "VMOProfile", "name": name},
            "eventTime": when,
            "note": note,
        }

    events = [
        event("vmo", "Overwritten", "2026-01-01T00:00:01Z", "old"),
        event("vmo", "Overwritten", "2026-01-01T00:00:09Z", "new"),
        event("other", "Overwritten", "2026-01-01T00:00:05Z", "not ours"),
        event("vmo", "ConditionChanged", "2026-01-01T00:00:07Z", "not drift"),
    ]
    assert [note for _, _, note in health.drift_events(events, "vmo")] == ["new", "old"]
    profile = {"metadata": {"name": "vmo"}, "status": {}}
    assert "You may not read the Events" in health.health_page(
        [profile], profile, user="u", csrf="c", drift=None
    )
    assert "No drift" in health.health_page([profile], profile, user="u", csrf="c", drift=[])


def _served(requests: Any) -> Any:
    """Run `requests(client)` against the dashboard app in-process (no API server is contacted)."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from vmo_operator.dashboard import context, server
    from vmo_operator.kube.connect import server_at

    async def run() -> Any:
        app = server.app(context.Settings(server_at("https://127.0.0.1:1", "/nonexistent-ca.crt")))
        async with TestClient(TestServer(app)) as test_client:
            return await requests(test_client)

    return asyncio.run(run())


def test_every_answer_carries_the_security_headers_and_pages_need_a_session() -> None:
    async def requests(c: Any) -> Any:
        login = await c.get("/login")
        vms = await c.get("/vms", allow_redirects=False)
        events = await c.get("/vms/events")
        return login.headers, vms.status, vms.headers.get("Location"), vms.headers, events.status

    login_headers, status, location, vms_headers, events_status = _served(requests)
    for headers in (login_headers, vms_headers):
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
    assert (status, location) == (303, "/login")
    assert events_status == 401


def test_posts_without_a_session_token_or_from_another_origin_are_refused() -> None:
    async def requests(c: Any) -> Any:
        no_session = await c.post("/vms/ns/vm/start", data={"csrf": "x"})
        cross_site = await c.post("/login", data={"token": "t"}, headers={"Origin": "https://evil.example"})
        empty = await c.post("/login", data={"token": "  "})
        spaced = await c.post("/login", data={"token": "two words"})
        return no_session.status, cross_site.status, empty.status, spaced.status

    assert _served(requests) == (403, 403, 400, 400)


def test_node_agent_findings_are_listed_per_node_and_bridge() -> None:
    reports = [
        {
            "metadata": {"name": "n2"},
            "status": {"bridges": [{"name": "br0", "exists": False, "message": "missing"}]},
        },
        {
            "metadata": {"name": "n1"},
            "status": {
                "bridges": [
                    {
                        "name": "br0",
                        "exists": True,
                        "vlanFiltering": True,
                        "uplinks": ["eth1"],
                        "filteredVlans": ["30"],
                    }
                ]
            },
        },
    ]
    assert health.bridge_rows(reports) == [
        ("n1", "br0", "yes", "on", "eth1", "30", ""),
        ("n2", "br0", "no", "off", "", "", "missing"),
    ]
