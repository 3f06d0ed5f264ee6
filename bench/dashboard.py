"""The dashboard in Debian's Chromium: first render of the VM list with 1,000 VMs, and how long a VM's
status change takes to reach the open page (watch -> server-sent event -> row replaced).

Figures, not assertions. The list is timed from navigation to the last of the 1,000 rows in the DOM;
the live update from the status patch's answer to the new status text in the row.
"""

from __future__ import annotations

import statistics
import time
import uuid

from kubernetes import client
from playwright.sync_api import sync_playwright

from bench.core import Bench, Row
from tests.support.dashboard import admin_user, chromium, log_in, running_dashboard
from tests.support.tenants import install_vm_roles
from tests.support.vms import install_vm_api, vm_body

VMS = 1000
VM = ("kubevirt.io", "v1")
# Functions, not expressions: Playwright evaluates an expression string with eval, which the
# dashboard's Content-Security-Policy forbids (as it should); a function is called without it.
ALL_ROWS = "(count) => document.querySelectorAll('tr[data-key]').length >= count"
SHOWS = """([id, status]) => {
    const row = document.getElementById(id);
    const cell = row && row.querySelector("[data-status]");
    return cell !== null && cell.textContent === status;
}"""


def dashboard_rows(bench: Bench) -> list[Row]:
    install_vm_api(bench.api, bench.plane.kubeconfig)
    install_vm_roles(bench.api)
    core = client.CoreV1Api(bench.api)
    custom = client.CustomObjectsApi(bench.api)
    namespace = f"bench-dash-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        for index in range(VMS):
            body = vm_body(f"vm-{index:04d}", {"default": None})
            custom.create_namespaced_custom_object(*VM, namespace, "virtualmachines", body)
        admin = admin_user(bench.api, namespace)
        with (
            running_dashboard(bench.plane.kubeconfig, bench.workdir) as dashboard,
            sync_playwright() as driver,
        ):
            browser = driver.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_context(ignore_https_errors=True).new_page()
            log_in(page, dashboard, admin)
            renders = []
            for _ in range(3):
                started = time.monotonic()
                page.goto(f"{dashboard.url}/vms")
                page.wait_for_function(ALL_ROWS, arg=VMS)
                renders.append(time.monotonic() - started)
            page.wait_for_selector("table#vms[data-live=true]")
            # The stream's first list renders every row once; time changes only after it has.
            page.wait_for_function(ALL_ROWS, arg=VMS)
            latencies = []
            for round_ in range(5):
                name = f"vm-{round_:04d}"
                status = f"Bench{round_}"
                started = time.monotonic()
                custom.patch_namespaced_custom_object_status(
                    *VM, namespace, "virtualmachines", name, {"status": {"printableStatus": status}}
                )
                page.wait_for_function(SHOWS, arg=[f"vm/{namespace}/{name}", status], polling=10)
                latencies.append(time.monotonic() - started)
            browser.close()
    finally:
        core.delete_namespace(namespace)
    first_render = statistics.median(renders)
    live = statistics.median(latencies)
    return [
        Row(
            f"dashboard: VM list first render, {VMS} VMs (median of 3)",
            round(first_render, 2),
            "s",
            "<= 3 s",
            ok=first_render <= 3,
            note="navigation to the last row in the DOM, as a cluster admin, in Debian's Chromium",
        ),
        Row(
            "dashboard: live update, status patch to the row (median of 5)",
            round(live, 2),
            "s",
            "<= 1 s",
            ok=live <= 1,
        ),
    ]
